// The API address an engine publishes for other machines' nudges: where it listens, or
// CROSSTALK_API_URL when they reach it elsewhere (NAT, a TLS proxy).
import assert from "node:assert/strict";
import { join } from "node:path";
import { advertisedApi } from "../../engine/api_setup.ts";
import { listRegistry } from "../../engine/registry.ts";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { EngineProcess, makeTransport } from "./_harness.ts";

Deno.test("advertisedApi: CROSSTALK_API_URL when set (without a trailing slash), else the listening address, which a wildcard bind makes unreachable", () => {
  const listening = "http://127.0.0.1:7000";
  assert.deepEqual(advertisedApi({}, listening), { url: listening, unreachable: false });
  assert.deepEqual(advertisedApi({ CROSSTALK_API_URL: "https://ct.example.net/" }, listening), {
    url: "https://ct.example.net",
    unreachable: false,
  });
  assert.equal(advertisedApi({}, "http://0.0.0.0:7000").unreachable, true);
  assert.equal(advertisedApi({}, "http://[::]:7000").unreachable, true);
  for (const bad of ["ct.example.net", "ftp://ct.example.net", "https://u:p@ct.example.net"]) {
    assert.throws(
      () => advertisedApi({ CROSSTALK_API_URL: bad }, listening),
      /CROSSTALK_API_URL must be a plain http:\/\/ or https:\/\/ address/,
    );
  }
});

Deno.test("an engine publishes CROSSTALK_API_URL in its dispatcher entry; a malformed one stops the start and changes nothing", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, "");
  const bad = await runCrosstalk(
    ["serve", "--path", root, "--state", join(dir.path, "state")],
    { home: dir.path, env: { CROSSTALK_API_URL: "not a url" } },
  );
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /CROSSTALK_API_URL must be a plain http/);
  assert.deepEqual(await listRegistry(root), [], "no entry was written");

  await using _engine = await EngineProcess.start(root, {
    alias: "natted",
    state: join(dir.path, "state"),
    env: { CROSSTALK_API_URL: "https://natted.example.net:8443/" },
  });
  const [entry] = await listRegistry(root);
  assert.equal(entry?.alias, "natted");
  assert.equal(entry?.api, "https://natted.example.net:8443");
});

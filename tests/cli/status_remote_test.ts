// `crosstalk status --server URL`: another machine's engine, through its API.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { AGENTS, EngineProcess, makeTransport } from "../engine/_harness.ts";

Deno.test("status --server reports that machine's engine (alias, claimed models), not this machine's state dir", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "far",
    state: join(dir.path, "state"),
    env: { CROSSTALK_INIT_USERNAME: "ann", CROSSTALK_INIT_PASSPHRASE: "ann's passphrase" },
  });
  const server = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  const home = join(dir.path, "home");
  await Deno.mkdir(home);

  const anonymous = await runCrosstalk(["--server", server, "status"], { home });
  assert.equal(anonymous.code, 77, "no saved login for that server");
  assert.match(anonymous.stderr, /crosstalk auth login/);

  const login = await runCrosstalk(["--server", server, "auth", "login", "--username", "ann"], {
    home,
    stdin: "ann's passphrase\n",
  });
  assert.equal(login.code, 0, login.stderr);
  const status = await runCrosstalk(["--server", server, "status"], { home });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^server: +${server}$`, "m"));
  assert.match(status.stdout, /^engine: +running \(alias far, pid \d+/m);
  assert.match(status.stdout, /^claimed: +test\/reply$/m);
  assert.doesNotMatch(status.stdout, /state dir/);
  const json = JSON.parse(
    (await runCrosstalk(["--server", server, "status", "--json"], { home })).stdout,
  );
  assert.equal(json.status.alias, "far");
});

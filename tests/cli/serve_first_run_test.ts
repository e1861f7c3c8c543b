// An engine's first run: the admin made through the one-time /setup URL, and the local CLI.
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, tempDir } from "../_helpers.ts";
import { expectCode, initTransport, RunningCli } from "./_cli.ts";

Deno.test("serve leaves the local CLI its credential as soon as /setup creates the admin, and the CLI points to /setup until then", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus");
  await using serve = new RunningCli(["serve", "--path", root, "--port", `${freePort()}`], home);
  const line = await serve.waitForLine(/^First run: create the admin at /);
  const [, base, token, setupFile] =
    /at (http:\/\/[^/]+)\/setup\?token=([0-9a-f]+) \(also in (.+)\)$/.exec(line)!;

  // Before that, the CLI says what is missing instead of asking for an engine that runs.
  const early = await expectCode(77, ["whoami", "--path", root], { home });
  assert.ok(
    early.stderr.includes(
      `The engine at ${base} has no admin yet: create one at ${base}/setup?token=${token}`,
    ),
    early.stderr,
  );
  // A live session (which would start an engine if none ran) stops at once with the same.
  const began = Date.now();
  const session = await expectCode(77, ["mcp", "--agent", "claude", "--path", root], {
    home,
    env: { CROSSTALK_USER_MODE: "1" },
  });
  assert.match(session.stderr, /has no admin yet: create one at .*\/setup\?token=/);
  assert.ok(Date.now() - began < 20_000, "not after the 30 s an engine gets to start");

  const created = await fetch(`${base}/setup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, username: "steve", passphrase: "correct horse battery" }),
  });
  assert.equal(created.status, 201, await created.text());

  // No restart: the CLI on this machine speaks as the admin at once.
  const whoami = await expectCode(0, ["whoami", "--path", root], { home });
  assert.match(whoami.stdout, new RegExp(`^steve \\(admin\\) at ${base}`));
  const credential = join(setupFile!, "..", "cli-credential.json");
  assert.equal((await Deno.stat(credential)).mode! & 0o777, 0o600);
  await assert.rejects(
    Deno.stat(setupFile!),
    Deno.errors.NotFound,
    "the used token's file is gone",
  );
});

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

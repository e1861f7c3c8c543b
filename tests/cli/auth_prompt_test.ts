// The interactive prompts of `crosstalk auth login` on a real terminal (a pseudo-terminal made by
// util-linux `script`): the username is echoed as typed, the passphrase is not, and the login
// works.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { Terminal } from "./_terminal.ts";
import { EngineProcess, makeTransport } from "../engine/_harness.ts";

Deno.test("auth login on a terminal echoes the username but not the passphrase, and logs in", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "bus");
  await makeTransport(root, "");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(home, "state"),
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  const server = (await engine.waitFor((r) => r.event === "api.listening")).url as string;

  await using terminal = new Terminal(home, ["--server", server, "auth", "login"]);
  await terminal.shows("Username: ");
  await terminal.type("boss\r");
  await terminal.shows("Passphrase: ");
  await terminal.type("the boss passphrase\r");
  assert.equal(await terminal.exit(), 0, terminal.screen);

  assert.match(terminal.screen, /Username: boss/, "the username is echoed");
  assert.doesNotMatch(terminal.screen, /boss passphrase/, "the passphrase never shows");
  const saved = JSON.parse(
    await Deno.readTextFile(join(home, ".config", "crosstalk", "credentials.json")),
  );
  assert.equal(
    Object.values(saved.profiles as Record<string, { server: string }>)[0]!.server,
    server,
  );
});

Deno.test("auth login keeps a login saved by another while it waited for the passphrase", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "bus");
  await makeTransport(root, "");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(home, "state"),
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  const server = (await engine.waitFor((r) => r.event === "api.listening")).url as string;

  const args = ["--server", server, "--profile", "slow", "auth", "login", "--username", "boss"];
  await using terminal = new Terminal(home, args);
  await terminal.shows("Passphrase: ");
  // Meanwhile, another terminal logs in as another profile.
  const other = await runCrosstalk(
    ["--server", server, "--profile", "quick", "auth", "login", "--username", "boss"],
    { home, stdin: "the boss passphrase\n" },
  );
  assert.equal(other.code, 0, other.stderr);
  await terminal.type("the boss passphrase\r");
  assert.equal(await terminal.exit(), 0, terminal.screen);

  const saved = JSON.parse(
    await Deno.readTextFile(join(home, ".config", "crosstalk", "credentials.json")),
  );
  assert.deepEqual(Object.keys(saved.profiles).sort(), ["quick", "slow"]);
  assert.equal(saved.active, "slow");
});

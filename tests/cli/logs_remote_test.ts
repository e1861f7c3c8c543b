// `crosstalk logs --server URL [-f]`: another machine's engine log, through its API.
import assert from "node:assert/strict";
import { join } from "node:path";
import { cliEnv, MAIN, runCrosstalk, tempDir } from "../_helpers.ts";
import { AGENTS, EngineProcess, makeTransport, openBus } from "../engine/_harness.ts";

Deno.test("logs --server prints the engine's last records and, with -f, follows new ones as they are written", async () => {
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
  const login = await runCrosstalk(["--server", server, "auth", "login", "--username", "ann"], {
    home,
    stdin: "ann's passphrase\n",
  });
  assert.equal(login.code, 0, login.stderr);

  const tail = await runCrosstalk(["--server", server, "logs", "-n", "3", "--json"], { home });
  assert.equal(tail.code, 0, tail.stderr);
  const records = tail.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(records.length, 3);
  assert.ok(records.every((r) => typeof r.event === "string" && typeof r.ts === "string"));

  const follow = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "--server", server, "logs", "-f", "-n", "1", "--json"],
    cwd: home,
    clearEnv: true,
    env: cliEnv({ home }),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = follow.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const until = async (pattern: RegExp) => {
    while (!pattern.test(seen)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`logs -f ended: ${seen}`);
      seen += value;
    }
  };
  // The stream's first record is its own opening: from then on nothing is missed.
  await until(/"event":"api\.log_followed"/);
  await using bus = await openBus(root);
  const sent = await bus.send({ to: ["reply"], body: "followed" });
  await until(new RegExp(`"event":"run\.replied".*${sent.id.replaceAll(".", "\\.")}`));
  follow.kill("SIGINT");
  const status = await follow.status;
  await lines.cancel().catch(() => {});
  await follow.stderr.cancel();
  assert.equal(status.code, 0, "Ctrl-C ends it cleanly");
});

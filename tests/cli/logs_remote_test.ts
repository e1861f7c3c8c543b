// `crosstalk logs --server URL [-f]`, `status --server URL` and `settings --server URL`: another machine's
// engine, through its API.
import assert from "node:assert/strict";
import { join } from "node:path";
import { cliEnv, MAIN, runCrosstalk, tempDir } from "../_helpers.ts";
import { AGENTS, EngineProcess, makeTransport, openBus } from "../engine/_harness.ts";

/**
 * The engine "far" on its own transport (admin ann, the model reply) and a home whose CLI has
 * not logged in to it yet.
 */
async function farEngine(dir: string) {
  const root = join(dir, "bus");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  const engine = await EngineProcess.start(root, {
    alias: "far",
    state: join(dir, "state"),
    env: { CROSSTALK_INIT_USERNAME: "ann", CROSSTALK_INIT_PASSPHRASE: "ann's passphrase" },
  });
  const server = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  const home = join(dir, "home");
  await Deno.mkdir(home);
  const login = () =>
    runCrosstalk(["--server", server, "auth", "login", "--username", "ann"], {
      home,
      stdin: "ann's passphrase\n",
    });
  return { root, engine, server, home, login };
}

Deno.test("logs --server prints the engine's last records and, with -f, follows new ones as they are written", async () => {
  await using dir = await tempDir();
  const { root, engine, server, home, login } = await farEngine(dir.path);
  await using _engine = engine;
  const loggedIn = await login();
  assert.equal(loggedIn.code, 0, loggedIn.stderr);

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

Deno.test("status and agent list with --server report that machine's engine (alias, claimed models), not this machine's state dir", async () => {
  await using dir = await tempDir();
  const { engine, server, home, login } = await farEngine(dir.path);
  await using _engine = engine;

  const anonymous = await runCrosstalk(["--server", server, "status"], { home });
  assert.equal(anonymous.code, 77, "no saved login for that server");
  assert.match(anonymous.stderr, /crosstalk auth login/);

  const loggedIn = await login();
  assert.equal(loggedIn.code, 0, loggedIn.stderr);
  const status = await runCrosstalk(["--server", server, "status"], { home });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^server: +${server}$`, "m"));
  assert.match(status.stdout, /^engine: +running \(alias far, pid \d+/m);
  assert.match(status.stdout, /^claimed: +test\/reply$/m);
  assert.doesNotMatch(status.stdout, /state dir/);
  const agents = await runCrosstalk(["--server", server, "agent", "list", "--json"], { home });
  assert.equal(agents.code, 0, agents.stderr);
  assert.deepEqual(
    JSON.parse(agents.stdout).models.map((m: { model: string; claimed: boolean }) => [
      m.model,
      m.claimed,
    ]),
    [["test/reply", true]],
    "that machine's models and claims",
  );
  const json = JSON.parse(
    (await runCrosstalk(["--server", server, "status", "--json"], { home })).stdout,
  );
  assert.equal(json.status.alias, "far");
});

Deno.test("settings --server prints the far engine's configuration in effect, defaults filled in, as yaml and as json", async () => {
  await using dir = await tempDir();
  const { root, engine, server, home, login } = await farEngine(dir.path);
  await using _engine = engine;
  const loggedIn = await login();
  assert.equal(loggedIn.code, 0, loggedIn.stderr);
  await Deno.writeTextFile(
    join(root, "data", "crosstalk.yaml"),
    "engine:\n  timeout_seconds: 42\n",
    { append: true },
  );
  const json = await runCrosstalk(["--server", server, "settings", "--json"], { home });
  assert.equal(json.code, 0, json.stderr);
  const shown = JSON.parse(json.stdout);
  assert.equal(shown.alias, "far");
  assert.equal(shown.root, root);
  // What the engine loaded at its start: an edit is in effect only after a reload.
  assert.equal(shown.settings.engine.timeout_seconds, 600);
  assert.equal(shown.settings.engine.loop_guard.replies, 20);
  assert.equal(shown.settings.limits.message_bytes, 1048576);
  assert.deepEqual(shown.settings.providers.test.models, { reply: join(AGENTS, "reply.sh") });

  const text = await runCrosstalk(["--server", server, "settings"], { home });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^# ${root} \\(crosstalk .*, engine far\\)$`, "m"));
  assert.match(text.stdout, /^engine:\n {2}watch: auto\n/m);
  assert.match(text.stdout, /^ {6}reply: \/.*reply\.sh$/m);

  // Here, from the files: the edit shows at once, with no engine asked.
  const local = await runCrosstalk(["settings", "--path", root, "--json"], { home });
  assert.equal(local.code, 0, local.stderr);
  assert.equal(JSON.parse(local.stdout).settings.engine.timeout_seconds, 42);
  assert.equal(JSON.parse(local.stdout).alias, null);
});

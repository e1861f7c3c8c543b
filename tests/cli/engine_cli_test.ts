// The engine's commands (status, agent list, logs, message status, send --wait) against a real engine.
import assert from "node:assert/strict";
import { join } from "node:path";
import { git, MAIN, runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { scaffoldTransport } from "../../transports/mod.ts";
import { AGENTS, EngineProcess, makeTransport } from "../engine/_harness.ts";

Deno.test("send --wait prints the reply; status, agent list, message status and logs describe the engine", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const state = join(dir.path, "state");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${
      join(AGENTS, "reply.sh")
    }\n      ghost: no-such-agent-cli --flag\n`,
  );
  const run = (args: string[]) =>
    runCrosstalk([...args, "--path", root, "--state", state], { home: dir.path });
  await using engine = await EngineProcess.start(root, { alias: "a", state });

  const sent = await run(["message", "send", "--to", "reply", "--wait", "--timeout", "20", "ping"]);
  // Once seen in a full parallel run and never reproduced: the engine's log says what it did.
  assert.equal(sent.code, 0, `${sent.stderr}\nengine log:\n${engine.stderrText.slice(-4000)}`);
  const [id] = sent.stdout.split("\n");
  assert.match(id!, /^\d{4}\/\d{2}\/\d{2}\/\d{9}Z-[0-9a-f]{8}\.md$/);
  assert.match(sent.stdout, /from:\s+test\/reply@a/);
  assert.match(sent.stdout, /reply from test\/reply \(1 messages\) to: ping/);

  const status = await run(["message", "status", id!, "--json"]);
  assert.equal(status.code, 0, status.stderr);
  const delivery = JSON.parse(status.stdout);
  assert.equal(delivery.deliveries[0].to, "test/reply");
  assert.equal(delivery.deliveries[0].state, "replied");
  assert.equal(delivery.replies.length, 1);

  const engineStatus = await run(["status"]);
  assert.equal(engineStatus.code, 0, engineStatus.stderr);
  assert.match(engineStatus.stdout, /engine:\s+running \(alias a, pid \d+/);
  assert.match(engineStatus.stdout, /claimed:\s+test\/reply/);
  assert.match(engineStatus.stdout, /unclaimed: test\/ghost: "no-such-agent-cli" is not on PATH/);
  assert.match(engineStatus.stdout, /^a\s+\S+\s+\d+\s+alive\s+test\/reply$/m);

  const agents = await run(["agent", "list", "--json"]);
  assert.equal(agents.code, 0, agents.stderr);
  const models = JSON.parse(agents.stdout).models as {
    model: string;
    claimed: boolean;
    reason?: string;
  }[];
  assert.deepEqual(models.map((m) => [m.model, m.claimed]), [["test/reply", true], [
    "test/ghost",
    false,
  ]]);
  assert.match(models[1]!.reason!, /not on PATH/);

  const logs = await run(["logs", "--json"]);
  assert.equal(logs.code, 0, logs.stderr);
  const events = logs.stdout.trim().split("\n").map((l) => JSON.parse(l).event);
  for (const event of ["engine.ready", "claim.won", "run.spawned", "run.replied"]) {
    assert.ok(events.includes(event), `${event} in the log file`);
  }

  assert.equal((await engine.stop()).code, 0);
  const stopped = await run(["status", "--json"]);
  assert.equal(JSON.parse(stopped.stdout).state, "stopped");
});

Deno.test("a second engine on the same state dir is refused", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const state = join(dir.path, "state");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  await using engine = await EngineProcess.start(root, { alias: "a", state });
  const second = await runCrosstalk(["serve", "--path", root, "--state", state], {
    home: dir.path,
  });
  assert.equal(second.code, 73);
  assert.match(second.stderr, new RegExp(`Another engine \\(pid ${engine.pid}\\) is running`));
});

Deno.test("an engine killed with -9 leaves a pid file that does not stop the next start, even when its pid now names another live process", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const state = join(dir.path, "state");
  await makeTransport(root, "providers: {}\n");
  const killed = await EngineProcess.start(root, { alias: "a", state });
  killed.signal("SIGKILL");
  await killed.exit();
  assert.equal(
    (await Deno.readTextFile(join(state, "engine.pid"))).trim(),
    String(killed.pid),
    "the killed engine's pid file is still there",
  );
  // After a reboot another program may have its pid: here a sleep.
  const other = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    await Deno.writeTextFile(join(state, "engine.pid"), `${other.pid}\n`);
    await using again = await EngineProcess.start(root, { alias: "a", state });
    assert.equal((await Deno.readTextFile(join(state, "engine.pid"))).trim(), String(again.pid));
    const second = await runCrosstalk(["serve", "--path", root, "--state", state], {
      home: dir.path,
    });
    assert.equal(second.code, 73, "the running engine still keeps a second one out");
    assert.match(second.stderr, new RegExp(`Another engine \\(pid ${again.pid}\\) is running`));
  } finally {
    other.kill("SIGKILL");
    await other.status;
  }
});

Deno.test("logs -f prints the engine's new records as they are written", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const state = join(dir.path, "state");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  await using engine = await EngineProcess.start(root, { alias: "a", state });
  const follower = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "logs", "-f", "--json", "--path", root, "--state", state],
    env: { HOME: dir.path, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = follower.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  // The existing log comes first; then a new message must show up while following.
  while (!seen.includes('"engine.ready"')) seen += (await reader.read()).value ?? "";
  const sent = await runCrosstalk(
    ["message", "send", "--path", root, "--to", "reply", "follow me"],
    { home: dir.path },
  );
  const id = sent.stdout.trim();
  while (!seen.includes(`"run.replied"`) || !seen.includes(id)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  follower.kill("SIGTERM");
  await reader.cancel();
  await follower.status;
  const records = seen.trim().split("\n").map((line) => JSON.parse(line));
  assert.ok(records.some((r) => r.event === "message.new" && r.trace.endsWith(id)));
  assert.ok(records.some((r) => r.event === "run.replied"));
  await engine.stop();
});

Deno.test("on a git transport a send through the engine survives failing commits: status shows them, and a retry commits the message", async () => {
  await using dir = await tempDir();
  // Without --path the CLI goes through the engine's API (with --path it writes directly).
  const team = join(dir.path, ".local", "share", "crosstalk", "team");
  const root = join(team, "transport");
  await scaffoldTransport(root, { kind: "git" });
  const run = (args: string[]) =>
    runCrosstalk([...args, "--containername", "team"], { home: dir.path });
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(team, "crosstalk-state"),
    // With a user the engine leaves the CLI its local credential.
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  // git cannot write objects while .git/objects is a file: every commit fails.
  const objects = join(root, ".git", "objects");
  await Deno.rename(objects, `${objects}.away`);
  await Deno.writeTextFile(objects, "");
  const failed = engine.waitFor((r) => r.event === "git.commit_failed");
  const sent = await run(["message", "send", "--to", "tester", "kept while git is broken"]);
  assert.equal(sent.code, 0, sent.stderr);
  const id = sent.stdout.trim();
  await failed;
  // The status file follows the log within 100 ms.
  const line = await waitUntil(
    async () => (await run(["status"])).stdout.match(/^commit:.*$/m)?.[0],
    15_000,
    "a commit line in crosstalk status",
  );
  assert.match(line, /^commit:\s+1 change\(s\) uncommitted, failing since \S+: .*git/);
  // git works again: the next retry commits the message, and the status no longer shows it.
  const recovered = engine.waitFor((r) => r.event === "git.commit_recovered");
  await Deno.remove(objects);
  await Deno.rename(`${objects}.away`, objects);
  await recovered;
  assert.ok((await git(root, "log", "-1", "--format=%B")).includes(id));
  await waitUntil(
    async () => !/^commit:/m.test((await run(["status"])).stdout),
    15_000,
    "crosstalk status without the commit line",
  );
});

Deno.test("stopping the engine right after a burst of sends on a git transport leaves every message committed", async () => {
  await using dir = await tempDir();
  const team = join(dir.path, ".local", "share", "crosstalk", "team");
  const root = join(team, "transport");
  await scaffoldTransport(root, { kind: "git" });
  // Each commit waits 4 s for more changes: the SIGTERM below comes while they wait.
  const yaml = join(root, "data", "crosstalk.yaml");
  await Deno.writeTextFile(
    yaml,
    `${await Deno.readTextFile(yaml)}\ngit:\n  commit_window_ms: 4000\n`,
  );
  await git(root, "commit", "-qam", "a commit window");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(team, "crosstalk-state"),
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  const sends = await Promise.all(
    Array.from(
      { length: 6 },
      (_, i) =>
        runCrosstalk(
          ["message", "send", "--containername", "team", "--to", "tester", `burst ${i}`],
          {
            home: dir.path,
          },
        ),
    ),
  );
  for (const s of sends) assert.equal(s.code, 0, s.stderr);
  // The sends returned before their commits; SIGTERM at once, and the engine commits them first.
  assert.notEqual((await git(root, "status", "--porcelain", "--", "data")).trim(), "");
  const status = await engine.stop();
  assert.equal(status.code, 0);
  assert.equal((await git(root, "status", "--porcelain", "--", "data")).trim(), "");
  const log = await git(root, "log", "--format=%B");
  for (const s of sends) assert.ok(log.includes(s.stdout.trim()), `${s.stdout.trim()} committed`);
});

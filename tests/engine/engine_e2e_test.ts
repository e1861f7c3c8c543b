// The real engine as a subprocess, on temp transports, with small scripts as agent CLIs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir, waitUntil } from "../_helpers.ts";
import {
  ClaimStore,
  Cursor,
  formatMessage,
  formatMessageId,
  LATE_WINDOW_MS,
  newMessageId,
} from "../../transports/mod.ts";
import {
  AGENTS,
  EngineProcess,
  killAtRandomMoment,
  makeTransport,
  openBus,
  processesWith,
  seededRandom,
  workerYaml,
} from "./_harness.ts";

const a = (name: string) => join(AGENTS, name);

/** A transport whose one model, `slow`, answers after `seconds`, and engine `a` running it. */
async function startSlow(dir: string, root: string, seconds: string): Promise<EngineProcess> {
  await makeTransport(root, `providers:\n  test:\n    models:\n      slow: ${a("slow.sh")}\n`);
  return await EngineProcess.start(root, {
    alias: "a",
    state: join(dir, "state"),
    env: { SLOW_SECONDS: seconds },
  });
}

Deno.test("Engine replies with the documented frontmatter and records the delivery", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, `providers:\n  test:\n    models:\n      reply: ${a("reply.sh")}\n`);
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
  });
  await using bus = await openBus(root);
  const sent = await bus.send({ to: ["reply"], body: "hello there" });
  const [reply] = await bus.waitForReplies([sent], 15_000);
  assert.ok(reply, "a reply arrives");
  assert.equal(reply.from, "test/reply@a");
  assert.deepEqual(reply.to, ["tester"]);
  assert.deepEqual(reply.re, [sent.id]);
  assert.equal(reply.channel, sent.channel);
  assert.equal(reply.failed, undefined);
  assert.equal(reply.body, "reply from test/reply (1 messages) to: hello there");
  await engine.waitFor((r) => r.event === "run.replied");
  const { deliveryStatus } = await import("../../engine/status.ts");
  const status = await deliveryStatus(bus, sent);
  assert.deepEqual(status.deliveries.map((d) => [d.to, d.state, d.reply]), [[
    "test/reply",
    "replied",
    reply.id,
  ]]);
  assert.equal((await engine.stop()).code, 0);
});

Deno.test("Engine turns a failing, a hanging and an empty agent into failed, timed-out and no replies", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const marker = crypto.randomUUID();
  await makeTransport(
    root,
    `engine:\n  timeout_seconds: 1\nproviders:\n  test:\n    models:\n` +
      `      fail: ${a("fail.sh")}\n      hang: ${a("hang.sh")} ${marker}\n      quiet: ${
        a("empty.sh")
      }\n` +
      `      orphan: ${a("orphan.sh")} ${marker}\n      huge: ${a("huge.sh")}\n` +
      `limits:\n  output_bytes: 4096\n`,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
  });
  await using bus = await openBus(root);

  const failing = await bus.send({ to: ["fail"], body: "please fail" });
  const hanging = await bus.send({ to: ["hang"], body: "please hang" });
  const orphaning = await bus.send({ to: ["orphan"], body: "leave a child" });
  const huge = await bus.send({ to: ["huge"], body: "say a lot" });
  const replies = await bus.waitForReplies([failing, hanging, orphaning, huge], 20_000);
  const to = (m: { id: string }) => replies.find((r) => r.re?.includes(m.id))!;

  assert.equal(to(failing).failed, true);
  assert.equal(to(failing).error, "exit 3: something went wrong: boom");
  assert.match(to(failing).body, /partial output/);
  assert.equal(to(hanging).failed, true);
  assert.match(to(hanging).error!, /^timed out \(exit 124\)/);
  assert.equal(to(orphaning).body, "answered");
  assert.equal(to(huge).body.length, 4096, "output is capped at limits.output_bytes");
  assert.deepEqual(
    await processesWith(`agent-child-${marker}`),
    [],
    "agents' process groups are killed",
  );

  const quiet = await bus.send({ to: ["quiet"], body: "nothing to say?" });
  await engine.waitFor((r) => r.event === "run.empty");
  assert.deepEqual(await bus.replies(quiet), [], "empty output writes no reply");
  assert.equal((await engine.stop()).code, 0);
});

Deno.test("Engine batches the messages that wait for a busy model into one run", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await using engine = await startSlow(dir.path, root, "0.5");
  await using bus = await openBus(root);
  const first = await bus.send({ to: ["slow"], body: "first" });
  await engine.waitFor((r) => r.event === "run.spawned");
  const rest = [];
  for (const body of ["second", "third", "fourth"]) {
    rest.push(await bus.send({ to: ["slow"], body }));
  }
  const replies = await bus.waitForReplies([first, ...rest], 20_000);
  assert.equal(replies.length, 2, JSON.stringify(replies.map((r) => [r.re, r.body])));
  assert.deepEqual(replies[0]!.re, [first.id]);
  assert.equal(replies[0]!.body, "slow reply to 1 messages");
  assert.deepEqual(replies[1]!.re, rest.map((m) => m.id));
  assert.equal(replies[1]!.body, "slow reply to 3 messages");
});

Deno.test("Engine follows the wake rule: replies to a model wake it, other replies and its own messages do not", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, `providers:\n  test:\n    models:\n      reply: ${a("reply.sh")}\n`);
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
  });
  await using bus = await openBus(root);
  const question = await bus.send({ to: ["reply"], body: "turn one" });
  const [answer] = await bus.waitForReplies([question], 15_000);
  // A second turn: a reply to the model's own message wakes it.
  const followUp = await bus.send({ to: ["reply"], body: "turn two", re: [answer!.id] });
  const [second] = await bus.waitForReplies([followUp], 15_000);
  assert.equal(second!.body, "reply from test/reply (1 messages) to: turn two");
  // A reply to a human's message does not wake the model, even when addressed to it.
  const aside = await bus.send({ to: ["reply"], body: "just a note", re: [question.id] });
  // The model's own message addressed to itself does not wake it.
  const own = await bus.send({ to: ["reply"], from: "test/reply", body: "talking to myself" });
  const marker = await bus.send({ to: ["reply"], body: "last" });
  await bus.waitForReplies([marker], 15_000);
  await engine.waitFor((r) =>
    r.event === "run.replied" && JSON.stringify(r.trace).includes(marker.id)
  );
  assert.deepEqual(await bus.replies(aside), []);
  assert.deepEqual(await bus.replies(own), []);
  assert.equal(engine.count((r) => r.event === "run.start"), 3);
});

Deno.test("Engine's loop guard stops two models that keep answering each other", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(
    root,
    `engine:\n  loop_guard:\n    replies: 4\n    window_seconds: 600\n` +
      `providers:\n  test:\n    models:\n      ping: ${a("reply.sh")}\n      pong: ${
        a("reply.sh")
      }\n`,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
  });
  await using bus = await openBus(root);
  // pong asks ping; every automatic reply answers the other model's message and so wakes it.
  await bus.send({ to: ["ping"], from: "test/pong", body: "serve" });
  await engine.waitFor((r) => r.event === "run.skipped", 20_000);
  const { messages } = await bus.listMessages(undefined);
  assert.equal(
    messages.filter((m) => m.from.endsWith("@a")).length,
    4,
    "exactly the cap of automatic replies",
  );
});

Deno.test("Engine runs a message pinned with @alias only on that engine", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, `providers:\n  test:\n    models:\n      reply: ${a("reply.sh")}\n`);
  await using engineA = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "sa"),
  });
  await using engineB = await EngineProcess.start(root, {
    alias: "b",
    state: join(dir.path, "sb"),
  });
  await using bus = await openBus(root);
  const toB = await bus.send({ to: ["reply@b"], body: "for b" });
  const toA = await bus.send({ to: ["test/reply@a"], body: "for a" });
  const replies = await bus.waitForReplies([toB, toA], 15_000);
  assert.equal(replies.find((r) => r.re?.includes(toB.id))!.from, "test/reply@b");
  assert.equal(replies.find((r) => r.re?.includes(toA.id))!.from, "test/reply@a");
  assert.equal(engineA.count((r) => r.event === "claim.won"), 1);
  assert.equal(engineB.count((r) => r.event === "claim.won"), 1);
});

Deno.test("Engine runs each bare-addressed message exactly once across three engines", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const record = join(dir.path, "runs.txt");
  await makeTransport(
    root,
    `engine:\n  concurrency: 8\n  model_concurrency: 8\nproviders:\n  test:\n    env:\n      RECORD_FILE: "\${RECORD_FILE}"\n    models:\n      rec: ${
      a("record.sh")
    }\n`,
  );
  const env = { RECORD_FILE: record };
  await using e1 = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "s1"),
    env,
  });
  await using e2 = await EngineProcess.start(root, {
    alias: "b",
    state: join(dir.path, "s2"),
    env,
  });
  await using e3 = await EngineProcess.start(root, {
    alias: "c",
    state: join(dir.path, "s3"),
    env,
  });
  await using bus = await openBus(root);
  const sent = [];
  for (let i = 0; i < 300; i++) sent.push(await bus.send({ to: ["rec"], body: `job ${i}` }));
  const replies = await bus.waitForReplies(sent, 120_000);
  const answered = replies.flatMap((r) => r.re ?? []);
  assert.equal(new Set(answered).size, 300, "every message answered");
  assert.equal(answered.length, 300, "no message answered twice");
  const runs = (await Deno.readTextFile(record)).trim().split("\n");
  const ran = runs.map((line) => line.split(" ")[1]);
  assert.equal(new Set(ran).size, ran.length, "no message run twice");
  const byEngine = [e1, e2, e3].map((e) => e.count((r) => r.event === "claim.won"));
  assert.equal(byEngine.reduce((x, y) => x + y, 0), 300);
});

Deno.test("Engine recovers from kill -9: another engine takes the claim over and one reply is written", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(
    root,
    `engine:\n  lease_seconds: 5\nproviders:\n  test:\n    models:\n      slow: ${a("slow.sh")}\n`,
  );
  const env = { SLOW_SECONDS: "1" };
  const victim = await EngineProcess.start(root, { alias: "a", state: join(dir.path, "sa"), env });
  await using bus = await openBus(root);
  const sent = await bus.send({ to: ["slow"], body: "survive this" });
  await victim.waitFor((r) => r.event === "run.spawned");
  victim.signal("SIGKILL");
  await victim.exit();
  await using rescuer = await EngineProcess.start(root, {
    alias: "b",
    state: join(dir.path, "sb"),
    env,
  });
  const [reply] = await bus.waitForReplies([sent], 20_000);
  assert.equal(reply!.from, "test/slow@b");
  await rescuer.waitFor((r) => r.event === "claim.takeover");
  // The killed engine comes back: it must not answer again.
  await using again = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "sa"),
    env,
  });
  await again.waitFor((r) => r.event === "engine.ready");
  await rescuer.waitFor((r) => r.event === "run.replied");
  const sentAfter = await bus.send({ to: ["slow@a"], body: "after restart" });
  await bus.waitForReplies([sentAfter], 20_000);
  assert.equal((await bus.replies(sent)).length, 1, "exactly one reply");
});

Deno.test("Engine drains on SIGTERM: a running agent finishes and its reply is written", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const engine = await startSlow(dir.path, root, "1");
  await using bus = await openBus(root);
  const sent = await bus.send({ to: ["slow"], body: "finish me" });
  await engine.waitFor((r) => r.event === "run.spawned");
  engine.signal("SIGTERM");
  const status = await engine.exit();
  assert.equal(status.code, 0);
  const replies = await bus.replies(sent);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.body, "slow reply to 1 messages");
  const registry = await Array.fromAsync(Deno.readDir(join(root, "data", "dispatchers")));
  assert.deepEqual(registry, [], "the registry entry is removed at a clean stop");
});

Deno.test("Engine reloads its config on SIGHUP and keeps the old one when the new one is invalid", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, `providers:\n  test:\n    models:\n      reply: ${a("reply.sh")}\n`);
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
  });
  await using bus = await openBus(root);
  const yaml = join(root, "data", "crosstalk.yaml");
  await Deno.writeTextFile(yaml, "transport: local\nproviders: [broken\n");
  engine.signal("SIGHUP");
  await engine.waitFor((r) => r.event === "config.reload_failed");
  const stillWorks = await bus.send({ to: ["test/reply"], body: "old config" });
  assert.equal((await bus.waitForReplies([stillWorks], 15_000)).length, 1);
  // Not a file at all (a folder in its place): named in the log, and the engine stays up.
  await Deno.remove(yaml);
  await Deno.mkdir(yaml);
  engine.signal("SIGHUP");
  const unreadable = await engine.waitFor((r) =>
    r.event === "config.reload_failed" &&
    /Cannot read "data\/crosstalk.yaml"/.test(String(r.reason))
  );
  assert.match(String(unreadable.reason), /it is a folder/);
  const stillUp = await bus.send({ to: ["test/reply"], body: "still the old config" });
  assert.equal((await bus.waitForReplies([stillUp], 15_000)).length, 1);
  await Deno.remove(yaml);
  await Deno.writeTextFile(
    yaml,
    `transport: local\nproviders:\n  test:\n    models:\n      reply: ${
      a("reply.sh")
    }\n      other: ${a("reply.sh")}\n`,
  );
  engine.signal("SIGHUP");
  await engine.waitFor((r) => r.event === "config.reloaded");
  await using fresh = await openBus(root);
  const toNew = await fresh.send({ to: ["other"], body: "new model" });
  const [reply] = await fresh.waitForReplies([toNew], 15_000);
  assert.equal(reply!.from, "test/other@a");
});

Deno.test("Engine answers every message exactly once while engines are killed with -9 at random moments", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const record = join(dir.path, "runs.txt");
  await makeTransport(root, workerYaml(1, 2));
  const env = { RECORD_FILE: record, SLOW_SECONDS: "0.15" };
  const random = seededRandom(20261122);
  await using bus = await openBus(root);
  const sent = [];
  let takeovers = 0;
  for (let round = 0; round < 5; round++) {
    // Each round one engine (a restart of the last one's state, or a fresh one) works alone
    // and is killed after a random number of runs have started.
    const alias = round % 2 === 0 ? "a" : "b";
    const victim = await EngineProcess.start(root, { alias, state: join(dir.path, alias), env });
    for (let i = 0; i < 6; i++) {
      sent.push(await bus.send({ to: ["work"], body: `round ${round} job ${i}` }));
    }
    // Kill after some claims (before any run), during the first run, or just after a reply.
    await killAtRandomMoment(victim, random, [
      ["claim.won", 1 + Math.floor(random() * 6)],
      ["run.spawned", 1],
      ["run.replied", 1],
    ]);
    takeovers += victim.count((r) => r.event === "claim.takeover");
  }
  await using a1 = await EngineProcess.start(root, { alias: "a", state: join(dir.path, "a"), env });
  await using b1 = await EngineProcess.start(root, { alias: "b", state: join(dir.path, "b"), env });
  const replies = await bus.waitForReplies(sent, 60_000);
  const answered = replies.flatMap((r) => r.re ?? []);
  const missing = sent.filter((m) => !answered.includes(m.id));
  const { deliveryStatus } = await import("../../engine/status.ts");
  const states = await Promise.all(
    missing.map(async (m) => JSON.stringify((await deliveryStatus(bus, m)).deliveries)),
  );
  assert.equal(
    new Set(answered).size,
    sent.length,
    `every message answered; missing: ${states.join("\n")}\n${a1.stderrText.slice(-4000)}`,
  );
  assert.equal(answered.length, sent.length, "none answered twice");
  takeovers += a1.count((r) => r.event === "claim.takeover") +
    b1.count((r) => r.event === "claim.takeover");
  assert.ok(takeovers > 0, "some runs were interrupted and taken over");
});

Deno.test("Engine answers every message exactly once with three engines on one folder under load, killed with -9 at random moments and restarted", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, workerYaml(1, 3));
  const env = { RECORD_FILE: join(dir.path, "runs.txt"), SLOW_SECONDS: "0.15" };
  const random = seededRandom(20261206);
  const aliases = ["a", "b", "c"];
  const startOne = (alias: string) =>
    EngineProcess.start(root, { alias, state: join(dir.path, alias), env });
  const engines = new Map<string, EngineProcess>();
  for (const alias of aliases) engines.set(alias, await startOne(alias));
  const all = [...engines.values()];
  await using bus = await openBus(root);
  try {
    const sent = [];
    for (let round = 0; round < 5; round++) {
      const burst = (async () => {
        const mine = [];
        for (let j = 0; j < 12; j++) {
          mine.push(await bus.send({ to: ["work"], body: `${round}/${j}` }));
        }
        return mine;
      })();
      const alias = aliases[Math.floor(random() * aliases.length)]!;
      const victim = engines.get(alias)!;
      await killAtRandomMoment(victim, random, [
        ["claim.won", 1 + Math.floor(random() * 3)],
        ["run.spawned", 1],
        ["run.replied", 1],
      ]);
      sent.push(...await burst);
      const again = await startOne(alias);
      engines.set(alias, again);
      all.push(again);
    }
    const replies = await bus.waitForReplies(sent, 60_000);
    const answered = replies.flatMap((r) => r.re ?? []);
    assert.equal(new Set(answered).size, sent.length, "every message answered");
    assert.equal(answered.length, sent.length, "none answered twice");
    const takeovers = all.reduce((n, e) => n + e.count((r) => r.event === "claim.takeover"), 0);
    assert.ok(takeovers > 0, "some claims of killed engines were taken over");
  } finally {
    for (const e of all) await e[Symbol.asyncDispose]();
  }
});

Deno.test("Engine: a channel deleted while its message runs takes its claims along; the run ends without a reply and the engine goes on", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  // The run must outlast the delete below, also on a loaded machine (0.5 s did not, once).
  await using engine = await startSlow(dir.path, root, "3");
  await using bus = await openBus(root);
  const doomed = await bus.createChannel("doomed");
  await bus.createChannel("other");
  await bus.send({ channel: "doomed", to: ["slow"], body: "in a channel about to go" });
  await engine.waitFor((r) => r.event === "run.spawned");
  await bus.deleteChannel("doomed");
  const dropped = await engine.waitFor((r) => r.event === "claim.dropped");
  assert.equal(dropped.reason, "its channel was deleted");
  const later = await bus.send({ channel: "other", to: ["slow"], body: "and then" });
  const [reply] = await bus.waitForReplies([later], 15_000);
  assert.equal(reply!.body, "slow reply to 1 messages");
  const left = async (dir: string) => {
    const names = [];
    for await (const e of Deno.readDir(join(root, dir))) names.push(e.name);
    return names.filter((n) => n.startsWith(doomed.id));
  };
  assert.deepEqual(await left("data/claims"), [], "no claim folder of the deleted channel");
  assert.deepEqual(await left("data/claims/open"), [], "no open lease of the deleted channel");
  assert.deepEqual(
    await left("data/annotations").catch(() => []),
    [],
    "no annotation folder of the deleted channel",
  );
});

Deno.test("Engine: a holder that lost the race for done leaves the claim to a sweep, which writes the winner's staged reply when the winner died before writing it", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(
    root,
    `engine:\n  lease_seconds: 3\nproviders:\n  test:\n    models:\n      slow: ${a("slow.sh")}\n`,
  );
  await using bus = await openBus(root);
  const sent = await bus.send({ to: ["slow"], body: "who answers me?" });
  // A holder on another machine claimed it and went quiet: the engine takes it over.
  const claims = new ClaimStore(root);
  const key = { channel: sent.channel, id: sent.id, model: "test/slow" };
  const zombie = { alias: "z", host: "elsewhere", pid: 1, instance: "zombie" };
  assert.equal(await claims.acquire(key, zombie), 1);
  const hourAgo = new Date(Date.now() - 3600_000);
  await Deno.utime(
    (await claims.closing([key]))!.paths.map((p) => join(root, p))[0]!,
    hourAgo,
    hourAgo,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
    env: { SLOW_SECONDS: "0.3" },
  });
  await engine.waitFor((r) => r.event === "run.spawned");
  // Meanwhile the zombie wakes, creates done with its staged reply first, and dies.
  const at = new Date();
  const reply = newMessageId(at);
  const text = formatMessage({
    from: "test/slow@z",
    to: [sent.from],
    timestamp: at.toISOString(),
    re: [sent.id],
    body: "the zombie's answer",
  });
  const outcome = { status: "replied" as const, reply, text, holder: zombie, at: at.toISOString() };
  assert.deepEqual(await claims.finishAll([key], outcome), [true]);
  // The engine's run ends and loses the race for done: its reply is not written.
  await engine.waitFor((r) => r.event === "run.replied");
  // Once the zombie is past its lease, a sweep writes the reply staged in its done.
  const [answer] = await bus.waitForReplies([sent], 15_000);
  assert.equal(answer!.id, reply, "the reply staged in done is the one written");
  assert.equal(answer!.body, "the zombie's answer");
  await engine.waitFor((r) => r.event === "reply.repaired");
  await waitUntil(async () => (await claims.listOpen()).length === 0 || undefined);
  assert.equal((await bus.replies(sent)).length, 1, "one reply");
});

Deno.test("Engine gives the CLI its provider's secrets and the dispatch variables, and big prompts on stdin", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const state = join(dir.path, "state");
  await makeTransport(
    root,
    `providers:\n  test:\n    env_file: auth/test.env\n    models:\n      env: ${
      a("envcheck.sh")
    }\n`,
  );
  await Deno.writeTextFile(join(root, "auth", "test.env"), "SECRET='from the env file'\n");
  await using engine = await EngineProcess.start(root, { alias: "a", state });
  await using bus = await openBus(root);
  // One after the other: two messages queued together for a model run as one batch, one prompt.
  const small = await bus.send({ to: ["env"], body: "small" });
  const replies = await bus.waitForReplies([small], 15_000);
  const big = await bus.send({ to: ["env"], body: "x".repeat(70 * 1024) });
  replies.push(...await bus.waitForReplies([big], 15_000));
  const to = (m: { id: string }) => replies.find((r) => r.re?.includes(m.id))!.body;
  assert.match(
    to(small),
    /^prompt via argument, \d+ bytes; secret=from the env file; model=test\/env; alias=a; cwd=/,
  );
  assert.ok(to(small).endsWith(`cwd=${join(state, "workspace")}`), to(small));
  const bigSize = Number(/prompt via stdin, (\d+) bytes/.exec(to(big))?.[1]);
  assert.ok(bigSize > 70 * 1024, to(big));
  assert.equal((await engine.stop()).code, 0);
});

Deno.test("Engine runs a message to all once per model, even with two engines claiming every model", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      one: ${a("reply.sh")}\n      two: ${a("reply.sh")}\n`,
  );
  await using e1 = await EngineProcess.start(root, { alias: "a", state: join(dir.path, "sa") });
  await using e2 = await EngineProcess.start(root, { alias: "b", state: join(dir.path, "sb") });
  await using bus = await openBus(root);
  const sent = await bus.send({ to: ["all"], body: "roll call" });
  // Every engine sees every new message: wait until one of them has seen both replies.
  const isReply = (r: { event: string; re?: unknown }) =>
    r.event === "message.new" && Array.isArray(r.re) && r.re.includes(sent.id);
  await e1.waitFor(() => e1.count(isReply) >= 2);
  const replies = await bus.replies(sent);
  assert.deepEqual(replies.map((r) => r.from.split("@")[0]).sort(), ["test/one", "test/two"]);
  const won = e1.count((r) => r.event === "claim.won") + e2.count((r) => r.event === "claim.won");
  assert.equal(won, 2, "one claim per model");
});

for (const killed of [false, true]) {
  const which = killed
    ? "a first start killed before its first scan was done is a first start again: it leaves old history alone"
    : "Engine's first start leaves old history alone";
  Deno.test(`${which}: it neither reads nor runs it, but runs what is recent`, async () => {
    await using dir = await tempDir();
    const root = join(dir.path, "bus");
    await makeTransport(root, `providers:\n  test:\n    models:\n      reply: ${a("reply.sh")}\n`);
    {
      await using bus = await openBus(root);
      const transport = bus.transport;
      const channel = (await transport.listChannels())[0]!;
      const old = new Date(Date.now() - 48 * 3600 * 1000).toISOString();
      for (let i = 0; i < 40; i++) {
        await transport.writeMessage(channel.id, {
          from: "tester",
          to: ["reply"],
          timestamp: old,
          body: `old ${i}`,
        });
      }
      // One old file is not even valid: a first start must not read it to find out.
      const broken = await transport.writeMessage(channel.id, {
        from: "tester",
        to: ["reply"],
        timestamp: old,
        body: "x",
      });
      await Deno.writeTextFile(transport.messagePath(broken), "---\nfrom: [broken\n---\n");
      await transport.writeMessage(channel.id, {
        from: "tester",
        to: ["reply"],
        timestamp: new Date().toISOString(),
        body: "recent",
      });
    }
    const state = join(dir.path, "state");
    if (killed) {
      // What the killed start left: its cursor file, made before the scan, and its horizon.
      await Deno.mkdir(state, { recursive: true });
      (await Cursor.open(join(state, "cursor"))).close();
      const horizon = formatMessageId({
        time: new Date(Date.now() - LATE_WINDOW_MS),
        random: "00000000",
      });
      await Deno.writeTextFile(join(state, "cursor.baseline"), `${horizon}\n`);
    }
    await using engine = await EngineProcess.start(root, { alias: "a", state });
    await engine.waitFor((r) => r.event === "run.replied");
    assert.equal(engine.count((r) => r.event === "message.new" && r.from === "tester"), 1);
    assert.equal(engine.count((r) => r.event === "file.invalid"), 0);
    assert.equal(engine.count((r) => r.event === "run.start"), 1);
    await assert.rejects(Deno.stat(join(state, "cursor.baseline")), Deno.errors.NotFound);
  });
}

Deno.test("Engine names a channel in the prompt by its name at the time of the run, after a rename", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      where: ${a("channelname.sh")}\n`,
  );
  await using _engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
  });
  await using bus = await openBus(root);
  const channel = await bus.createChannel("alpha");
  const first = await bus.send({ to: ["where"], channel: channel.id, body: "where am I?" });
  assert.equal((await bus.waitForReplies([first], 15_000))[0]?.body, 'in channel "alpha"');
  await bus.renameChannel(channel.id, "beta");
  const second = await bus.send({ to: ["where"], channel: channel.id, body: "and now?" });
  assert.equal((await bus.waitForReplies([second], 15_000))[0]?.body, 'in channel "beta"');
});

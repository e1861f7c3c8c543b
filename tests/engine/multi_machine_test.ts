// Several machines on one box: a bare git remote on disk, a clone per machine, each with its own
// state dir and a real engine (`--alias a`, `b`, `c`), talking only through the remote.
import assert from "node:assert/strict";
import { join } from "node:path";
import { traceOf } from "../../engine/dispatcher.ts";
import type { Message } from "../../transports/mod.ts";
import { git, runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import {
  AGENTS,
  EngineProcess,
  killAtRandomMoment,
  network,
  openBus,
  seededRandom,
  workerYaml,
} from "./_harness.ts";

const agent = (name: string) => join(AGENTS, name);

function start(
  roots: Record<string, string>,
  dir: string,
  alias: string,
  env = {},
  readyTimeoutMs?: number,
) {
  return EngineProcess.start(roots[alias]!, {
    alias,
    state: join(dir, `state-${alias}`),
    env,
    ...(readyTimeoutMs ? { readyTimeoutMs } : {}),
  });
}

Deno.test("a message sent on machine a to a model pinned to b runs on b, and the reply reaches a", async () => {
  await using dir = await tempDir();
  const { roots } = await network(
    dir.path,
    ["a", "b"],
    `providers:\n  test:\n    models:\n      reply: ${agent("reply.sh")}\n`,
  );
  await using a = await start(roots, dir.path, "a");
  await using b = await start(roots, dir.path, "b");
  await using bus = await openBus(roots.a!);
  const sent = await bus.send({ to: ["reply@b"], body: "across machines" });
  const [reply] = await bus.waitForReplies([sent], 20_000);
  if (!reply) console.log("A:", a.stderrText.slice(-4000), "\nB:", b.stderrText.slice(-4000));
  assert.equal(reply!.from, "test/reply@b");
  assert.deepEqual(reply!.re, [sent.id]);
  assert.equal(reply!.body, "reply from test/reply (1 messages) to: across machines");
  assert.equal(a.count((r) => r.event === "run.start"), 0, "a never ran it");
  await a.stop();
  await b.stop();
  const history = await git(roots.b!, "log", "--format=%B%x00", "main");
  assert.ok(
    history.split("\0").some((c) =>
      c.includes("reply from test/reply@b") && /close test\/reply/.test(c)
    ),
    "the reply and the close of its claim are one commit",
  );
  // Both clones end clean and equal to the remote.
  for (const root of Object.values(roots)) {
    await git(root, "fetch", "-q", "origin");
    assert.equal((await git(root, "status", "--porcelain")).trim(), "", `${root} is clean`);
    await git(root, "merge-base", "--is-ancestor", "HEAD", "origin/main");
  }
});

Deno.test("three machines, 200 bare-addressed messages sent from all sides at once: each runs exactly once", async () => {
  await using dir = await tempDir();
  const record = join(dir.path, "runs.txt");
  const { roots } = await network(
    dir.path,
    ["a", "b", "c"],
    `engine:\n  concurrency: 8\n  model_concurrency: 8\nproviders:\n  test:\n    env:\n      RECORD_FILE: "\${RECORD_FILE}"\n    models:\n      rec: ${
      agent("recordall.sh")
    }\n`,
  );
  const env = { RECORD_FILE: record };
  await using a = await start(roots, dir.path, "a", env);
  await using b = await start(roots, dir.path, "b", env);
  await using c = await start(roots, dir.path, "c", env);
  const buses = await Promise.all(["a", "b", "c"].map((m) => openBus(roots[m]!)));
  try {
    const sent = (await Promise.all(buses.map(async (bus, i) => {
      const mine = [];
      for (let j = i; j < 200; j += 3) mine.push(await bus.send({ to: ["rec"], body: `job ${j}` }));
      return mine;
    }))).flat();
    assert.equal(sent.length, 200);
    // Every reply reaches every machine; look on one that sent only a third of the messages.
    const replies = await buses[0]!.waitForReplies(sent, 120_000);
    const answered = replies.flatMap((r) => r.re ?? []);
    assert.equal(new Set(answered).size, 200, "every message answered");
    assert.equal(answered.length, 200, "no message answered twice");
    const ran = (await Deno.readTextFile(record)).trim().split("\n").map((l) => l.split(" ")[1]);
    const twice = ran.filter((id, i) => ran.indexOf(id) !== i);
    const events = (e: EngineProcess) =>
      e.records.filter((r) => twice.some((id) => JSON.stringify(r).includes(id!)))
        .map((r) => `${e.alias} ${r.ts} ${r.event} ${r.generation ?? ""} ${r.from ?? ""}`);
    assert.equal(
      ran.length,
      200,
      `no CLI started for a claim that lost its race; twice: ${
        [a, b, c].flatMap(events).sort().join("\n")
      }`,
    );
    assert.equal(new Set(ran).size, 200);
    const won = [a, b, c].map((e) => e.count((r) => r.event === "claim.won"));
    assert.equal(won.reduce((x, y) => x + y, 0), 200, `claims won per machine: ${won}`);
    // Nobody force-pushes here: an engine that sees a rewrite was pushed over by a peer.
    const rewritten = [a, b, c].map((e) => e.count((r) => r.event === "sync.remote_rewritten"));
    assert.deepEqual(rewritten, [0, 0, 0], "no engine pushed another's commits away");
  } finally {
    for (const bus of buses) await bus[Symbol.asyncDispose]();
  }
});

Deno.test("three machines under load, engines killed with -9 at random moments and restarted: every message answered exactly once", async () => {
  await using dir = await tempDir();
  const aliases = ["a", "b", "c"];
  const { roots } = await network(
    dir.path,
    aliases,
    workerYaml(2, 4),
  );
  const env = { RECORD_FILE: join(dir.path, "runs.txt"), SLOW_SECONDS: "0.2" };
  const random = seededRandom(20261206);
  const engines = new Map<string, EngineProcess>();
  const all: EngineProcess[] = [];
  for (const alias of aliases) engines.set(alias, await start(roots, dir.path, alias, env));
  all.push(...engines.values());
  const buses = await Promise.all(aliases.map((m) => openBus(roots[m]!)));
  try {
    const sent = [];
    for (let round = 0; round < 4; round++) {
      const burst = buses.map(async (bus, i) => {
        const mine = [];
        for (let j = 0; j < 8; j++) {
          mine.push(await bus.send({ to: ["work"], body: `round ${round}, ${aliases[i]} #${j}` }));
        }
        return mine;
      });
      const alias = aliases[Math.floor(random() * aliases.length)]!;
      const victim = engines.get(alias)!;
      // After some claims won (possibly before any run), during a run, just after a reply, or
      // right after a push.
      await killAtRandomMoment(victim, random, [
        ["claim.won", 1 + Math.floor(random() * 4)],
        ["run.spawned", 1],
        ["run.replied", 1],
        ["sync.cycle", 1 + Math.floor(random() * 3)],
      ]);
      sent.push(...(await Promise.all(burst)).flat());
      // A restart is ready after one sync cycle (fetch, merge, a push), however much is left to
      // push. Alone this takes seconds; inside the whole suite on two cores (browsers and all), a
      // restart took over 30 s once.
      const again = await start(roots, dir.path, alias, env, 60_000);
      engines.set(alias, again);
      all.push(again);
    }
    // Look on every machine: each one's clone must end up with every reply. Inside the whole
    // suite this test runs three times slower than alone; one run had 95 of 96 after 120 s.
    for (const bus of buses) {
      const replies = await bus.waitForReplies(sent, 240_000);
      const answered = replies.flatMap((r) => r.re ?? []);
      assert.equal(new Set(answered).size, sent.length, unanswered(sent, answered, all));
      assert.equal(answered.length, sent.length, "no message answered twice");
    }
    const rewritten = all.reduce(
      (n, e) => n + e.count((r) => r.event === "sync.remote_rewritten"),
      0,
    );
    assert.equal(rewritten, 0, "no engine pushed another's commits away");
    const takeovers = all.reduce((n, e) => n + e.count((r) => r.event === "claim.takeover"), 0);
    assert.ok(takeovers > 0, "some claims of killed engines were taken over");
  } finally {
    for (const bus of buses) await bus[Symbol.asyncDispose]();
    for (const e of all) await e[Symbol.asyncDispose]();
  }
});

/**
 * Names the messages without a reply and what every engine logged about each, then what each
 * engine (in the order they started) last logged of its sync, its git and itself, and its
 * warnings: a message that no other machine ever saw was stuck in its own clone.
 */
function unanswered(sent: Message[], answered: string[], engines: EngineProcess[]): string {
  const replied = new Set(answered);
  const missing = sent.filter((m) => !replied.has(m.id));
  const lines = missing.map((m) => {
    const trace = traceOf(m);
    const seen = engines.flatMap((e) =>
      e.records.filter((r) => r.trace === trace).map((r) => `  ${e.alias}: ${JSON.stringify(r)}`)
    );
    return [`${trace} (${m.body}):`, ...seen].join("\n");
  });
  const machines = engines.flatMap((e, i) =>
    e.records
      .filter((r) =>
        r.trace === undefined && (r.level !== "info" || /^(sync|git|engine)\./.test(r.event))
      )
      .slice(-30)
      .map((r) => `  ${e.alias} (engine ${i + 1}): ${JSON.stringify(r)}`)
  );
  return `every message answered; ${missing.length} not:\n${lines.join("\n")}\n` +
    `the engines' last sync, git and engine records and warnings:\n${machines.join("\n")}`;
}

Deno.test("a message that reaches the remote late, with a name older than anything seen, still runs", async () => {
  await using dir = await tempDir();
  const { remote, roots } = await network(
    dir.path,
    ["a", "b", "offline"],
    `providers:\n  test:\n    models:\n      reply: ${agent("reply.sh")}\n`,
  );
  await using a = await start(roots, dir.path, "a");
  await using b = await start(roots, dir.path, "b");
  await using busA = await openBus(roots.a!);
  const first = await busA.send({ to: ["reply@b"], body: "warm up" });
  await busA.waitForReplies([first], 20_000);
  // A machine that was offline for a day wrote this yesterday and pushes it only now.
  const offline = roots.offline!;
  await git(offline, "pull", "-q", "--rebase", remote, "main");
  await using busOffline = await openBus(offline);
  const yesterday = new Date(Date.now() - 24 * 3600_000);
  const channel = (await busOffline.transport.listChannels())[0]!.id;
  const late = await busOffline.transport.writeMessage(channel, {
    from: "tester",
    to: ["reply@b"],
    body: "written yesterday",
    timestamp: yesterday.toISOString(),
  });
  assert.ok(late.id < first.id, "its name sorts before what b has already seen");
  await git(offline, "pull", "-q", "--rebase", remote, "main");
  await git(offline, "push", "-q", remote, "HEAD:main");
  const [reply] = await busA.waitForReplies([late], 20_000);
  assert.equal(reply!.from, "test/reply@b");
  assert.equal(a.count((r) => r.event === "run.start"), 0);
  assert.equal(b.count((r) => r.event === "run.start"), 2, "b ran both");
});

Deno.test("a remote that is away for a while: the error shows in the status, then everything goes through", async () => {
  await using dir = await tempDir();
  const { remote, roots } = await network(
    dir.path,
    ["a", "b"],
    `providers:\n  test:\n    models:\n      reply: ${agent("reply.sh")}\n`,
  );
  await using a = await start(roots, dir.path, "a");
  await using b = await start(roots, dir.path, "b");
  await Deno.rename(remote, `${remote}.away`);
  await using bus = await openBus(roots.a!);
  const sent = await bus.send({ to: ["reply@b"], body: "sent while the remote is away" });
  const failed = await a.waitFor((r) => r.event === "sync.failed");
  assert.match(String(failed.reason), /remote\.git/);
  const status = await waitUntil(async () => {
    const text = await Deno.readTextFile(join(dir.path, "state-a", "status.json"));
    const parsed = JSON.parse(text) as { sync?: { error?: string } };
    return parsed.sync?.error ? parsed : undefined;
  });
  assert.match(String(status.sync?.error), /Cannot reach the remote/);
  const shown = await runCrosstalk(
    ["status", "--path", roots.a!, "--state", join(dir.path, "state-a")],
    { home: dir.path },
  );
  assert.match(shown.stdout, /^sync:\s+failing since \S+: .*Cannot reach the remote/m);
  await Deno.rename(`${remote}.away`, remote);
  const [reply] = await bus.waitForReplies([sent], 30_000);
  assert.equal(reply!.from, "test/reply@b");
  await a.waitFor((r) => r.event === "sync.recovered");
  await b.waitFor((r) => r.event === "run.replied");
});

Deno.test("with slow polling, a nudge from the pushing engine makes the other fetch at once", async () => {
  await using dir = await tempDir();
  const slow = "git:\n  fetch_min_ms: 600000\n  fetch_max_ms: 600000\n";
  const { roots } = await network(
    dir.path,
    ["a", "b"],
    `providers:\n  test:\n    models:\n      reply: ${agent("reply.sh")}\n`,
    slow,
  );
  await using b = await start(roots, dir.path, "b");
  // a starts second, so b's entry (with its API and key) is on the remote when a fetches.
  await using a = await start(roots, dir.path, "a");
  // b learns a's key from a's dispatcher entry, which comes with the fetch a's nudge asks for.
  await using bus = await openBus(roots.a!);
  const sent = await bus.send({ to: ["reply@b"], body: "nudged" });
  const [reply] = await bus.waitForReplies([sent], 20_000);
  assert.ok(reply, `A:\n${a.stderrText.slice(-3000)}\nB:\n${b.stderrText.slice(-3000)}`);
  assert.equal(reply.from, "test/reply@b");
});

Deno.test("a nudge not signed by an engine of the transport is refused and changes nothing", async () => {
  await using dir = await tempDir();
  const { roots } = await network(dir.path, ["a"], "");
  await using a = await start(roots, dir.path, "a");
  const { url } = await a.waitFor((r) => r.event === "api.listening");
  const { EngineKey } = await import("../../engine/auth.ts");
  const stranger = await EngineKey.open(join(dir.path, "stranger"));
  for (
    const [authorization, why] of [
      [`Bearer ${await stranger.nudgeToken("a")}`, "signed by another key under a's name"],
      [`Bearer ${await stranger.nudgeToken("nobody")}`, "from an engine with no entry"],
      ["Bearer not.a.token", "garbled"],
      ["", "missing"],
    ]
  ) {
    const response = await fetch(`${url}/api/nudge`, {
      method: "POST",
      headers: authorization ? { authorization } : {},
    });
    const body = await response.json();
    assert.equal(response.status, 401, why);
    assert.match(body.error.code, /^ERR_(TOKEN_INVALID|UNAUTHENTICATED)$/, why);
  }
  assert.equal(a.count((r) => r.event === "sync.failed"), 0);
});

Deno.test("a crashed machine's dispatcher entry turns stale after the presence timeout, without heartbeat commits", async () => {
  await using dir = await tempDir();
  const { remote, roots } = await network(
    dir.path,
    ["a", "b"],
    `providers:\n  test:\n    models:\n      reply: ${agent("reply.sh")}\n`,
  );
  await using a = await start(roots, dir.path, "a");
  const b = await start(roots, dir.path, "b");
  const commitsBefore = Number((await git(remote, "rev-list", "--count", "main")).trim());
  const { engineReport } = await import("../../engine/status.ts");
  const { locateTransport } = await import("../../engine/paths.ts");
  const location = {
    ...locateTransport({ path: roots.a! }, { HOME: "/nonexistent" }),
    stateDir: join(dir.path, "state-a"),
  };
  const live = await waitUntil(async () => {
    const report = await engineReport(location);
    return report.dispatchers.find((d) => d.alias === "b" && !d.stale);
  });
  assert.ok(live, "b shows live on a");
  b.signal("SIGKILL");
  await b.exit();
  const stale = await waitUntil(async () => {
    const report = await engineReport(location);
    return report.dispatchers.find((d) => d.alias === "b" && d.stale);
  }, 20_000);
  assert.ok(stale, "b shows stale on a");
  const commitsAfter = Number((await git(remote, "rev-list", "--count", "main")).trim());
  assert.ok(commitsAfter - commitsBefore <= 1, `${commitsAfter - commitsBefore} commits meanwhile`);
  await a.stop();
});

/** The parent of a process (Linux). */
async function parentOf(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function kill(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Installs a git hook that, while `<dir>/block` exists, stops an update of refs/heads/main that
 * carries a reply in its tracks: it writes its pid to `<dir>/hook.pid` and waits on a fifo.
 */
async function installBlockingHook(hookPath: string, dir: string, mode: "receive" | "commit") {
  await new Deno.Command("mkfifo", { args: [join(dir, "hook.fifo")] }).output();
  const range = mode === "commit" ? `-1 "$new"` : `"$old..$new"`;
  await Deno.writeTextFile(
    hookPath,
    `#!/bin/sh\n${mode === "commit" ? '[ "$1" = prepared ] || exit 0\n' : ""}` +
      `[ -e "${dir}/block" ] || exit 0\n` +
      `while read old new ref; do\n  [ "$ref" = refs/heads/main ] || continue\n` +
      `  git log --format=%B ${range} 2>/dev/null | grep -q "reply from" || continue\n` +
      `  echo $$ > "${dir}/hook.pid"\n  read x < "${dir}/hook.fifo"\n  exit 1\ndone\nexit 0\n`,
  );
  await Deno.chmod(hookPath, 0o755);
}

Deno.test("kill -9 of an engine in the middle of a push: after a restart its reply goes out, once", async () => {
  await using dir = await tempDir();
  const { remote, roots } = await network(
    dir.path,
    ["a", "b"],
    `providers:\n  test:\n    models:\n      slow: ${agent("slow.sh")}\n`,
  );
  await installBlockingHook(join(remote, "hooks", "pre-receive"), dir.path, "receive");
  const env = { SLOW_SECONDS: "0.5" };
  const victim = await start(roots, dir.path, "a", env);
  await Deno.writeTextFile(join(dir.path, "block"), "");
  await using b = await start(roots, dir.path, "b", env);
  await using bus = await openBus(roots.b!);
  const sent = await bus.send({ to: ["slow@a"], body: "answer me across a crash" });
  const hookPid = Number(await waitUntil(() => readIfExists(join(dir.path, "hook.pid"))));
  victim.signal("SIGKILL");
  await victim.exit();
  // The push dies with the machine: its receiving hook never lets it through.
  await Deno.remove(join(dir.path, "block"));
  kill(hookPid);
  await using again = await start(roots, dir.path, "a", env);
  const replies = await bus.waitForReplies([sent], 30_000);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.from, "test/slow@a");
  await again.stop();
  await b.stop();
  assert.equal(again.count((r) => r.event === "run.start"), 0, "not run again after the restart");
  assert.equal((await bus.replies(sent)).length, 1, "exactly one reply");
  assert.equal((await git(roots.a!, "status", "--porcelain")).trim(), "");
});

Deno.test("kill -9 of an engine and its git in the middle of a commit: the restart repairs the clone and replies once", async () => {
  await using dir = await tempDir();
  const { roots } = await network(
    dir.path,
    ["a", "b"],
    `providers:\n  test:\n    models:\n      slow: ${agent("slow.sh")}\n`,
  );
  await installBlockingHook(
    join(roots.a!, ".git", "hooks", "reference-transaction"),
    dir.path,
    "commit",
  );
  const env = { SLOW_SECONDS: "0.5" };
  const victim = await start(roots, dir.path, "a", env);
  await Deno.writeTextFile(join(dir.path, "block"), "");
  await using b = await start(roots, dir.path, "b", env);
  await using bus = await openBus(roots.b!);
  const sent = await bus.send({ to: ["slow@a"], body: "answer me across a crash" });
  const hookPid = Number(await waitUntil(() => readIfExists(join(dir.path, "hook.pid"))));
  const gitPid = await parentOf(hookPid);
  // The machine dies: the engine, the git commit half done, and its hook.
  victim.signal("SIGKILL");
  kill(gitPid);
  kill(hookPid);
  await victim.exit();
  await Deno.remove(join(dir.path, "block"));
  await using again = await start(roots, dir.path, "a", env);
  const replies = await bus.waitForReplies([sent], 30_000);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.from, "test/slow@a");
  await again.stop();
  await b.stop();
  assert.ok(again.count((r) => r.event === "git.recovered") >= 1, "the restart repaired the clone");
  assert.equal((await bus.replies(sent)).length, 1, "exactly one reply");
  assert.equal((await git(roots.a!, "status", "--porcelain")).trim(), "");
});

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    const text = (await Deno.readTextFile(path)).trim();
    return text === "" ? undefined : text;
  } catch {
    return undefined;
  }
}

Deno.test("a message pinned to an alias with no running engine shows as unrouted in the status, and runs once that engine starts", async () => {
  await using dir = await tempDir();
  const { roots } = await network(
    dir.path,
    ["a", "c"],
    `providers:\n  test:\n    models:\n      reply: ${agent("reply.sh")}\n`,
  );
  await using a = await start(roots, dir.path, "a");
  await using bus = await openBus(roots.a!);
  const sent = await bus.send({ to: ["reply@c"], body: "for c, whenever it comes" });
  const { engineReport } = await import("../../engine/status.ts");
  const location = { ...bus.location, stateDir: join(dir.path, "state-a") };
  const report = await engineReport(location, bus);
  assert.deepEqual(report.unrouted?.map((u) => [u.id, u.to, u.reason]), [[
    sent.id,
    "reply@c",
    "no running engine with alias c claims test/reply",
  ]]);
  await using c = await start(roots, dir.path, "c");
  const [reply] = await bus.waitForReplies([sent], 20_000);
  assert.equal(reply!.from, "test/reply@c");
  assert.equal(a.count((r) => r.event === "run.start"), 0);
  await c.waitFor((r) => r.event === "run.replied");
  assert.deepEqual((await engineReport(location, bus)).unrouted, []);
});

Deno.test("kill -9 of the machine running a bare-addressed message: another machine takes it over, one reply", async () => {
  await using dir = await tempDir();
  const { roots } = await network(
    dir.path,
    ["a", "b"],
    `engine:\n  lease_seconds: 2\nproviders:\n  test:\n    models:\n      slow: ${
      agent("slow.sh")
    }\n`,
  );
  const env = { SLOW_SECONDS: "1" };
  const engines = [await start(roots, dir.path, "a", env), await start(roots, dir.path, "b", env)];
  try {
    await using bus = await openBus(roots.a!);
    const sent = await bus.send({ to: ["slow"], body: "whoever takes it" });
    const spawned = await Promise.any(
      engines.map((e) => e.waitFor((r) => r.event === "run.spawned", 20_000).then(() => e)),
    );
    const rescuer = engines.find((e) => e !== spawned)!;
    spawned.signal("SIGKILL");
    await spawned.exit();
    // Read where the rescuer is: the dead machine's clone no longer fetches.
    await using there = await openBus(roots[rescuer.alias]!);
    const [reply] = await there.waitForReplies([sent], 30_000);
    assert.equal(reply!.from, `test/slow@${rescuer.alias}`);
    const takeover = await rescuer.waitFor((r) => r.event === "claim.takeover");
    assert.match(String(takeover.from), new RegExp(`^${spawned.alias}@`));
    await rescuer.waitFor((r) => r.event === "run.replied");
    assert.equal((await there.replies(sent)).length, 1, "exactly one reply");
  } finally {
    for (const e of engines) await e[Symbol.asyncDispose]();
  }
});

Deno.test("a machine that hangs (SIGSTOP) while running a message: its presence goes stale and another machine takes over", async () => {
  await using dir = await tempDir();
  const { roots } = await network(
    dir.path,
    ["a", "b"],
    `engine:\n  lease_seconds: 2\nproviders:\n  test:\n    models:\n      slow: ${
      agent("slow.sh")
    }\n`,
  );
  const env = { SLOW_SECONDS: "1" };
  const engines = [await start(roots, dir.path, "a", env), await start(roots, dir.path, "b", env)];
  let frozen: EngineProcess | undefined;
  try {
    await using bus = await openBus(roots.a!);
    const sent = await bus.send({ to: ["slow"], body: "whoever takes it" });
    frozen = await Promise.any(
      engines.map((e) => e.waitFor((r) => r.event === "run.spawned", 20_000).then(() => e)),
    );
    // Its process is alive, so only its presence, no longer changing, can tell it is gone.
    frozen.signal("SIGSTOP");
    const rescuer = engines.find((e) => e !== frozen)!;
    await using there = await openBus(roots[rescuer.alias]!);
    const [reply] = await there.waitForReplies([sent], 30_000);
    assert.equal(reply!.from, `test/slow@${rescuer.alias}`);
    const takeover = await rescuer.waitFor((r) => r.event === "claim.takeover");
    assert.match(String(takeover.from), new RegExp(`^${frozen.alias}@`));
  } finally {
    frozen?.signal("SIGKILL");
    for (const e of engines) await e[Symbol.asyncDispose]();
  }
});

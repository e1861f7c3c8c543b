/**
 * Git transport benchmarks (DESIGN.md §9, issue #5): two engines on one loopback remote, send on
 * a → reply from a model on b visible in a's clone, with and without the nudge; messages per
 * commit under a burst; messages/s written into a git transport; and how many git processes one
 * exchange costs. Each figure sits beside git's own costs measured in the same run: one
 * `git add` + `git commit` of one small file, and one push + fetch round trip through a bare
 * remote on disk. Measurement only: see docs/BENCHMARKS.md.
 *
 * Run: `deno run -A scripts/bench_git.ts [--quick] [--json]` (also part of `deno task bench`).
 */
import { removeScratch, scratchDir } from "./_scratch.ts";
import { join } from "node:path";
import type { Bus } from "../engine/bus.ts";
import { EngineProcess, openBus } from "../tests/engine/_harness.ts";
import { GitTransport, type Message, scaffoldTransport } from "../transports/mod.ts";

/** p50 and p95 of a set of timings, in ms. */
export interface Summary {
  p50: number;
  p95: number;
}

/** Send → reply visible, in ms. */
export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  n: number;
  /** The `git:` settings of the run. */
  fetchMinMs: number;
  fetchMaxMs: number;
  /** p50 ÷ one hop (commit + push + fetch, p50s of the baselines). */
  hopRatioP50: number;
}

/** Git processes started during one exchange (median over the counted exchanges). */
export interface GitCalls {
  exchanges: number;
  /** Processes crosstalk starts, by who starts them: the sending process, engine a, engine b. */
  sender: number;
  a: number;
  b: number;
  total: number;
  /** Processes git itself starts under those (receive-pack, upload-pack, index-pack…). */
  children: number;
  /** Pushes, fetches and commits among `total`. */
  pushes: number;
  fetches: number;
  commits: number;
  /** Summed wall time of the processes in `total` (they partly overlap), ms. */
  gitMs: number;
  /** The wall time of the counted exchanges (with git tracing on), ms. */
  exchangeMs: number;
  /** The processes in `total` by git subcommand, in the exchange with the median total. */
  commands: Record<string, number>;
}

/** Messages written at once into one transport. */
export interface WriteRun {
  messages: number;
  writers: number;
  /** Median of the runs. */
  seconds: number;
  perSecond: number;
  commits: number;
  messagesPerCommit: number;
  runs: number;
  /** perSecond ÷ the rate of one commit per message (1000 ÷ the commit baseline's p50). */
  commitRateRatio: number;
}

/** The figures this benchmark produces. */
export interface GitBenchResult {
  baseline: {
    runs: number;
    /** `git --version`: the price of any git process. */
    spawnMs: Summary;
    /** `git add` + `git commit` of one small file in a scratch repo. */
    commitMs: Summary;
    /** `git push` of one such commit to a bare remote on disk. */
    pushMs: Summary;
    /** `git fetch` of it into another clone. */
    fetchMs: Summary;
    /** Push + fetch, summed per run. */
    roundTripMs: Summary;
    /** commit + push + fetch p50s: what one message needs at the least to reach another clone. */
    hopMs: number;
  };
  crossMachine: { nudge: Latency; poll: Latency; gitCalls: GitCalls };
  burst: WriteRun;
  ingest: WriteRun;
}

interface Params {
  baselineRuns: number;
  nudgeSamples: number;
  pollSamples: number;
  warmup: number;
  countedExchanges: number;
  burstMessages: number;
  burstRuns: number;
  ingestMessages: number;
  ingestWriters: number;
  ingestRuns: number;
}

const FULL: Params = {
  baselineRuns: 21,
  nudgeSamples: 50,
  pollSamples: 30,
  warmup: 3,
  countedExchanges: 9,
  burstMessages: 200,
  burstRuns: 3,
  ingestMessages: 1_000,
  ingestWriters: 16,
  ingestRuns: 3,
};

const QUICK: Params = {
  baselineRuns: 5,
  nudgeSamples: 4,
  pollSamples: 2,
  warmup: 1,
  countedExchanges: 1,
  burstMessages: 30,
  burstRuns: 1,
  ingestMessages: 60,
  ingestWriters: 8,
  ingestRuns: 1,
};

/** Polling slow enough that only nudges make an exchange fast. */
const NUDGE_ONLY = { fetchMinMs: 600_000, fetchMaxMs: 600_000 };
/** The defaults of crosstalk.schema.json. */
const DEFAULT_POLL = { fetchMinMs: 1_000, fetchMaxMs: 15_000 };
const REPLY_TIMEOUT_MS = 60_000;
const IDENTITY = ["-c", "user.name=crosstalk-bench", "-c", "user.email=bench@localhost"];
const BODY = "Please review the attached plan and reply with the three riskiest steps.";

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function summary(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
}

function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/** Wall-clock time in ms with sub-ms precision (comparable with git's trace2 times). */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

// Baselines -------------------------------------------------------------------------------------

async function baselines(dir: string, runs: number): Promise<GitBenchResult["baseline"]> {
  const scratch = join(dir, "scratch");
  const remote = join(dir, "remote.git");
  const pusher = join(dir, "pusher");
  const fetcher = join(dir, "fetcher");
  await Deno.mkdir(dir, { recursive: true });
  await git(dir, "init", "-q", "-b", "main", scratch);
  await git(dir, "init", "-q", "--bare", "-b", "main", remote);
  for (const clone of [pusher, fetcher]) {
    await git(dir, "init", "-q", "-b", "main", clone);
    await git(clone, "remote", "add", "origin", remote);
  }
  await Deno.writeTextFile(join(pusher, "first.md"), "first\n");
  await git(pusher, "add", "first.md");
  await git(pusher, ...IDENTITY, "commit", "-q", "-m", "first");
  await git(pusher, "push", "-q", "origin", "main");
  await git(fetcher, "fetch", "-q", "origin");

  const spawn: number[] = [];
  const commit: number[] = [];
  const push: number[] = [];
  const fetch: number[] = [];
  const roundTrip: number[] = [];
  // Two warm-up rounds, then the timed ones; the kinds take turns within each round.
  for (let i = -2; i < runs; i++) {
    const keep = i >= 0;
    const s = await timed(() => git(dir, "--version"));
    const name = `message-${i + 2}.md`;
    await Deno.writeTextFile(join(scratch, name), `${BODY}\n`);
    const c = await timed(async () => {
      await git(scratch, "add", "--", name);
      await git(scratch, ...IDENTITY, "commit", "-q", "-m", `message ${i}`);
    });
    await Deno.writeTextFile(join(pusher, name), `${BODY}\n`);
    await git(pusher, "add", "--", name);
    await git(pusher, ...IDENTITY, "commit", "-q", "-m", `message ${i}`);
    const p = await timed(() => git(pusher, "push", "-q", "origin", "main"));
    const f = await timed(() => git(fetcher, "fetch", "-q", "origin"));
    if (!keep) continue;
    spawn.push(s);
    commit.push(c);
    push.push(p);
    fetch.push(f);
    roundTrip.push(p + f);
  }
  const commitMs = summary(commit);
  const pushMs = summary(push);
  const fetchMs = summary(fetch);
  return {
    runs,
    spawnMs: summary(spawn),
    commitMs,
    pushMs,
    fetchMs,
    roundTripMs: summary(roundTrip),
    hopMs: commitMs.p50 + pushMs.p50 + fetchMs.p50,
  };
}

// Two engines on one remote ---------------------------------------------------------------------

/** A bare remote and clones for a and b; a's clone writes the config and pushes it. */
async function network(
  dir: string,
  settings: { fetchMinMs: number; fetchMaxMs: number },
  nudge: boolean,
): Promise<{ a: string; b: string }> {
  const remote = join(dir, "remote.git");
  await Deno.mkdir(dir, { recursive: true });
  await git(dir, "init", "-q", "--bare", "-b", "main", remote);
  const a = join(dir, "machine-a");
  const b = join(dir, "machine-b");
  await scaffoldTransport(a, { kind: "git", remote });
  // A model that answers at once, as in the engine benchmark: the figure is the transport's.
  const agent = join(dir, "answer.sh");
  await Deno.writeTextFile(agent, "#!/bin/sh\necho answered\n");
  await Deno.chmod(agent, 0o755);
  await Deno.writeTextFile(
    join(a, "data", "crosstalk.yaml"),
    `transport: git\ngit:\n  fetch_min_ms: ${settings.fetchMinMs}\n` +
      `  fetch_max_ms: ${settings.fetchMaxMs}\n  nudge: ${nudge}\n` +
      `providers:\n  test:\n    models:\n      reply: ${agent}\n`,
  );
  await git(a, "add", "-A");
  await git(a, ...IDENTITY, "commit", "-q", "-m", "bench config");
  await git(a, "push", "-q", "origin", "main");
  // b joins once the remote has a's transport (as `transport init --remote` would).
  await scaffoldTransport(b, { kind: "git", remote });
  return { a, b };
}

/** Starts b, then a (so that b's entry, with its API, is on the remote when a first fetches). */
async function startPair(
  dir: string,
  roots: { a: string; b: string },
  env: (alias: string) => Record<string, string> = () => ({}),
): Promise<EngineProcess[]> {
  const engines: EngineProcess[] = [];
  try {
    for (const alias of ["b", "a"] as const) {
      engines.push(
        await EngineProcess.start(roots[alias], {
          alias,
          state: join(dir, `state-${alias}`),
          env: env(alias),
        }),
      );
    }
  } catch (error) {
    for (const engine of engines) await engine.stop();
    throw error;
  }
  return engines;
}

/** One message to `reply@b` and its reply seen in a's clone; the wall times around it. */
async function exchange(bus: Bus, i: number): Promise<{ start: number; end: number }> {
  const start = wallMs();
  const sent = await bus.send({ to: ["reply@b"], body: `${BODY} (${i})` });
  const [reply] = await bus.waitForReplies([sent], REPLY_TIMEOUT_MS);
  const end = wallMs();
  if (!reply) throw new Error(`No reply to message ${i} within ${REPLY_TIMEOUT_MS} ms`);
  if (reply.from !== "test/reply@b") throw new Error(`Reply from "${reply.from}", not b`);
  return { start, end };
}

async function latency(
  dir: string,
  settings: { fetchMinMs: number; fetchMaxMs: number },
  nudge: boolean,
  samples: number,
  warmup: number,
): Promise<{ times: number[]; roots: { a: string; b: string } }> {
  const roots = await network(dir, settings, nudge);
  const engines = await startPair(dir, roots);
  const times: number[] = [];
  try {
    await using bus = await openBus(roots.a);
    for (let i = 0; i < warmup + samples; i++) {
      const { start, end } = await exchange(bus, i);
      if (i >= warmup) times.push(end - start);
    }
  } finally {
    for (const engine of engines) await engine.stop();
  }
  return { times, roots };
}

function latencyOf(
  times: number[],
  settings: { fetchMinMs: number; fetchMaxMs: number },
  hopMs: number,
): Latency {
  const sorted = [...times].sort((a, b) => a - b);
  const p50 = quantile(sorted, 0.5);
  return {
    p50,
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    n: sorted.length,
    ...settings,
    hopRatioP50: p50 / hopMs,
  };
}

/** One git process, from a trace2 event file. */
interface GitProcess {
  who: string;
  child: boolean;
  command: string;
  start: number;
  ms: number;
}

/** A trace2 time ("2026-11-22T05:55:35.101446Z", UTC, µs) in ms since the epoch. */
function traceTime(time: string): number {
  const [, seconds, fraction] = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(time) ?? [];
  return Date.parse(`${seconds}Z`) + Number(`0.${fraction ?? 0}`) * 1000;
}

/** The git processes that wrote to a GIT_TRACE2_EVENT file. */
async function readTrace(path: string, who: string): Promise<GitProcess[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const bySid = new Map<string, { start?: number; command?: string; ms?: number }>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let event: { event?: string; sid?: string; time?: string; argv?: string[]; t_abs?: number };
    try {
      event = JSON.parse(line);
    } catch {
      continue; // a line cut short by a killed process
    }
    if (!event.sid) continue;
    const entry = bySid.get(event.sid) ?? {};
    bySid.set(event.sid, entry);
    if (event.event === "start") {
      entry.start = traceTime(event.time ?? "");
      const argv = event.argv ?? [];
      // Skip `-c k=v` and `--flag` options before the subcommand.
      let at = 1;
      while (at < argv.length && argv[at]!.startsWith("-")) at += argv[at] === "-c" ? 2 : 1;
      entry.command = (argv[at] ?? argv[0] ?? "?").replace(/^git-/, "");
    } else if (event.event === "exit") {
      entry.ms = (event.t_abs ?? 0) * 1000;
    }
  }
  const out: GitProcess[] = [];
  for (const [sid, entry] of bySid) {
    if (entry.start === undefined || entry.command === undefined) continue;
    out.push({
      who,
      child: sid.includes("/"),
      command: entry.command,
      start: entry.start,
      ms: entry.ms ?? 0,
    });
  }
  return out;
}

/**
 * Restarts the nudge network's engines with git tracing on (GIT_TRACE2_EVENT, one file per side;
 * the sending process's own git commands trace too) and counts the git processes of each of a
 * few exchanges. Not timed against the targets: tracing costs a little.
 */
async function countGitCalls(
  dir: string,
  roots: { a: string; b: string },
  exchanges: number,
): Promise<GitCalls> {
  const trace = (who: string) => join(dir, `trace-${who}.json`);
  const engines = await startPair(dir, roots, (alias) => ({ GIT_TRACE2_EVENT: trace(alias) }));
  const windows: { start: number; end: number }[] = [];
  const previous = Deno.env.get("GIT_TRACE2_EVENT");
  try {
    await using bus = await openBus(roots.a);
    await exchange(bus, -1); // warm-up, untraced: keys and entries are learnt here
    Deno.env.set("GIT_TRACE2_EVENT", trace("sender"));
    try {
      for (let i = 0; i < exchanges; i++) windows.push(await exchange(bus, i));
    } finally {
      if (previous === undefined) Deno.env.delete("GIT_TRACE2_EVENT");
      else Deno.env.set("GIT_TRACE2_EVENT", previous);
    }
  } finally {
    for (const engine of engines) await engine.stop();
  }
  const all = [
    ...await readTrace(trace("sender"), "sender"),
    ...await readTrace(trace("a"), "a"),
    ...await readTrace(trace("b"), "b"),
  ];
  const per = windows.map(({ start, end }) => {
    const inside = all.filter((p) => p.start >= start && p.start <= end);
    const top = inside.filter((p) => !p.child);
    const count = (pred: (p: GitProcess) => boolean) => top.filter(pred).length;
    return {
      sender: count((p) => p.who === "sender"),
      a: count((p) => p.who === "a"),
      b: count((p) => p.who === "b"),
      total: top.length,
      children: inside.length - top.length,
      pushes: count((p) => p.command === "push"),
      fetches: count((p) => p.command === "fetch"),
      commits: count((p) => p.command === "commit"),
      gitMs: top.reduce((sum, p) => sum + p.ms, 0),
      exchangeMs: end - start,
      commands: top.reduce<Record<string, number>>((counts, p) => {
        counts[p.command] = (counts[p.command] ?? 0) + 1;
        return counts;
      }, {}),
    };
  });
  const pick = (key: Exclude<keyof (typeof per)[number], "commands">) =>
    median(per.map((p) => p[key]));
  const middle = [...per].sort((x, y) => x.total - y.total)[Math.floor((per.length - 1) / 2)]!;
  return {
    exchanges,
    sender: pick("sender"),
    a: pick("a"),
    b: pick("b"),
    total: pick("total"),
    children: pick("children"),
    pushes: pick("pushes"),
    fetches: pick("fetches"),
    commits: pick("commits"),
    gitMs: pick("gitMs"),
    exchangeMs: pick("exchangeMs"),
    commands: Object.fromEntries(Object.entries(middle.commands).sort(([, x], [, y]) => y - x)),
  };
}

// Bursts and ingest -----------------------------------------------------------------------------

/**
 * `messages` writes into a fresh git transport by `writers` concurrent writers, with background
 * commits as the engine makes them: timed until the last message is committed.
 */
async function writeRun(
  root: string,
  messages: number,
  writers: number,
): Promise<{ seconds: number; commits: number }> {
  await scaffoldTransport(root, { kind: "git" });
  await using transport = new GitTransport(root, { background: true });
  const channel = (await transport.createChannel({
    name: "bench",
    created: new Date().toISOString(),
  })).id;
  await transport.flushCommits();
  const countCommits = async () => Number((await git(root, "rev-list", "--count", "HEAD")).trim());
  const before = await countCommits();
  let next = 0;
  const written: Message[] = [];
  const writer = async () => {
    while (next < messages) {
      next++;
      written.push(
        await transport.writeMessage(channel, {
          from: "bench",
          to: ["echo"],
          timestamp: new Date().toISOString(),
          body: BODY,
        }),
      );
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: writers }, writer));
  await transport.flushCommits();
  const seconds = (performance.now() - start) / 1000;
  if (transport.commitError) throw new Error(`A commit failed: ${transport.commitError.error}`);
  if (written.length !== messages) throw new Error(`Wrote ${written.length} of ${messages}`);
  const status = (await git(root, "status", "--porcelain", "--", "data")).trim();
  if (status !== "") throw new Error(`Uncommitted after the writes:\n${status}`);
  return { seconds, commits: (await countCommits()) - before };
}

async function writeRuns(
  dir: string,
  messages: number,
  writers: number,
  runs: number,
  commitMs: number,
): Promise<WriteRun> {
  await writeRun(join(dir, "warmup"), Math.min(messages, 50), writers);
  const results = [];
  for (let i = 0; i < runs; i++) {
    results.push(await writeRun(join(dir, `run-${i}`), messages, writers));
  }
  const seconds = median(results.map((r) => r.seconds));
  const commits = median(results.map((r) => r.commits));
  const perSecond = messages / seconds;
  return {
    messages,
    writers,
    seconds,
    perSecond,
    commits,
    messagesPerCommit: messages / commits,
    runs,
    commitRateRatio: perSecond / (1000 / commitMs),
  };
}

// Running it ------------------------------------------------------------------------------------

/** Runs every git transport benchmark in temp folders. Progress goes to `log`. */
export async function benchGit(
  quick: boolean,
  log: (line: string) => void = () => {},
): Promise<GitBenchResult> {
  const params = quick ? QUICK : FULL;
  const dir = await scratchDir("crosstalk-bench-git-");
  log(`git: baselines (commit, push, fetch) with ${(await git(dir, "--version")).trim()}`);
  const baseline = await baselines(join(dir, "baseline"), params.baselineRuns);
  log("git: send on a → reply from b, with nudges");
  const nudged = await latency(
    join(dir, "nudge"),
    NUDGE_ONLY,
    true,
    params.nudgeSamples,
    params.warmup,
  );
  log("git: send on a → reply from b, polling only");
  const polled = await latency(
    join(dir, "poll"),
    DEFAULT_POLL,
    false,
    params.pollSamples,
    params.warmup,
  );
  log("git: git processes per exchange (traced)");
  const gitCalls = await countGitCalls(
    join(dir, "nudge"),
    nudged.roots,
    params.countedExchanges,
  );
  log("git: burst and ingest");
  const burst = await writeRuns(
    join(dir, "burst"),
    params.burstMessages,
    params.burstMessages,
    params.burstRuns,
    baseline.commitMs.p50,
  );
  const ingest = await writeRuns(
    join(dir, "ingest"),
    params.ingestMessages,
    params.ingestWriters,
    params.ingestRuns,
    baseline.commitMs.p50,
  );
  return {
    baseline,
    crossMachine: {
      nudge: latencyOf(nudged.times, NUDGE_ONLY, baseline.hopMs),
      poll: latencyOf(polled.times, DEFAULT_POLL, baseline.hopMs),
      gitCalls,
    },
    burst,
    ingest,
  };
}

/** The figures as a table. */
export function formatGit(r: GitBenchResult | undefined): string {
  if (!r) return "";
  const f = (x: number, digits = 1) => x.toFixed(digits);
  const b = r.baseline;
  const row = (label: string, cells: string[]) =>
    `${label.padEnd(50)}${cells.map((c) => c.padStart(9)).join(" ")}`.trimEnd();
  const { nudge, poll, gitCalls: g } = r.crossMachine;
  const writeRow = (label: string, w: WriteRun) =>
    row(label, [
      f(w.perSecond, 0),
      f(w.messagesPerCommit, 1),
      String(w.commits),
      f(w.seconds * 1000, 0),
      f(w.commitRateRatio, 2),
    ]);
  return [
    `7. The git transport (a bare remote on local disk; baselines: ${b.runs} runs)`,
    row("", ["p50 ms", "p95 ms", "p99 ms", "× hop"]),
    row("baseline: git --version (any git process)", [f(b.spawnMs.p50), f(b.spawnMs.p95)]),
    row("baseline: git add + git commit, one small file", [f(b.commitMs.p50), f(b.commitMs.p95)]),
    row("baseline: git push, one commit", [f(b.pushMs.p50), f(b.pushMs.p95)]),
    row("baseline: git fetch of it, another clone", [f(b.fetchMs.p50), f(b.fetchMs.p95)]),
    row("baseline: push + fetch round trip", [f(b.roundTripMs.p50), f(b.roundTripMs.p95)]),
    row("one hop = commit + push + fetch (p50s)", [f(b.hopMs), "", "", "1.00"]),
    row(`send on a → reply from b in a's clone, nudge (${nudge.n})`, [
      f(nudge.p50),
      f(nudge.p95),
      f(nudge.p99),
      f(nudge.hopRatioP50, 2),
    ]),
    row(`the same, polling only, fetch ${poll.fetchMinMs}-${poll.fetchMaxMs} ms (${poll.n})`, [
      f(poll.p50),
      f(poll.p95),
      f(poll.p99),
      f(poll.hopRatioP50, 2),
    ]),
    `   nudge run: fetch_min_ms = fetch_max_ms = ${nudge.fetchMinMs}, so only nudges fetch early;` +
    ` a reply needs at least 2 hops (${f(2 * b.hopMs)} ms)`,
    `   git processes per exchange (median of ${g.exchanges}, traced): ${g.total} ` +
    `(sender ${g.sender}, a ${g.a}, b ${g.b}; ${g.pushes} push, ${g.fetches} fetch, ` +
    `${g.commits} commit) + ${g.children} that git starts itself; ` +
    `${f(g.gitMs, 0)} ms of git in a ${f(g.exchangeMs, 0)} ms exchange`,
    `   by command: ${Object.entries(g.commands).map(([c, n]) => `${c} ${n}`).join(", ")}`,
    "",
    row("writes into one GitTransport (median run)", [
      "msgs/s",
      "msgs/cmt",
      "commits",
      "ms",
      "× 1/cmt",
    ]),
    writeRow(`burst: ${r.burst.messages} at once`, r.burst),
    writeRow(`ingest: ${r.ingest.messages} by ${r.ingest.writers} writers`, r.ingest),
    "   × hop: p50 ÷ one hop. × 1/cmt: msgs/s ÷ the rate of one commit per message.",
  ].join("\n");
}

if (import.meta.main) {
  try {
    const result = await benchGit(Deno.args.includes("--quick"), (line) => console.error(line));
    if (Deno.args.includes("--json")) console.log(JSON.stringify(result, null, 2));
    else console.log(formatGit(result));
  } finally {
    await removeScratch();
  }
}

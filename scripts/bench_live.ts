/**
 * Live agents at scale: 30 real `crosstalk mcp` sessions (each driven by the MCP SDK's client
 * over its stdio) on one engine, all sending at once, round after round: agent i writes to agent
 * i+1. Measured from the moment the sender's `send` tool call starts: the recipient's channel
 * notification arriving (woken) and the recipient's `read` returning the message (read, as an
 * agent that reads on every wake would). The first rounds after the engine started are timed
 * apart, as its cold start: V8 compiles the engine's paths as they first run, and those rounds
 * would otherwise make the p99 of the rest. Then the same under a steady load instead of bursts:
 * each agent sends every `period` ms, the agents' sends spread evenly over the period. The
 * baseline, in the same run, is one tool call round trip (`status`: client → MCP server →
 * engine API → back), the floor of anything an agent does.
 * Measurement only: see docs/BENCHMARKS.md.
 *
 * Run: `deno run -A scripts/bench_live.ts [--quick] [--json]` (also part of `deno task bench`).
 */
import { fileCreateMicros, removeScratch } from "./_scratch.ts";
import { McpSession } from "./_mcp_session.ts";
import { startBenchEngine } from "./_bench_engine.ts";

/** The figures this benchmark produces, in ms. */
export interface LiveBenchResult {
  agents: number;
  rounds: number;
  messages: number;
  /** One `status` tool call, client to engine and back (p50, p99). */
  toolCallMs: { p50: number; p99: number };
  /** send starts → the recipient's channel notification arrives. */
  wokenMs: { p50: number; p99: number };
  /** send starts → the recipient's read (called on the wake) returns the message. */
  readMs: { p50: number; p99: number };
  /**
   * The same two for the first rounds after the engine started, which are not in the figures
   * above: they include V8 compiling the engine's send, wake and read paths as they first run.
   */
  cold: {
    rounds: number;
    wokenMs: { p50: number; p99: number };
    readMs: { p50: number; p99: number };
  };
  /**
   * CPU time of the whole machine (every process: engine, sessions, clients, kernel) per message
   * over the rounds, from /proc/stat; undefined off Linux. A round of `agents` sends cannot end
   * before agents × this ÷ cores.
   */
  cpuPerMessageMs?: number;
  /**
   * Creating one empty file beside the engine's folder, just before the rounds (median, µs):
   * hundreds of µs instead of tens mean ext4 is skipping inodes freed nearby in the last minutes,
   * and the engine's writes pay that too (scripts/_scratch.ts).
   */
  fileCreateMicros: number;
  /** The same, split by process: engine, the `crosstalk mcp` sessions, this benchmark's clients. */
  cpuSplitMs?: { engine: number; sessions: number; clients: number };
  /** Steady loads: every agent sends every `periodMs`, spread evenly; one entry per period. */
  steady: SteadyLoad[];
  /**
   * The most memory the engine process has had resident (`VmHWM` of /proc/<pid>/status, MiB),
   * read after the steady loads; undefined off Linux.
   */
  enginePeakRssMiB?: number;
}

/** One steady load's figures. */
export interface SteadyLoad {
  periodMs: number;
  messages: number;
  /** Messages per second over all agents, as achieved. */
  perSecond: number;
  wokenMs: { p50: number; p99: number };
  readMs: { p50: number; p99: number };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function summary(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

/** Runs the benchmark against a real engine subprocess. */
export async function benchLive(
  quick: boolean,
  progress: (line: string) => void = () => {},
): Promise<LiveBenchResult> {
  const agents = quick ? 6 : 30;
  const rounds = quick ? 3 : 40;
  const coldRounds = quick ? 1 : COLD_ROUNDS;
  await using engine = await startBenchEngine("crosstalk-bench-live-");
  const { env, home } = engine;
  const sessions: McpSession[] = [];
  try {
    progress(`live: starting ${agents} MCP sessions`);
    sessions.push(
      ...await Promise.all(
        Array.from({ length: agents }, (_, i) =>
          McpSession.start(home, [
            "--containername",
            "bench",
            "--name",
            agentName(i),
            "--agent",
            "claude",
          ], { env })),
      ),
    );
    // Every session online (its wake stream connected) before anything is timed.
    for (;;) {
      const peers = await sessions[0]!.call("peers");
      if ((peers.match(/, available/g) ?? []).length >= agents) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const toolCalls: number[] = [];
    for (let i = 0; i < (quick ? 20 : 200); i++) {
      const session = sessions[i % agents]!;
      const t0 = performance.now();
      await session.call("status", { status: "available" });
      toolCalls.push(performance.now() - t0);
    }

    // The first rounds after the engine started run its send, wake and read paths for the first
    // time (V8 compiles them as they go): measured apart, as the cold start they are.
    const cold = { woken: [] as number[], read: [] as number[] };
    for (let round = 0; round < coldRounds; round++) {
      await sendRound(sessions, `cold${round}`, cold);
      progress(`live: cold round ${round + 1}/${coldRounds}`);
    }
    const createMicros = await fileCreateMicros();
    const warm = { woken: [] as number[], read: [] as number[] };
    // A session's pumps (tee and cat) are its children; the engine's children, and this
    // process's, are agents' runs and the sessions themselves: not counted with them.
    const sessionPids = sessions.flatMap((s) => withDescendants(s.transport.pid));
    const pids = { engine: [engine.pid], sessions: sessionPids, clients: [Deno.pid] };
    const processesBefore = processCpuMs(pids);
    const busyBefore = machineBusyMs();
    for (let round = 0; round < rounds; round++) {
      await sendRound(sessions, String(round), warm);
      progress(`live: round ${round + 1}/${rounds}`);
    }
    const busyAfter = machineBusyMs();
    const processesAfter = processCpuMs(pids);
    const steady: SteadyLoad[] = [];
    for (const period of STEADY_PERIODS_MS) {
      progress(`live: steady load, a message per agent every ${period} ms`);
      steady.push(await steadyLoad(sessions, quick ? 3 : 10, period));
    }
    const peakRss = peakRssMiB(engine.pid);
    return {
      agents,
      rounds,
      messages: agents * rounds,
      toolCallMs: summary(toolCalls),
      wokenMs: summary(warm.woken),
      readMs: summary(warm.read),
      fileCreateMicros: createMicros,
      cold: { rounds: coldRounds, wokenMs: summary(cold.woken), readMs: summary(cold.read) },
      ...(busyBefore === undefined || busyAfter === undefined
        ? {}
        : { cpuPerMessageMs: (busyAfter - busyBefore) / (agents * rounds) }),
      ...(processesBefore === undefined || processesAfter === undefined ? {} : {
        cpuSplitMs: {
          engine: (processesAfter.engine - processesBefore.engine) / (agents * rounds),
          sessions: (processesAfter.sessions - processesBefore.sessions) / (agents * rounds),
          clients: (processesAfter.clients - processesBefore.clients) / (agents * rounds),
        },
      }),
      steady,
      ...(peakRss === undefined ? {} : { enginePeakRssMiB: peakRss }),
    };
  } finally {
    await Promise.all(sessions.map((s) => s[Symbol.asyncDispose]().catch(() => {})));
  }
}

/**
 * CPU time of each group of processes so far, in ms (every thread), from the scheduler's
 * nanosecond counts (`/proc/<pid>/task/<tid>/schedstat`), else the 10 ms ticks of `stat`.
 */
function processCpuMs<K extends string>(
  groups: Record<K, number[]>,
): Record<K, number> | undefined {
  try {
    const out = {} as Record<K, number>;
    for (const [name, pids] of Object.entries(groups) as [K, number[]][]) {
      out[name] = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
    }
    return out;
  } catch {
    return undefined;
  }
}

/** The most memory `pid` has had resident so far, in MiB; undefined off Linux. */
function peakRssMiB(pid: number): number | undefined {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1];
    return kib === undefined ? undefined : Number(kib) / 1024;
  } catch {
    return undefined;
  }
}

/** `pid` and every process under it (Linux). */
function withDescendants(pid: number): number[] {
  const children = (() => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    } catch {
      return "";
    }
  })();
  return [pid, ...(children ? children.split(" ").map(Number).flatMap(withDescendants) : [])];
}

/** The CPU time of every thread of one process so far, in ms. */
function cpuMs(pid: number): number {
  try {
    let ns = 0;
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0]);
    }
    return ns / 1e6;
  } catch {
    // The fields after the command name, which may hold spaces: utime and stime are 12th, 13th.
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  }
}

/** CPU time spent by the whole machine so far (user, nice, system, irq, softirq), in ms. */
function machineBusyMs(): number | undefined {
  try {
    const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.trim().split(/\s+/);
    const ticks = [1, 2, 3, 6, 7].reduce((sum, i) => sum + Number(fields[i]), 0);
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * Rounds run before the timed ones, and reported apart (see {@linkcode LiveBenchResult}): about
 * 300 calls of each of the engine's send, wake and read paths, enough for V8 to have optimized
 * them; the latencies of the first rounds fall for about that long.
 */
const COLD_ROUNDS = 10;

/**
 * One round: every agent sends to the next at once; each recipient reads on its wake. Adds the
 * time from each send's start to the recipient's wake and to its read returning the message.
 */
async function sendRound(
  sessions: McpSession[],
  label: string,
  into: { woken: number[]; read: number[] },
): Promise<void> {
  const agents = sessions.length;
  const keyOf = (i: number) => `bench-${label}-${i}:`;
  const started = new Map<string, number>();
  const done = sessions.map((recipient, i) => {
    const key = keyOf((i + agents - 1) % agents);
    return timeDelivery(recipient, key, wokenBy(recipient, key), () => started.get(key)!, into);
  });
  await Promise.all(sessions.map((sender, i) => {
    const key = keyOf(i);
    started.set(key, performance.now());
    return sendNext(sender, (i + 1) % agents, key);
  }));
  await Promise.all(done);
}

/** The name of agent `i`. */
function agentName(i: number): string {
  return `agent-${String(i).padStart(2, "0")}`;
}

/** Agent `to` is sent the message that `key` marks. */
function sendNext(sender: McpSession, to: number, key: string): Promise<string> {
  return sender.call("send", {
    to: agentName(to),
    message: `${key} a message from one live agent to the next`,
  });
}

/** The recipient's wake for the message that `key` marks. */
function wokenBy(recipient: McpSession, key: string) {
  return recipient.notification((note) => String(note.params.content).includes(key), 60_000);
}

/**
 * Adds the time from `started()` to the recipient's `wake` and to its read (called on the wake)
 * returning the message that `key` marks.
 */
async function timeDelivery(
  recipient: McpSession,
  key: string,
  wake: ReturnType<typeof wokenBy>,
  started: () => number,
  into: { woken: number[]; read: number[] },
): Promise<void> {
  const n = await wake;
  into.woken.push(recipient.arrivals[recipient.notifications.indexOf(n)]! - started());
  const text = await recipient.call("read");
  if (!text.includes(key)) throw new Error(`read did not return ${key}: ${text}`);
  into.read.push(performance.now() - started());
}

/** Each agent sends once per period in the steady loads: 30 agents make 100, then 200 msg/s. */
const STEADY_PERIODS_MS = [300, 150];

/**
 * Agent i sends `perAgent` messages to agent i+1, one every `periodMs`, starting at i/n of the
 * period, so that the sends of all agents are spread evenly; each is timed to the recipient's
 * wake and to its read, as in the rounds.
 */
async function steadyLoad(
  sessions: McpSession[],
  perAgent: number,
  periodMs: number,
): Promise<SteadyLoad> {
  const agents = sessions.length;
  const timed = { woken: [] as number[], read: [] as number[] };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
  const t0 = performance.now();
  await Promise.all(sessions.map(async (sender, i) => {
    const next = (i + 1) % agents;
    const recipient = sessions[next]!;
    for (let k = 0; k < perAgent; k++) {
      await sleep(t0 + (k + i / agents) * periodMs - performance.now());
      // Unique over all loads, and ended by the colon: "…-2:" is not a prefix of "…-24:".
      const key = `steady${periodMs}-${k}-${i}:`;
      const wake = wokenBy(recipient, key);
      const started = performance.now();
      await sendNext(sender, next, key);
      await timeDelivery(recipient, key, wake, () => started, timed);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  return {
    periodMs,
    messages: timed.woken.length,
    perSecond: timed.woken.length / seconds,
    wokenMs: summary(timed.woken),
    readMs: summary(timed.read),
  };
}

/** The benchmark's lines for the report. */
export function formatLive(r: LiveBenchResult): string[] {
  const f = (ms: number) => `${ms.toFixed(1)} ms`;
  return [
    `live agents: ${r.agents} MCP sessions on one engine, ${r.rounds} rounds of all sending at once (${r.messages} messages)`,
    `  one tool call round trip (baseline)  p50 ${f(r.toolCallMs.p50)}  p99 ${f(r.toolCallMs.p99)}`,
    `  send -> recipient woken              p50 ${f(r.wokenMs.p50)}  p99 ${f(r.wokenMs.p99)}  (${
      (r.wokenMs.p99 / r.toolCallMs.p50).toFixed(1)
    }x a tool call)`,
    `  send -> recipient has read it        p50 ${f(r.readMs.p50)}  p99 ${f(r.readMs.p99)}`,
    `  ${
      r.cold.rounds === 1 ? "the round" : `the ${r.cold.rounds} rounds`
    } before those, the first after the engine started (not in the figures above):`,
    `    send -> recipient woken            p50 ${f(r.cold.wokenMs.p50)}  p99 ${
      f(r.cold.wokenMs.p99)
    }`,
    `    send -> recipient has read it      p50 ${f(r.cold.readMs.p50)}  p99 ${
      f(r.cold.readMs.p99)
    }`,
    `  creating a file beside the engine's folder: ${
      r.fileCreateMicros.toFixed(0)
    } µs (median; hundreds mean the disk skips recently freed inodes: scripts/_scratch.ts)`,
    ...(r.cpuPerMessageMs === undefined ? [] : [
      `  CPU per message, all processes: ${f(r.cpuPerMessageMs)}; a round of ${r.agents} needs ${
        f(r.cpuPerMessageMs * r.agents / navigator.hardwareConcurrency)
      } of ${navigator.hardwareConcurrency} cores`,
    ]),
    ...(r.cpuSplitMs === undefined ? [] : [
      `    of which the engine ${
        f(r.cpuSplitMs.engine)
      }, the ${r.agents} crosstalk mcp sessions (with their pumps) ${
        f(r.cpuSplitMs.sessions)
      }, this benchmark's MCP clients ${f(r.cpuSplitMs.clients)}`,
    ]),
    ...(r.enginePeakRssMiB === undefined
      ? []
      : [`  engine's peak resident memory: ${r.enginePeakRssMiB.toFixed(0)} MiB`]),
    ...r.steady.flatMap((l) => [
      `  steady: each agent sends every ${l.periodMs} ms, spread evenly (${l.messages} messages, ${
        Math.round(l.perSecond)
      } msg/s)`,
      `    send -> recipient woken            p50 ${f(l.wokenMs.p50)}  p99 ${f(l.wokenMs.p99)}`,
      `    send -> recipient has read it      p50 ${f(l.readMs.p50)}  p99 ${f(l.readMs.p99)}`,
    ]),
  ];
}

if (import.meta.main) {
  try {
    const quick = Deno.args.includes("--quick");
    const result = await benchLive(quick, (line) => console.error(line));
    console.log(
      Deno.args.includes("--json") ? JSON.stringify(result) : formatLive(result).join("\n"),
    );
  } finally {
    await removeScratch();
  }
}

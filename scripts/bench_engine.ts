/**
 * Engine benchmarks (DESIGN.md §9): send → reply visible, message written → CLI spawned, and
 * dispatch throughput with one and with three engines, each beside the cost of spawning the
 * same agent script directly, measured in the same run.
 *
 * Run: `deno run -A scripts/bench_engine.ts [--quick] [--json]` (also part of `deno task bench`).
 */
import { removeScratch, scratchDir } from "./_scratch.ts";
import { join } from "node:path";
import { Bus } from "../engine/bus.ts";
import { locateTransport } from "../engine/paths.ts";
import { BusWatcher, type Message, scaffoldTransport } from "../transports/mod.ts";

/** The figures this benchmark produces. */
export interface EngineBenchResult {
  spawnBaselineMs: { p50: number; p95: number };
  sendToReplyMs: { p50: number; p95: number; p99: number; n: number };
  /** Message written → the agent script's first line runs (its own start included). */
  wakeMs: { p50: number; p95: number; p99: number; n: number };
  /** Message written → the engine's spawn() of the CLI returned (the `at` of `run.spawned`). */
  spawnedMs: { p50: number; p95: number; p99: number; n: number };
  /** Spawning the stamping script directly until its first line runs: the floor under wakeMs. */
  wakeBaselineMs: { p50: number; p95: number };
  /** One `Bus.send` (an fsync'd atomic write) in the same channel, before the engine starts. */
  writeBaselineMs: { p50: number; p95: number };
  throughput: {
    engines: number;
    messages: number;
    seconds: number;
    perSecond: number;
    runs: number;
  }[];
}

const AGENT = `#!/bin/sh\necho "ok"\n`;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p95: quantile(s, 0.95), p99: quantile(s, 0.99), n: s.length };
}

async function setup(dir: string) {
  const root = join(dir, "bus");
  await scaffoldTransport(root, { kind: "local" });
  const agent = join(dir, "agent.sh");
  await Deno.writeTextFile(agent, AGENT);
  await Deno.chmod(agent, 0o755);
  await Deno.writeTextFile(
    join(root, "data", "crosstalk.yaml"),
    `transport: local\nengine:\n  concurrency: 8\n  model_concurrency: 8\n  loop_guard:\n    replies: 100000\n` +
      `providers:\n  bench:\n    models:\n      fast: ${agent}\n`,
  );
  return { root, agent };
}

async function spawnBaseline(agent: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Deno.Command(agent, { args: ["prompt"], stdout: "piped", stderr: "piped" }).output();
    times.push(performance.now() - t0);
  }
  return times;
}

/** Starts an engine subprocess on `root` and waits until it is ready; stderr is drained. */
async function startEngine(
  root: string,
  state: string,
  alias: string,
  env: Record<string, string> = {},
) {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      main,
      "serve",
      "--path",
      root,
      "--alias",
      alias,
      "--state",
      state,
    ],
    env: { CROSSTALK_LOG_JSON: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes('"engine.ready"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`engine ${alias} exited before it was ready:\n${text}`);
    text += value;
  }
  // Keep draining stderr so the engine never blocks on a full pipe; note when runs spawned.
  const spawned = new Map<string, number>();
  const drain = (async () => {
    let rest = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const lines = (rest + value).split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        if (!line.includes('"run.spawned"')) continue;
        const record = JSON.parse(line) as { trace: string[]; at: number };
        for (const trace of record.trace) {
          spawned.set(trace.split("/").slice(1).join("/"), record.at);
        }
      }
    }
  })();
  return {
    /** When the engine's spawn() of the run for message `id` returned (wall clock, ms). */
    spawnedAt: (id: string) => spawned.get(id),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drain;
    },
  };
}

/**
 * Latency of one message at a time, with the engine in its own process (as in real use): the
 * agent script notes the wall-clock time it starts, and this process watches for the reply.
 */
async function latency(dir: string, n: number) {
  const { root } = await setup(dir);
  const spawns = join(dir, "spawns.txt");
  const agent = join(dir, "stamp.sh");
  await Deno.writeTextFile(
    agent,
    `#!/bin/bash\nprintf '%s %s\\n' "$CROSSTALK_MESSAGE" "$EPOCHREALTIME" >> "$BENCH_SPAWNS"\necho ok\n`,
  );
  await Deno.chmod(agent, 0o755);
  await Deno.writeTextFile(
    join(root, "data", "crosstalk.yaml"),
    `transport: local\nproviders:\n  bench:\n    env:\n      BENCH_SPAWNS: "\${BENCH_SPAWNS}"\n    models:\n      fast: ${agent}\n`,
  );
  // Baseline: how long the stamping script itself takes from spawn to its first line.
  const direct: number[] = [];
  for (let i = 0; i < 25; i++) {
    const before = performance.timeOrigin + performance.now();
    await new Deno.Command(agent, {
      args: ["prompt"],
      env: { BENCH_SPAWNS: spawns, CROSSTALK_MESSAGE: `direct-${i}` },
      stdout: "null",
    }).output();
    const line = (await Deno.readTextFile(spawns)).trim().split("\n").at(-1)!;
    if (i >= 5) direct.push(Number(line.split(" ")[1]) * 1000 - before);
  }
  const location = locateTransport({ path: root, state: join(dir, "sender") }, Deno.env.toObject());
  const bus = await Bus.open(location, { env: { USER: "bench" } });
  // Baseline: the sender's own write (fsync'd), in the same channel, before any engine runs: how
  // much of send -> reply this filesystem costs right now.
  const writes: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    await bus.send({ to: ["nobody"], body: `baseline ${i}` });
    if (i >= 5) writes.push(performance.now() - t0);
  }
  const engine = await startEngine(root, join(dir, "state"), "bench", { BENCH_SPAWNS: spawns });
  const channel = (await bus.listChannels())[0]!;
  const waiting = new Map<string, (at: number) => void>();
  const watcher = new BusWatcher(bus.transport.channelsDir, async (batch) => {
    const at = performance.now();
    for (const path of batch.paths) {
      const id = path.split(`${channel.id}/`)[1];
      if (!id || !id.endsWith(".md")) continue;
      let message: Message;
      try {
        message = await bus.transport.readMessage(channel.id, id);
      } catch {
        continue;
      }
      for (const re of message.re ?? []) waiting.get(re)?.(at);
    }
  }, { mode: "events", pollIntervalMs: 0 });
  watcher.start();
  const sendToReply: number[] = [];
  const writtenAt = new Map<string, number>();
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const { promise, resolve } = Promise.withResolvers<number>();
      const sent = await bus.send({ to: ["fast"], body: `ping ${i}` });
      if (i >= 5) writtenAt.set(sent.id, performance.timeOrigin + performance.now());
      waiting.set(sent.id, resolve);
      const at = await promise;
      waiting.delete(sent.id);
      if (i >= 5) sendToReply.push(at - t0); // the first five warm up
    }
  } finally {
    await watcher.close();
    await bus[Symbol.asyncDispose]();
    await engine.stop();
  }
  const wake: number[] = [];
  for (const line of (await Deno.readTextFile(spawns)).trim().split("\n")) {
    const [id, seconds] = line.split(" ");
    const written = writtenAt.get(id!);
    if (written !== undefined) wake.push(Number(seconds) * 1000 - written);
  }
  const spawnedAfter: number[] = [];
  for (const [id, written] of writtenAt) {
    const at = engine.spawnedAt(id);
    if (at !== undefined) spawnedAfter.push(at - written);
  }
  return {
    sendToReply: stats(sendToReply),
    wake: stats(wake),
    wakeBaseline: stats(direct),
    spawned: stats(spawnedAfter),
    write: stats(writes),
  };
}

/** Dispatch throughput: `messages` sent at once, `engines` engine subprocesses sharing the bus. */
async function throughput(dir: string, engines: number, messages: number) {
  const { root } = await setup(dir);
  const children = [];
  for (let i = 0; i < engines; i++) {
    children.push(await startEngine(root, join(dir, `s${i}`), `e${i}`));
  }
  const bus = await Bus.open(locateTransport({ path: root }, Deno.env.toObject()), {
    env: { USER: "bench" },
  });
  try {
    const t0 = performance.now();
    const sent = [];
    for (let i = 0; i < messages; i++) {
      sent.push(await bus.send({ to: ["fast"], body: `job ${i}` }));
    }
    const replies = await bus.waitForReplies(sent, 300_000);
    const seconds = (performance.now() - t0) / 1000;
    const answered = new Set(replies.flatMap((r) => r.re ?? []));
    if (answered.size !== messages) {
      throw new Error(`only ${answered.size} of ${messages} answered`);
    }
    return { engines, messages, seconds, perSecond: messages / seconds, runs: replies.length };
  } finally {
    await bus[Symbol.asyncDispose]();
    for (const child of children) await child.stop();
  }
}

/** Runs every engine benchmark in temp folders. */
export async function benchEngine(quick: boolean): Promise<EngineBenchResult> {
  const n = quick ? 30 : 300;
  const dir = await scratchDir("crosstalk-bench-engine-");
  const { agent } = await setup(join(dir, "baseline"));
  const baseline = stats((await spawnBaseline(agent, n)).slice(5));
  const lat = await latency(join(dir, "latency"), n);
  const through = [];
  for (const engines of [1, 3]) {
    through.push(await throughput(join(dir, `through-${engines}`), engines, quick ? 60 : 600));
  }
  return {
    spawnBaselineMs: { p50: baseline.p50, p95: baseline.p95 },
    sendToReplyMs: lat.sendToReply,
    wakeMs: lat.wake,
    spawnedMs: lat.spawned,
    wakeBaselineMs: { p50: lat.wakeBaseline.p50, p95: lat.wakeBaseline.p95 },
    writeBaselineMs: { p50: lat.write.p50, p95: lat.write.p95 },
    throughput: through,
  };
}

/** Renders the engine figures as a table. */
export function formatEngine(result: EngineBenchResult | undefined): string {
  if (!result) return "";
  const f = (x: number) => x.toFixed(2);
  const b = result.spawnBaselineMs.p50;
  const s = result.sendToReplyMs;
  const w = result.wakeMs;
  const sp = result.spawnedMs;
  const lines = [
    `4. The engine, with an agent script that answers at once (${s.n} messages, one at a time)`,
    `                                                  p50      p95      p99   × spawn (p50)`,
    `baseline: spawn the agent script directly    ${f(b).padStart(8)} ${
      f(result.spawnBaselineMs.p95).padStart(8)
    }`,
    `send -> reply visible                        ${f(s.p50).padStart(8)} ${f(s.p95).padStart(8)} ${
      f(s.p99).padStart(8)
    } ${f(s.p50 / b).padStart(10)}`,
    `message written -> CLI spawned (engine)      ${f(sp.p50).padStart(8)} ${
      f(sp.p95).padStart(8)
    } ${f(sp.p99).padStart(8)} ${f(sp.p50 / b).padStart(10)}`,
    `message written -> the CLI's first line     ${f(w.p50).padStart(8)} ${f(w.p95).padStart(8)} ${
      f(w.p99).padStart(8)
    } ${f(w.p50 / b).padStart(10)}`,
    `baseline: spawn -> the script's first line  ${f(result.wakeBaselineMs.p50).padStart(8)} ${
      f(result.wakeBaselineMs.p95).padStart(8)
    }`,
    `baseline: Bus.send alone (fsync'd write)    ${f(result.writeBaselineMs.p50).padStart(8)} ${
      f(result.writeBaselineMs.p95).padStart(8)
    }`,
    "",
    "5. Dispatch throughput (messages sent at once, engines as subprocesses on one local folder)",
  ];
  for (const t of result.throughput) {
    lines.push(
      `${t.engines} engine(s): ${t.perSecond.toFixed(0)} msg/s (${t.messages} messages in ${
        t.seconds.toFixed(2)
      } s, ` +
        `${t.runs} batched runs; ${
          (t.perSecond * b / 1000).toFixed(2)
        } × the rate of spawning the script serially)`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  try {
    const result = await benchEngine(Deno.args.includes("--quick"));
    if (Deno.args.includes("--json")) console.log(JSON.stringify(result, null, 2));
    else console.log(formatEngine(result));
  } finally {
    await removeScratch();
  }
}

/**
 * Engine start-up: the wall time from spawning `crosstalk serve` to the first healthy
 * `GET /healthz`, beside `deno run` of an empty script in the same run (the floor under any
 * Deno program), `crosstalk server start` as a user runs it, and the resident memory of an idle
 * engine beside an idle empty Deno script. Measurement only: see docs/BENCHMARKS.md.
 *
 * "Cold" means a new process on a new transport and state dir; Deno's module cache is warm
 * (as on any machine after the first run).
 *
 * Run: `deno run -A scripts/bench_start.ts [--quick] [--json]` (also part of `deno task bench`).
 */
import { removeScratch, scratchDir } from "./_scratch.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scaffoldTransport } from "../transports/mod.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** The figures this benchmark produces, in ms and MiB. */
export interface StartBenchResult {
  runs: number;
  /** `deno run` of an empty script: spawn to exit. */
  emptyScriptMs: { p50: number; p95: number };
  /** `crosstalk serve` on a new state dir: spawn to the first 200 from /healthz. */
  serveToHealthyMs: { p50: number; p95: number };
  /** The same again on the state dir the first start left (keys and users exist). */
  restartToHealthyMs: { p50: number; p95: number };
  /** `crosstalk server start`: the command's wall time (it returns once /healthz answers). */
  serverStartMs: { p50: number; p95: number };
  /** Resident memory of an engine with an empty transport, once ready and after idling. */
  idleRssMiB: { ready: number; idle: number };
  /** Resident memory of `deno run` of a script that only waits. */
  emptyScriptRssMiB: number;
  /** How long the engine idled before the second RSS reading. */
  idleMs: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function summary(values: number[]): { p50: number; p95: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
}

/** Resident set size of a process in MiB (Linux), or NaN elsewhere. */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function env(home: string): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    XDG_DATA_HOME: join(home, "data"),
    XDG_STATE_HOME: join(home, "state"),
    DENO_DIR: Deno.env.get("DENO_DIR") ??
      join(Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`, "deno"),
    CROSSTALK_USER_MODE: "1",
    NO_COLOR: "1",
  };
}

/** Spawns `serve` and polls /healthz every 2 ms; returns the time and the running child. */
async function serveUntilHealthy(
  dir: string,
  root: string,
): Promise<{ ms: number; child: Deno.ChildProcess }> {
  const port = freePort();
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "serve", "--path", root, "--port", String(port)],
    env: env(dir),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = start + 30_000;
  while (!(await healthy(port))) {
    if (exited) throw new Error("the engine exited before it was healthy");
    if (performance.now() > deadline) throw new Error("the engine was not healthy within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return { ms: performance.now() - start, child };
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  await child.status;
}

/** Runs the start-up benchmark. */
export async function benchStart(quick: boolean): Promise<StartBenchResult> {
  const runs = quick ? 3 : 15;
  const idleMs = quick ? 200 : 5_000;
  const base = await scratchDir("crosstalk-bench-start-");
  const empty = join(base, "empty.ts");
  await Deno.writeTextFile(empty, "");
  const waiting = join(base, "wait.ts");
  await Deno.writeTextFile(waiting, "setInterval(() => {}, 1000);\n");
  const emptyTimes: number[] = [];
  const serveTimes: number[] = [];
  const restartTimes: number[] = [];
  const serverStartTimes: number[] = [];
  // Taking turns, so that drift on the machine hits each alike.
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", empty],
      stdout: "null",
      stderr: "null",
    }).output();
    emptyTimes.push(performance.now() - t0);

    const dir = join(base, `serve-${i}`);
    const root = join(dir, "bus");
    await scaffoldTransport(root, { kind: "local" });
    const first = await serveUntilHealthy(dir, root);
    serveTimes.push(first.ms);
    await stop(first.child);
    const second = await serveUntilHealthy(dir, root);
    restartTimes.push(second.ms);
    await stop(second.child);

    const userDir = join(base, `server-${i}`);
    const userRoot = join(userDir, "bus");
    await scaffoldTransport(userRoot, { kind: "local" });
    const run = (verb: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", MAIN, "server", verb, "--path", userRoot],
        env: env(userDir),
        clearEnv: true,
        stdout: "null",
        stderr: "piped",
      }).output();
    const t1 = performance.now();
    const started = await run("start");
    serverStartTimes.push(performance.now() - t1);
    if (!started.success) {
      throw new Error(`server start failed: ${new TextDecoder().decode(started.stderr)}`);
    }
    await run("stop");
  }

  const dir = join(base, "idle");
  const root = join(dir, "bus");
  await scaffoldTransport(root, { kind: "local" });
  const { child } = await serveUntilHealthy(dir, root);
  const ready = await rssMiB(child.pid);
  // Idling is what is measured here: the wait is the measurement, not a synchronisation.
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const idle = await rssMiB(child.pid);
  await stop(child);

  const waiter = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", waiting],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((resolve) => setTimeout(resolve, Math.min(idleMs, 1_000)));
  const emptyScriptRssMiB = await rssMiB(waiter.pid);
  waiter.kill("SIGKILL");
  await waiter.status;

  return {
    runs,
    emptyScriptMs: summary(emptyTimes),
    serveToHealthyMs: summary(serveTimes),
    restartToHealthyMs: summary(restartTimes),
    serverStartMs: summary(serverStartTimes),
    idleRssMiB: { ready, idle },
    emptyScriptRssMiB,
    idleMs,
  };
}

/** The figures as a table. */
export function formatStart(r: StartBenchResult): string {
  const ms = (v: number) => v.toFixed(1).padStart(8);
  const ratio = r.serveToHealthyMs.p50 / r.emptyScriptMs.p50;
  return [
    `Engine start-up (${r.runs} runs each, taking turns; new transport and state dir each run)`,
    `${"".padEnd(48)}${"p50 ms".padStart(8)}  ${"p95 ms".padStart(8)}`,
    `${"baseline: deno run of an empty script".padEnd(48)}${ms(r.emptyScriptMs.p50)}  ${
      ms(r.emptyScriptMs.p95)
    }`,
    `${"crosstalk serve, new state dir → healthy /healthz".padEnd(48)}${
      ms(r.serveToHealthyMs.p50)
    }  ${ms(r.serveToHealthyMs.p95)}`,
    `${"the same, again on the state dir it left".padEnd(48)}${ms(r.restartToHealthyMs.p50)}  ${
      ms(r.restartToHealthyMs.p95)
    }`,
    `${"crosstalk server start (returns when healthy)".padEnd(48)}${ms(r.serverStartMs.p50)}  ${
      ms(r.serverStartMs.p95)
    }`,
    `   serve → healthy ÷ empty script (p50): ${ratio.toFixed(1)}`,
    `Idle RSS: engine ${r.idleRssMiB.ready.toFixed(1)} MiB when ready, ${
      r.idleRssMiB.idle.toFixed(1)
    } MiB after ${r.idleMs / 1000} s idle; deno run of a waiting empty script ${
      r.emptyScriptRssMiB.toFixed(1)
    } MiB`,
  ].join("\n");
}

if (import.meta.main) {
  try {
    const quick = Deno.args.includes("--quick");
    const result = await benchStart(quick);
    console.log(
      Deno.args.includes("--json") ? JSON.stringify(result, null, 2) : formatStart(result),
    );
  } finally {
    await removeScratch();
  }
}

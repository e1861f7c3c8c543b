/**
 * HTTP API benchmarks: sends through the API with keep-alive and concurrent clients (beside a
 * trivial authenticated route), SSE fan-out to 100 subscribers, and the wall time of one
 * `crosstalk message send` against a running engine (beside `deno eval 1`), all in one run.
 *
 * Run: `deno run -A scripts/bench_api.ts [--quick] [--json]` (also part of `deno task bench`).
 */
import { removeScratch } from "./_scratch.ts";
import { fileURLToPath } from "node:url";
import { BENCH_USER, startBenchEngine } from "./_bench_engine.ts";

/** The figures this benchmark produces. */
export interface ApiBenchResult {
  clients: number;
  requests: number;
  trivialRoute: { perSecond: number; p50: number; p99: number };
  send: { perSecond: number; p50: number; p99: number };
  sse: { subscribers: number; p50: number; p99: number };
  cli: { sendMs: number; denoEvalMs: number };
  /**
   * The same two routes loaded by wrk (a C load generator, when it is installed), so that the
   * client's own cost (Deno's fetch takes 0.1-0.2 ms of CPU per request on the same two cores)
   * does not cap what the engine is seen to do; sends also with 32 connections.
   */
  wrk?: {
    seconds: number;
    trivialRoute: Rate;
    send: Rate;
    send32: Rate;
  };
}

/** Requests per second and latency percentiles, in ms. */
interface Rate {
  perSecond: number;
  p50: number;
  p99: number;
}

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function load(n: number, clients: number, request: () => Promise<Response>) {
  const times: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next++ < n) {
      const s = performance.now();
      const response = await request();
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      times.push(performance.now() - s);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  return {
    perSecond: times.length / seconds,
    p50: quantile(times, 0.5),
    p99: quantile(times, 0.99),
  };
}

async function wall(args: string[], env: Record<string, string>, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
    times.push(performance.now() - t0);
  }
  return quantile(times, 0.5);
}

/** Runs every API benchmark against a real engine subprocess on loopback. */
export async function benchApi(quick: boolean): Promise<ApiBenchResult> {
  await using engine = await startBenchEngine("crosstalk-bench-api-");
  const { env, url } = engine;
  const login = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(BENCH_USER),
  });
  const { token } = await login.json();
  const auth = { Authorization: `Bearer ${token}` };
  const clients = 8;
  const requests = quick ? 400 : 4000;
  // Warm up the connections and the engine's caches.
  await load(100, clients, () => fetch(`${url}/api/whoami`, { headers: auth }));
  const trivialRoute = await load(
    requests,
    clients,
    () => fetch(`${url}/api/whoami`, { headers: auth }),
  );
  const send = await load(requests, clients, () =>
    fetch(`${url}/api/messages`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        to: "someone",
        body: "a message to a person, so that no agent runs",
      }),
    }));

  // SSE fan-out: 100 subscribers, one message, how long until each has that message's event.
  // The load above leaves the engine with a backlog of events to publish, so first wait until
  // a barrier message's event comes through.
  const post = async (body: string) => {
    const response = await fetch(`${url}/api/messages`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ to: "someone", body }),
    });
    return (await response.json()).id as string;
  };
  const subscribers = 100;
  const streams: { reader: ReadableStreamDefaultReader<string>; seen: Map<string, number> }[] = [];
  const watchers: Promise<void>[] = [];
  const waiting = new Set<() => void>();
  for (let i = 0; i < subscribers; i++) {
    const response = await fetch(`${url}/api/events`, { headers: auth });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    while (!buffer.includes("event: hello")) buffer += (await reader.read()).value ?? "";
    const stream = { reader, seen: new Map<string, number>() };
    streams.push(stream);
    watchers.push((async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({
          value: undefined,
          done: true,
        }));
        if (done) return;
        const at = performance.now();
        buffer += value;
        // Every message event, by the message id in its trace.
        for (
          const match of buffer.matchAll(/event: message\ndata: .*?"trace":"[^"/]+\/([^"]+)"/g)
        ) {
          if (!stream.seen.has(match[1]!)) stream.seen.set(match[1]!, at);
        }
        buffer = buffer.slice(buffer.lastIndexOf("\n\n") + 2);
        for (const wake of waiting) wake();
      }
    })());
  }
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (done()) {
          waiting.delete(check);
          resolve();
        }
      };
      waiting.add(check);
      check();
    });
  const barrier = await post("barrier");
  await until(() => streams[0]!.seen.has(barrier));
  const sentAt = performance.now();
  const fanOut = await post("fan out");
  await until(() => streams.every((stream) => stream.seen.has(fanOut)));
  const latencies = streams.map((stream) => stream.seen.get(fanOut)! - sentAt);
  for (const stream of streams) await stream.reader.cancel();
  await Promise.all(watchers);

  const runs = quick ? 3 : 10;
  const sendMs = await wall(
    [
      "run",
      "-A",
      "--quiet",
      MAIN,
      "message",
      "send",
      "--containername",
      "bench",
      "--to",
      "someone",
      "hi",
    ],
    env,
    runs,
  );
  const denoEvalMs = await wall(["eval", "1"], env, runs);
  const wrk = quick ? undefined : await benchWithWrk(url, token, engine.home);
  return {
    clients,
    requests,
    trivialRoute,
    send,
    sse: { subscribers, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) },
    cli: { sendMs, denoEvalMs },
    ...(wrk ? { wrk } : {}),
  };
}

/** The wrk figures, or undefined when wrk is not installed. */
async function benchWithWrk(
  url: string,
  token: string,
  scratch: string,
): Promise<ApiBenchResult["wrk"]> {
  const seconds = 5;
  const script = `${scratch}/post.lua`;
  await Deno.writeTextFile(
    script,
    [
      `wrk.method = "POST"`,
      `wrk.body = '{"to":"someone","body":"a message to a person, so that no agent runs"}'`,
      `wrk.headers["Content-Type"] = "application/json"`,
      `wrk.headers["Authorization"] = "Bearer ${token}"`,
    ].join("\n"),
  );
  const run = async (connections: number, args: string[]): Promise<Rate | undefined> => {
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("wrk", {
        args: ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success || /Non-2xx/.test(text)) throw new Error(`wrk failed:\n${text}`);
    const ms = (p: string) => {
      const [, value, unit] = new RegExp(`${p}%\\s+([\\d.]+)(us|ms|s)`).exec(text)!;
      return Number(value) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : 1);
    };
    return {
      perSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)![1]),
      p50: ms("50"),
      p99: ms("99"),
    };
  };
  const trivialRoute = await run(8, ["-H", `Authorization: Bearer ${token}`, `${url}/api/whoami`]);
  if (!trivialRoute) return undefined;
  const send = (await run(8, ["-s", script, `${url}/api/messages`]))!;
  const send32 = (await run(32, ["-s", script, `${url}/api/messages`]))!;
  return { seconds, trivialRoute, send, send32 };
}

/** Renders the API figures as a table. */
export function formatApi(r: ApiBenchResult | undefined): string {
  if (!r) return "";
  const f = (x: number) => x.toFixed(2);
  return [
    `6. The HTTP API on loopback (${r.clients} keep-alive clients, ${r.requests} requests each kind)`,
    `                                              req/s       p50 ms    p99 ms`,
    `baseline: GET /api/whoami (authenticated) ${r.trivialRoute.perSecond.toFixed(0).padStart(8)} ${
      f(r.trivialRoute.p50).padStart(12)
    } ${f(r.trivialRoute.p99).padStart(9)}`,
    `POST /api/messages (local transport)      ${r.send.perSecond.toFixed(0).padStart(8)} ${
      f(r.send.p50).padStart(12)
    } ${f(r.send.p99).padStart(9)}   (${
      f(r.send.perSecond / r.trivialRoute.perSecond)
    }x the baseline's rate)`,
    `SSE fan-out to ${r.sse.subscribers} subscribers, one event: p50 ${f(r.sse.p50)} ms, p99 ${
      f(r.sse.p99)
    } ms`,
    `crosstalk message send via the engine: ${f(r.cli.sendMs)} ms wall, beside deno eval 1: ${
      f(r.cli.denoEvalMs)
    } ms (${f(r.cli.sendMs / r.cli.denoEvalMs)}x)`,
    ...(r.wrk
      ? [
        `with wrk (one C client thread, ${r.wrk.seconds} s each)      req/s       p50 ms    p99 ms`,
        ...([
          ["GET /api/whoami, 8 connections", r.wrk.trivialRoute],
          ["POST /api/messages, 8 connections", r.wrk.send],
          ["POST /api/messages, 32 connections", r.wrk.send32],
        ] as const).map(([name, rate]) =>
          `${name.padEnd(42)}${rate.perSecond.toFixed(0).padStart(8)} ${f(rate.p50).padStart(12)} ${
            f(rate.p99).padStart(9)
          }`
        ),
      ]
      : []),
  ].join("\n");
}

if (import.meta.main) {
  try {
    const result = await benchApi(Deno.args.includes("--quick"));
    console.log(Deno.args.includes("--json") ? JSON.stringify(result, null, 2) : formatApi(result));
  } finally {
    await removeScratch();
  }
}

/**
 * Samples a running Deno process's main thread through its V8 inspector and prints where the time
 * went: self time by function and by module, and how much of the time the thread was idle.
 *
 * Start the process with `--inspect=127.0.0.1:9229` (the benchmarks' engine does when
 * `CROSSTALK_BENCH_INSPECT=9229` is set), then, while it works:
 *
 * ```sh
 * deno run -A scripts/profile.ts [--port 9229] [--seconds 10] [--top 40] [--out profile.cpuprofile]
 * ```
 *
 * It waits for the port, samples every 100 µs for `--seconds` or until the process exits, and
 * can save the raw profile for Chromium's DevTools. Deno's operations (`op_fs_stat_async`…) are
 * also listed by the nearest two functions of the project up their stack, to say whose they are. Deno 2.9 has no `--cpu-prof`; this is the
 * same profiler driven over the inspector's WebSocket.
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function flag(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 && Deno.args[at + 1] !== undefined ? Deno.args[at + 1]! : fallback;
}

const port = Number(flag("port", "9229"));
const seconds = Number(flag("seconds", "10"));
const top = Number(flag("top", "40"));
const out = flag("out", "");

async function debuggerUrl(): Promise<string> {
  for (;;) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      if (list[0]?.webSocketDebuggerUrl) return list[0].webSocketDebuggerUrl;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const socket = new WebSocket(await debuggerUrl());
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = reject;
});
let nextId = 0;
const pending = new Map<number, (result: unknown) => void>();
const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (message.id !== undefined) pending.get(message.id)?.(message.result);
};
const call = (method: string, params: Record<string, unknown> = {}) =>
  new Promise<unknown>((resolve) => {
    const id = ++nextId;
    pending.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params }));
  });

await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 100 });
await call("Profiler.start");
console.error(`profiling 127.0.0.1:${port} for ${seconds} s (or until it exits)`);
let timer: ReturnType<typeof setTimeout> | undefined;
const ended = await Promise.race([
  new Promise<"time">((resolve) => timer = setTimeout(() => resolve("time"), seconds * 1000)),
  closed.then(() => "exit" as const),
]);
clearTimeout(timer);
if (ended === "exit") {
  console.error("the process exited before the profile could be taken; use a shorter --seconds");
  Deno.exit(1);
}
const { profile } = await call("Profiler.stop") as { profile: Profile };
socket.close();
if (out) await Deno.writeTextFile(out, JSON.stringify(profile));

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parentOf = new Map<number, number>();
for (const node of profile.nodes) {
  for (const child of node.children ?? []) parentOf.set(child, node.id);
}
const selfMs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
});
const total = [...selfMs.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map<string, number>();
const byModule = new Map<string, number>();
for (const [id, ms] of selfMs) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const where = url.replace(/^file:\/\/.*?\/(?=(engine|routes|transports|cli|schema)\/)/, "")
    .replace(/^.*\/node_modules\/\.deno\//, "npm:").replace(/^.*\/registry\.npmjs\.org\//, "npm:");
  const name = `${functionName || "(anonymous)"} ${where ? `${where}:${lineNumber + 1}` : ""}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  const module = where === "" ? functionName : where.replace(/:\d+$/, "");
  byModule.set(module, (byModule.get(module) ?? 0) + ms);
}
const print = (title: string, rows: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, ms] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `${(100 * ms / total).toFixed(1).padStart(6)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}`,
    );
  }
};
// Which of our own functions (engine/, routes/, transports/, cli/, schema/) the time of Deno's
// operations (op_*) was spent for: the nearest two up the stack.
const ours = (id: number) =>
  /\/(engine|routes|transports|cli|schema)\//.test(byId.get(id)!.callFrame.url);
const nameOf = (id: number) => {
  const frame = byId.get(id)!.callFrame;
  return `${frame.functionName || "(anonymous)"} ${
    frame.url.replace(/^.*\/(?=(engine|routes|transports|cli|schema)\/)/, "")
  }:${frame.lineNumber + 1}`;
};
const opCallers = new Map<string, number>();
for (const [id, ms] of selfMs) {
  if (!byId.get(id)!.callFrame.functionName.startsWith("op_")) continue;
  const callers: string[] = [];
  for (let up = parentOf.get(id); up !== undefined && callers.length < 2; up = parentOf.get(up)) {
    if (ours(up)) callers.push(nameOf(up));
  }
  const name = `${byId.get(id)!.callFrame.functionName} <- ${
    callers.length > 0 ? callers.join(" <- ") : "(no project frame)"
  }`;
  opCallers.set(name, (opCallers.get(name) ?? 0) + ms);
}
const idle = byFunction.get("(idle) ") ?? 0;
console.log(
  `${total.toFixed(0)} ms sampled, main thread busy ${(100 * (1 - idle / total)).toFixed(1)}%`,
);
print("self time by module", byModule);
print("self time by function", byFunction);
print("Deno operations by the project function that made them", opCallers);

/**
 * The engine as a background process of the user (`crosstalk server start | stop`): started
 * detached in a session of its own with its output in the state dir, known by the pid file the
 * engine holds (`<state>/engine.pid`), ready when its status file names it and its API answers
 * `/healthz`. Every wait here is bounded and polls: nothing sleeps for a fixed time.
 */
import { join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import type { EngineStatus } from "./engine.ts";
import type { Env, TransportLocation } from "./paths.ts";

/** How often a wait looks again. */
const POLL_MS = 20;

/** Where a background engine's standard output and error go. */
export function serverLogFile(stateDir: string): string {
  return join(stateDir, "logs", "server.log");
}

/**
 * The pid in `<state>/engine.pid` when that process is alive, else undefined.
 *
 * Liveness comes from `/proc` on Linux (a zombie counts as gone) and `kill -0` elsewhere.
 */
export async function livePid(stateDir: string): Promise<number | undefined> {
  const text = await Deno.readTextFile(join(stateDir, "engine.pid")).catch(() => "");
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return (await isRunning(pid)) ? pid : undefined;
}

/** True while `pid` is a running (not exited, not zombie) process. */
export async function isRunning(pid: number): Promise<boolean> {
  if (Deno.build.os === "linux") {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return state !== "Z" && state !== "X";
    } catch {
      return false;
    }
  }
  if (Deno.build.os === "windows") return true;
  const probe = await new Deno.Command("kill", {
    args: ["-0", String(pid)],
    stdout: "null",
    stderr: "null",
  }).output();
  return probe.success;
}

/** The engine's status file, or undefined. */
export async function readStatus(stateDir: string): Promise<EngineStatus | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(stateDir, "status.json"))) as EngineStatus;
  } catch {
    return undefined;
  }
}

/**
 * The URL of the engine's API from the port it wrote to the state dir, on the loopback address
 * when it listens on every address.
 */
export async function apiUrl(stateDir: string, env: Env): Promise<string | undefined> {
  const port = Number(
    (await Deno.readTextFile(join(stateDir, "api-port")).catch(() => "")).trim(),
  );
  if (!Number.isInteger(port) || port <= 0) return undefined;
  const bind = env.CROSSTALK_API_BIND ?? "127.0.0.1";
  const host = bind === "0.0.0.0" ? "127.0.0.1" : bind === "::" ? "::1" : bind;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** What `GET /healthz` answered. */
export interface Probe {
  ok: boolean;
  url: string;
  /** HTTP status, when there was an answer. */
  status?: number;
  ms: number;
  error?: string;
}

/** `GET <url>/healthz` within `timeoutMs`. */
export async function probeHealth(url: string, timeoutMs = 2_000): Promise<Probe> {
  const started = performance.now();
  const target = `${url}/healthz`;
  try {
    const response = await fetch(target, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await response.text();
    const ok = response.ok && /"ok"\s*:\s*true/.test(body);
    return { ok, url: target, status: response.status, ms: performance.now() - started };
  } catch (error) {
    return {
      ok: false,
      url: target,
      ms: performance.now() - started,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

/** Options of {@linkcode startInBackground}. */
export interface StartOptions {
  /** The command line that runs `crosstalk serve …` for this transport. */
  command: string[];
  /** The engine's environment. */
  env: Record<string, string>;
  /** How long to wait for the engine to be ready. */
  timeoutMs: number;
}

/** A started background engine. */
export interface Started {
  pid: number;
  url: string;
  logFile: string;
  /** What the engine printed so far (the first run's setup URL is in it). */
  output: string;
}

/**
 * Starts the engine detached (its own session, stdin closed, output appended to
 * {@linkcode serverLogFile}) and waits until its status file names its pid and `/healthz`
 * answers.
 *
 * @throws {CrosstalkError} `ERR_ENGINE_RUNNING` when an engine holds the state dir (checked
 *   first, and again when the new engine says so), `ERR_ENGINE_START_FAILED` when it exits before
 *   it is ready (with the end of its output), `ERR_TIMEOUT` when it is not ready in time (it is
 *   stopped then)
 */
export async function startInBackground(
  location: TransportLocation,
  options: StartOptions,
): Promise<Started> {
  const running = await livePid(location.stateDir);
  if (running !== undefined) throw alreadyRunning(location, running);
  if (Deno.build.os === "windows") {
    throw new CrosstalkError(
      "ERR_USAGE",
      "server start is not available on Windows: run `crosstalk serve` in a terminal or as a service",
    );
  }
  const logFile = serverLogFile(location.stateDir);
  await Deno.mkdir(join(location.stateDir, "logs"), { recursive: true, mode: 0o700 });
  const offset = await Deno.stat(logFile).then((s) => s.size, () => 0);
  // `exec` keeps the pid: the shell only sets up the output file and becomes the engine.
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'exec "$@" >>"$CROSSTALK_SERVER_LOG" 2>&1', "sh", ...options.command],
    env: { ...options.env, CROSSTALK_SERVER_LOG: logFile },
    clearEnv: true,
    cwd: location.stateDir,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => exited = status);
  const deadline = Date.now() + options.timeoutMs;
  while (true) {
    if (exited) {
      const output = await readFrom(logFile, offset);
      if (exited.code === 73 && /Another engine \(pid \d+\)/.test(output)) {
        const pid = Number(/Another engine \(pid (\d+)\)/.exec(output)?.[1]);
        throw alreadyRunning(location, pid);
      }
      throw new CrosstalkError(
        "ERR_ENGINE_START_FAILED",
        `The engine exited (code ${exited.code}) before it was ready; its output (${logFile}):\n${
          lastLines(output, 20)
        }`,
      );
    }
    const status = await readStatus(location.stateDir);
    if (status?.pid === child.pid && !status.stopped) {
      const url = await apiUrl(location.stateDir, options.env);
      if (url && (await probeHealth(url, 1_000)).ok) {
        return { pid: child.pid, url, logFile, output: await readFrom(logFile, offset) };
      }
    }
    if (Date.now() > deadline) {
      await stopPid(child.pid, location.stateDir, 5_000);
      throw new CrosstalkError(
        "ERR_TIMEOUT",
        `The engine (pid ${child.pid}) was not ready within ${
          Math.round(options.timeoutMs / 1000)
        } s and was stopped; its output (${logFile}):\n${
          lastLines(await readFrom(logFile, offset), 20)
        }`,
      );
    }
    await delay(POLL_MS);
  }
}

/** How a stop went. */
export interface Stopped {
  pid: number;
  /** True when SIGTERM was not enough and SIGKILL ended it. */
  killed: boolean;
}

/**
 * Sends SIGTERM to the engine holding the state dir and waits for it to exit; after
 * `timeoutMs` sends SIGKILL. Undefined when no engine runs.
 */
export async function stopInBackground(
  stateDir: string,
  timeoutMs: number,
): Promise<Stopped | undefined> {
  const pid = await livePid(stateDir);
  if (pid === undefined) return undefined;
  return { pid, killed: await stopPid(pid, stateDir, timeoutMs) };
}

/** SIGTERM, a bounded wait, then SIGKILL; returns whether SIGKILL was needed. */
async function stopPid(pid: number, stateDir: string, timeoutMs: number): Promise<boolean> {
  if (!signal(pid, "SIGTERM")) return false;
  if (await waitUntilGone(pid, stateDir, timeoutMs)) return false;
  signal(pid, "SIGKILL");
  if (!(await waitUntilGone(pid, stateDir, 5_000))) {
    throw new CrosstalkError("ERR_TIMEOUT", `The engine (pid ${pid}) did not exit after SIGKILL`);
  }
  return true;
}

/** Polls until the process is gone (or, where liveness is unknown, its pid file is). */
async function waitUntilGone(pid: number, stateDir: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() <= deadline) {
    if (!(await isRunning(pid))) return true;
    if (Deno.build.os === "windows" && (await livePid(stateDir)) !== pid) return true;
    await delay(POLL_MS);
  }
  return false;
}

function signal(pid: number, name: Deno.Signal): boolean {
  try {
    Deno.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

function alreadyRunning(location: TransportLocation, pid: number): CrosstalkError {
  return new CrosstalkError(
    "ERR_ENGINE_RUNNING",
    `An engine (pid ${pid}) is already running for "${location.root}" with the state dir "${location.stateDir}" (crosstalk server stop, or server restart)`,
  );
}

async function readFrom(path: string, offset: number): Promise<string> {
  const bytes = await Deno.readFile(path).catch(() => new Uint8Array());
  return new TextDecoder().decode(bytes.subarray(offset));
}

function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-n).join("\n") || "(nothing)";
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

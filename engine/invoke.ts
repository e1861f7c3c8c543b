/**
 * Running one agent CLI: no shell, the prompt as the last argument (on stdin above 64 KiB), its
 * own process group so that a timeout or a shutdown kills everything it started, and output
 * captured up to a cap.
 */

/** Prompts larger than this go on stdin instead of the command line. */
export const STDIN_THRESHOLD = 64 * 1024;
/** The exit code recorded for a run killed by its timeout, as `timeout(1)` does. */
export const TIMEOUT_EXIT = 124;
/** How long output is still read after the CLI exited, for what its children write last. */
const PIPE_GRACE_MS = 2_000;

/** Options for {@linkcode invoke}. */
export interface InvokeOptions {
  /** The resolved command line, without the prompt. */
  argv: string[];
  prompt: string;
  env: Record<string, string>;
  cwd: string;
  timeoutMs: number;
  /** Largest stdout or stderr kept, in bytes; the rest is counted and dropped. */
  maxOutputBytes: number;
  /** Aborting kills the process group (shutdown after the grace period). */
  signal?: AbortSignal;
  /** Called once the process exists. */
  onSpawn?: (pid: number) => void;
}

/** What a run produced. */
export interface InvokeResult {
  code: number;
  timedOut: boolean;
  aborted: boolean;
  stdout: string;
  stderr: string;
  /** Bytes dropped past the cap, per stream. */
  droppedStdout: number;
  droppedStderr: number;
  durationMs: number;
}

/**
 * Runs a CLI and waits for it.
 *
 * @throws {Deno.errors.NotFound} when the executable does not exist
 */
export async function invoke(options: InvokeOptions): Promise<InvokeResult> {
  const [cmd, ...args] = options.argv;
  if (cmd === undefined) throw new TypeError("invoke needs a command");
  // A NUL cannot travel in an argument (the spawn would fail, and with it every message of the
  // batch): the prompt goes on stdin then, where the bytes pass as they are.
  const viaStdin = options.prompt.includes("\0") ||
    new TextEncoder().encode(options.prompt).length > STDIN_THRESHOLD;
  const started = performance.now();
  const argv = viaStdin ? args : [...args, options.prompt];
  const setsid = setsidPath();
  const child = new Deno.Command(setsid ?? cmd, {
    args: setsid ? ["--", cmd, ...argv] : argv,
    cwd: options.cwd,
    env: options.env,
    clearEnv: true,
    detached: setsid === undefined && Deno.build.os !== "windows",
    stdin: viaStdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  options.onSpawn?.(child.pid);
  let timedOut = false;
  let aborted = false;
  const killGroup = () => killProcessGroup(child.pid);
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, options.timeoutMs);
  const onAbort = () => {
    aborted = true;
    killGroup();
  };
  options.signal?.addEventListener("abort", onAbort);
  if (options.signal?.aborted) onAbort();
  try {
    const stdinDone = viaStdin ? writeAll(child.stdin, options.prompt) : Promise.resolve();
    // Output is read until the pipes close, or until a grace period after the CLI exited: a
    // child that left its process group (a daemon, a language server) may hold them open for
    // good, and must neither keep the run going nor turn its answer into a timeout.
    const pipes = new AbortController();
    let grace: ReturnType<typeof setTimeout> | undefined;
    const status = child.status.then((s) => {
      clearTimeout(timer);
      // The CLI is done; anything it left running in its group goes too, or its open pipes
      // would keep us waiting.
      killGroup();
      grace = setTimeout(() => pipes.abort(), PIPE_GRACE_MS);
      return s;
    });
    const [out, err, s] = await Promise.all([
      capture(child.stdout, options.maxOutputBytes, pipes.signal),
      capture(child.stderr, options.maxOutputBytes, pipes.signal),
      status,
      stdinDone,
    ]).finally(() => clearTimeout(grace));
    if (setsid && (s.code === 126 || s.code === 127) && err.text.startsWith(SETSID_FAILED)) {
      throw spawnFailure(cmd, s.code, err.text);
    }
    return {
      code: timedOut ? TIMEOUT_EXIT : s.code,
      timedOut,
      aborted,
      stdout: out.text,
      stderr: err.text,
      droppedStdout: out.dropped,
      droppedStderr: err.dropped,
      durationMs: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Sends SIGKILL to a process group, ignoring one that is already gone; the process itself when
 * it has no group of its own yet (killed in the instant between its spawn and its `setsid`).
 */
export function killProcessGroup(pid: number, signal: Deno.Signal = "SIGKILL"): void {
  try {
    Deno.kill(Deno.build.os === "windows" ? pid : -pid, signal);
  } catch {
    try {
      Deno.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Where util-linux's `setsid` is, on Linux. Spawning the CLI through it gives the CLI a session
 * and process group of its own at the cost of one more exec (about 0.5 ms), while Deno's
 * `detached` forks the whole engine to call setsid (2 ms, and more as the engine's heap grows),
 * blocking the engine while it does.
 */
function setsidPath(): string | undefined {
  if (setsidFound === null) {
    setsidFound = undefined;
    if (Deno.build.os === "linux") {
      for (const path of ["/usr/bin/setsid", "/bin/setsid"]) {
        try {
          if (Deno.statSync(path).isFile) {
            setsidFound = path;
            break;
          }
        } catch {
          // Not here.
        }
      }
    }
  }
  return setsidFound;
}
let setsidFound: string | undefined | null = null;

/** How setsid says it could not run the command (exit 127: not found, 126: not executable). */
const SETSID_FAILED = "setsid: failed to execute ";

/** The error Deno.Command would have thrown for a CLI that cannot be executed. */
function spawnFailure(cmd: string, code: number, stderr: string): Error {
  const reason = stderr.split("\n")[0]!.split(": ").at(-1) ?? "cannot be executed";
  const message = `Failed to spawn '${cmd}': ${reason}`;
  return code === 127
    ? new Deno.errors.NotFound(message)
    : new Deno.errors.PermissionDenied(message);
}

async function writeAll(stream: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = stream.getWriter();
  try {
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
  } catch {
    // The CLI closed stdin early; what it read is what it gets.
  }
}

async function capture(
  stream: ReadableStream<Uint8Array>,
  max: number,
  signal: AbortSignal,
): Promise<{ text: string; dropped: number }> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let dropped = 0;
  const reader = stream.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  for (;;) {
    const { value: chunk, done } = await reader.read().catch(() => ({
      value: undefined,
      done: true,
    }));
    if (done || !chunk) break;
    const room = max - kept;
    if (room >= chunk.length) {
      chunks.push(chunk);
      kept += chunk.length;
    } else {
      if (room > 0) chunks.push(chunk.subarray(0, room));
      kept += Math.max(room, 0);
      dropped += chunk.length - Math.max(room, 0);
    }
  }
  signal.removeEventListener("abort", stop);
  const all = new Uint8Array(kept);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return { text: new TextDecoder().decode(all), dropped };
}

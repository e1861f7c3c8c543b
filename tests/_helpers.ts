// Shared test helpers: temp folders that clean up, and the real CLI as a subprocess.
import { fileURLToPath } from "node:url";

/** The repository's main.ts. */
export const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** A temp folder removed at the end of the scope (`await using dir = await tempDir()`). */
export async function tempDir(
  prefix = "crosstalk-test-",
): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** What a CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode runCrosstalk}. */
export interface RunOptions {
  /** A home for the run: XDG dirs and HOME point inside it, so the real home is never touched. */
  home: string;
  /** Text for standard input (default: none, stdin closed). */
  stdin?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  cwd?: string;
}

/** Runs `deno run -A main.ts <args>` as a real subprocess. */
export async function runCrosstalk(args: string[], options: RunOptions): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    cwd: options.cwd ?? options.home,
    clearEnv: true,
    env: cliEnv(options),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The environment of a CLI run in `options.home`: its own HOME and XDG folders, Deno's cache. */
export function cliEnv(options: RunOptions): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: options.home,
    USER: "tester",
    XDG_DATA_HOME: `${options.home}/.local/share`,
    XDG_STATE_HOME: `${options.home}/.local/state`,
    XDG_CONFIG_HOME: `${options.home}/.config`,
    DENO_DIR: denoDir(),
    NO_COLOR: "1",
    ...(options.env ?? {}),
  };
}

function denoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
  return `${cache}/deno`;
}

/** Runs git in `cwd` and returns its stdout; a failure fails the test with git's stderr. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(
      `git ${args.join(" ")} failed (exit ${out.code}): ${decoder.decode(out.stderr)}`,
    );
  }
  return decoder.decode(out.stdout);
}

/**
 * Polls `probe` (a file or a report of another process: nothing to await) until it returns a
 * value that is not `undefined`, `null` or `false`, and returns that value; fails after
 * `timeoutMs` with `what` in the message.
 */
export async function waitUntil<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
  what = "the condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A TCP port free on loopback now, chosen by the OS: outside the range engines pick their ports
 * from (7000 up), so that no engine of a test running beside this one takes it meanwhile.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

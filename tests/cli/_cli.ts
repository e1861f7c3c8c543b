// Helpers for the CLI integration tests: transports on disk, snapshots, git, long-running CLIs.
import { join, relative } from "node:path";
import { parse as parseYamlText } from "yaml";
import { MAIN, runCrosstalk } from "../_helpers.ts";
import type { CliResult, RunOptions } from "../_helpers.ts";

export { runCrosstalk };
export type { CliResult };

/** A message id as the CLI prints it. */
export const MESSAGE_ID_RE = /^\d{4}\/\d{2}\/\d{2}\/\d{9}Z-[0-9a-f]{8}\.md$/;

const decoder = new TextDecoder();

/** Runs the CLI and fails with everything it printed when the exit code is not `expected`. */
export async function expectCode(
  expected: number,
  args: string[],
  options: RunOptions,
): Promise<CliResult> {
  const result = await runCrosstalk(args, options);
  if (result.code !== expected) {
    throw new Error(
      `crosstalk ${args.join(" ")}: expected exit ${expected}, got ${result.code}\n` +
        `stdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result;
}

/** `transport init --path <home>/<name>`; returns the transport root. */
export async function initTransport(
  home: string,
  name: string,
  kind: "git" | "local" = "local",
): Promise<string> {
  const root = join(home, name);
  await expectCode(0, ["transport", "init", "--path", root, "--transport", kind], { home });
  return root;
}

/** The uuid of the channel named `name`, read from the CHANNEL.md files. */
export async function channelId(root: string, name: string): Promise<string> {
  const dir = join(root, "data", "channels");
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory) continue;
    const text = await Deno.readTextFile(join(dir, entry.name, "CHANNEL.md")).catch(() => "");
    if (new RegExp(`^name: ${name}$`, "m").test(text)) return entry.name;
  }
  throw new Error(`No channel named "${name}" under ${dir}`);
}

/** Every file under `dir` (relative path, sorted) with its contents, for before/after checks. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string): Promise<void> => {
    const entries = await Array.fromAsync(Deno.readDir(path));
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const full = join(path, entry.name);
      const rel = relative(dir, full);
      if (entry.isDirectory) {
        out[`${rel}/`] = "<dir>";
        await walk(full);
      } else if (entry.isSymlink) {
        out[rel] = `<link> ${await Deno.readLink(full)}`;
      } else {
        const bytes = await Deno.readFile(full);
        out[rel] = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      }
    }
  };
  await walk(dir);
  return out;
}

/** The relative paths of every file under `dir`, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  return Object.keys(await snapshot(dir)).filter((p) => !p.endsWith("/")).sort();
}

/** Copies a folder tree. */
export async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory) await copyDir(source, target);
    else await Deno.copyFile(source, target);
  }
}

/** Runs git in `cwd` with a home of its own; fails on a non-zero exit. */
export async function git(cwd: string, home: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("git", {
    args,
    cwd,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: home,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_AUTHOR_NAME: "test",
      GIT_AUTHOR_EMAIL: "test@example.com",
      GIT_COMMITTER_NAME: "test",
      GIT_COMMITTER_EMAIL: "test@example.com",
      LC_ALL: "C",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (output.code !== 0) {
    throw new Error(`git ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

/** The frontmatter of a message file, parsed, and its body. */
export async function readMessageFile(
  path: string,
): Promise<{ head: Record<string, unknown>; body: string }> {
  const text = await Deno.readTextFile(path);
  const match = /^---\n([\s\S]*?)^---\n\n?([\s\S]*)$/m.exec(text);
  if (!match) throw new Error(`Not a message file: ${path}\n${text}`);
  return { head: parseYamlText(match[1]!) as Record<string, unknown>, body: match[2]! };
}

/** The environment `runCrosstalk` gives the CLI, for processes the tests drive themselves. */
export function cliEnv(home: string): Record<string, string> {
  const explicit = Deno.env.get("DENO_DIR");
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    USER: "tester",
    XDG_DATA_HOME: `${home}/.local/share`,
    XDG_STATE_HOME: `${home}/.local/state`,
    XDG_CONFIG_HOME: `${home}/.config`,
    DENO_DIR: explicit ?? `${cache}/deno`,
    NO_COLOR: "1",
  };
}

/**
 * A long-running CLI process (e.g. `serve`) whose standard error is read line by line as it
 * comes. Dispose it to stop it (SIGTERM) and release every stream.
 */
export class RunningCli implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Everything read from standard error so far. */
  stderr = "";
  #reader: ReadableStreamDefaultReader<string>;
  #pending: Promise<ReadableStreamReadResult<string>> | undefined;
  #done = false;
  #stdout: Promise<string>;
  #status: Promise<Deno.CommandStatus> | undefined;

  constructor(args: string[], home: string) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", MAIN, ...args],
      cwd: home,
      clearEnv: true,
      env: cliEnv(home),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#reader = this.child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    this.#stdout = new Response(this.child.stdout).text();
  }

  /**
   * Reads standard error until a line matches `pattern`; returns that line. Fails after
   * `timeoutMs`, or when the process closes its standard error first.
   */
  async waitForLine(
    pattern: RegExp | ((line: string) => boolean),
    timeoutMs = 15_000,
  ): Promise<string> {
    const matches = typeof pattern === "function" ? pattern : (line: string) => pattern.test(line);
    const deadline = Date.now() + timeoutMs;
    let scanned = 0;
    while (true) {
      const lines = this.stderr.split("\n");
      for (let i = scanned; i < lines.length - 1; i++) {
        if (matches(lines[i]!)) return lines[i]!;
      }
      scanned = Math.max(0, lines.length - 1);
      if (this.#done) {
        throw new Error(`The process ended before printing ${pattern}; stderr:\n${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Timed out waiting for ${pattern}; stderr so far:\n${this.stderr}`);
      }
      this.#pending ??= this.#reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), left);
      });
      const result = await Promise.race([this.#pending, timeout]);
      clearTimeout(timer);
      if (result === "timeout") continue;
      this.#pending = undefined;
      if (result.done) this.#done = true;
      else this.stderr += result.value;
    }
  }

  /** Sends `signal` and waits for the exit; reads the rest of the output. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (this.#status) return await this.#status;
    this.#status = (async () => {
      try {
        this.child.kill(signal);
      } catch {
        // Already gone.
      }
      while (!this.#done) {
        const result = await (this.#pending ?? this.#reader.read());
        this.#pending = undefined;
        if (result.done) this.#done = true;
        else this.stderr += result.value;
      }
      this.#reader.releaseLock();
      await this.#stdout;
      return await this.child.status;
    })();
    return await this.#status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Finishes a process started with `Deno.Command(...).spawn()` and collects its output. */
export async function collect(child: Deno.ChildProcess): Promise<CliResult> {
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Starts the CLI without waiting for it (for `--wait`). */
export function spawnCrosstalk(args: string[], home: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    cwd: home,
    clearEnv: true,
    env: cliEnv(home),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

// Running git as a subprocess, never prompting, with failures as ERR_GIT_FAILED.
import { CrosstalkError } from "../schema/errors.ts";

const decoder = new TextDecoder();

/** Options for {@linkcode git}. */
export interface GitOptions {
  cwd: string;
  /** Read-only commands pass `--no-optional-locks` so they never block a writer. */
  readOnly?: boolean;
  /** Exit codes that are not failures (e.g. 1 for `git diff --quiet`). */
  okCodes?: number[];
}

/** The result of a git command. */
export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `git <args>` in `cwd`.
 *
 * @throws {CrosstalkError} `ERR_GIT_FAILED` with git's own words when it exits non-zero
 */
export async function git(args: string[], options: GitOptions): Promise<GitResult> {
  const fullArgs = options.readOnly ? ["--no-optional-locks", ...args] : args;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("git", {
      args: fullArgs,
      cwd: options.cwd,
      env: { GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "", SSH_ASKPASS: "", LC_ALL: "C" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CrosstalkError(
        "ERR_GIT_FAILED",
        "Cannot run git: it is not installed or not on PATH (install git, or use --transport local)",
      );
    }
    throw error;
  }
  const result = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (output.code !== 0 && !(options.okCodes ?? []).includes(output.code)) {
    const detail = result.stderr.trim().split("\n").slice(-3).join("; ") || `exit ${output.code}`;
    throw new CrosstalkError(
      "ERR_GIT_FAILED",
      `git ${args[0]} failed in "${options.cwd}": ${detail}`,
      { cause: new GitLockedError(/index\.lock|\.lock': File exists/.test(result.stderr)) },
    );
  }
  return result;
}

/** The cause of a git failure: whether another git process held a lock (worth a retry). */
export class GitLockedError extends Error {
  readonly locked: boolean;
  constructor(locked: boolean) {
    super(locked ? "another git process holds the lock" : "git failed");
    this.locked = locked;
  }
}

/** True when a git failure was another process holding the index lock. */
export function isLockError(error: unknown): boolean {
  return error instanceof CrosstalkError && error.cause instanceof GitLockedError &&
    error.cause.locked;
}

/** Makes sure commits in `cwd` have an author, without touching the user's global config. */
export async function ensureIdentity(cwd: string): Promise<void> {
  const email = await git(["config", "user.email"], { cwd, okCodes: [1] });
  if (email.stdout.trim() === "") {
    await git(["config", "user.email", `crosstalk@${Deno.hostname()}`], { cwd });
  }
  const name = await git(["config", "user.name"], { cwd, okCodes: [1] });
  if (name.stdout.trim() === "") await git(["config", "user.name", "crosstalk"], { cwd });
}

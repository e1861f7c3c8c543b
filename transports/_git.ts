// Running git as a subprocess, never prompting, with failures as ERR_GIT_FAILED.
import { join } from "./path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { exists } from "./_fs.ts";

const decoder = new TextDecoder();

/**
 * git never prompts: no terminal prompt, no askpass helper, ssh in batch mode (unless the user
 * chose an ssh command), and messages in English so that failures can be recognized.
 */
const GIT_ENV: Record<string, string> = {
  GIT_TERMINAL_PROMPT: "0",
  GIT_ASKPASS: "",
  SSH_ASKPASS: "",
  LC_ALL: "C",
  ...(Deno.env.get("GIT_SSH_COMMAND") ? {} : { GIT_SSH_COMMAND: "ssh -o BatchMode=yes" }),
  // No automatic gc or maintenance after each commit and fetch (a process or two each time, on
  // the message path): the engine runs `git gc --auto` itself, off the path (engine/sync.ts).
  GIT_CONFIG_COUNT: "2",
  GIT_CONFIG_KEY_0: "gc.auto",
  GIT_CONFIG_VALUE_0: "0",
  GIT_CONFIG_KEY_1: "maintenance.auto",
  GIT_CONFIG_VALUE_1: "false",
};

/** Options for {@linkcode git}. */
export interface GitOptions {
  cwd: string;
  /** Read-only commands pass `--no-optional-locks` so they never block a writer. */
  readOnly?: boolean;
  /** Exit codes that are not failures (e.g. 1 for `git diff --quiet`). */
  okCodes?: number[];
  /** Kill git after this long (network commands): a hung remote must not hang the engine. */
  timeoutMs?: number;
  /** Extra environment (e.g. `GIT_EDITOR` for a rebase). */
  env?: Record<string, string>;
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
      env: { ...GIT_ENV, ...options.env },
      stdin: "null",
      ...(options.timeoutMs ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (options.timeoutMs && error instanceof DOMException && error.name === "TimeoutError") {
      throw new CrosstalkError(
        "ERR_GIT_FAILED",
        `git ${args[0]} in "${options.cwd}" did not finish within ${options.timeoutMs} ms`,
      );
    }
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
    const detail = gitDetail(result.stderr) || `exit ${output.code}`;
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

/**
 * A lock on one working tree, shared by every crosstalk process that uses it (engines, direct
 * CLI commands): commits and syncs that change the index or the working tree run one at a time,
 * so a commit never lands in the middle of a rebase. Inside a process it is a queue; between
 * processes, an OS lock (flock) on `.git/crosstalk.lock`, which the kernel releases when its
 * holder dies: a killed process can never leave the clone locked.
 */
export class RepoLock {
  readonly path: string;
  #tail: Promise<void> = Promise.resolve();

  constructor(root: string) {
    this.path = join(root, ".git", "crosstalk.lock");
  }

  /** Runs `fn` holding the lock. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#tail = promise;
    await previous;
    try {
      using file = await Deno.open(this.path, { read: true, write: true, create: true });
      await file.lock(true);
      // Closing the file releases the lock, even when `fn` throws.
      return await fn();
    } finally {
      resolve();
    }
  }
}

/**
 * Removes git's own lock files (`index.lock`, ref locks) older than `olderThanMs`: what a git
 * process killed mid-command leaves behind, which would otherwise block every later command.
 * Call it only while holding the {@linkcode RepoLock}, so that no crosstalk git command is
 * running. Returns the paths removed.
 */
export async function removeStaleGitLocks(root: string, olderThanMs: number): Promise<string[]> {
  const gitDir = join(root, ".git");
  const candidates = [
    join(gitDir, "index.lock"),
    join(gitDir, "HEAD.lock"),
    join(gitDir, "packed-refs.lock"),
    join(gitDir, "shallow.lock"),
  ];
  const walk = async (dir: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".lock")) candidates.push(path);
    }
  };
  await walk(join(gitDir, "refs"));
  const removed: string[] = [];
  for (const path of candidates) {
    const info = await Deno.lstat(path).catch(() => undefined);
    if (!info || Date.now() - (info.mtime?.getTime() ?? 0) < olderThanMs) continue;
    await Deno.remove(path).then(() => removed.push(path), () => {});
  }
  return removed;
}

/**
 * The git processes working in `root` now (Linux: a process named `git…` whose working folder is
 * `root`), other than this one; none where it cannot look (no `/proc`).
 */
export async function gitProcessesIn(root: string): Promise<number[]> {
  const folder = await Deno.realPath(root).catch(() => root);
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir("/proc"));
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      const comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
      if (!comm.startsWith("git")) continue;
      if ((await Deno.readLink(`/proc/${pid}/cwd`)) === folder) found.push(pid);
    } catch {
      // Gone meanwhile, or another user's.
    }
  }
  return found;
}

/**
 * Waits, at most `timeoutMs`, until no git process works in `root` ({@linkcode gitProcessesIn}).
 * A git command of an engine killed with -9 goes on without it: it still writes its `index.lock`
 * and renames it into place, so a lock removed under it would let two gits write one index (and
 * leave a broken one). Returns the pids still there at the end.
 */
export async function waitForGitProcesses(root: string, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running = await gitProcessesIn(root);
    if (running.length === 0 || Date.now() >= deadline) return running;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * How long a repair waits for git commands of a crashed process to end before it goes on
 * without them (a hung one would otherwise block the clone for good).
 */
export const ORPHAN_GIT_WAIT_MS = 30_000;

/** True when a rebase is under way in `root`, or was left there by a crash. */
export async function rebaseInProgress(root: string): Promise<boolean> {
  return await exists(join(root, ".git", "rebase-merge")) ||
    await exists(join(root, ".git", "rebase-apply"));
}

/** True when a rebase or a merge is under way in `root`, or was left there by a crash. */
export async function integrationInProgress(root: string): Promise<boolean> {
  return await rebaseInProgress(root) || await exists(join(root, ".git", "MERGE_HEAD"));
}

/**
 * Aborts the rebase or merge that a crashed process left in `root`: HEAD goes back to the branch
 * as it was before, with our own commits intact (the remote's come again with the next sync).
 * Call it only while holding the {@linkcode RepoLock}: every crosstalk rebase and merge runs
 * under it, so one found then is a dead process's. Returns what it did.
 */
export async function abortInterruptedIntegration(root: string): Promise<string[]> {
  const done: string[] = [];
  if (await rebaseInProgress(root)) {
    await git(["rebase", "--abort"], { cwd: root, okCodes: [1, 128] });
    done.push("aborted an interrupted rebase");
  }
  if (await exists(join(root, ".git", "MERGE_HEAD"))) {
    await git(["merge", "--abort"], { cwd: root, okCodes: [1, 128] });
    done.push("aborted an interrupted merge");
  }
  return done;
}

/** How ssh says why it could not connect or log in. */
const SSH_REASON =
  /Permission denied|Host key verification failed|Connection refused|Connection timed out|Could not resolve hostname|No route to host|Connection closed by/;

/**
 * The telling part of git's stderr: its `fatal:`/`error:` lines and ssh's reason, else its last
 * lines.
 */
export function gitDetail(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  // git's own errors, and the transport's reason, which ssh prints without a prefix.
  const errors = lines.filter((l) => /^(fatal|error):/.test(l) || SSH_REASON.test(l));
  return (errors.length > 0 ? errors : lines).slice(-3).join("; ");
}

const SHA = /^[0-9a-f]{40}$/;

/**
 * Reads a branch ref (or `HEAD`) straight from `.git`, without starting a git process (one
 * costs milliseconds, and a sync asks often). Loose refs, then `packed-refs`; git replaces both
 * atomically (a lock file, then a rename), so a read never sees half a value. Returns undefined
 * when the ref does not exist, and null when the layout is one this does not read (a worktree,
 * a symbolic ref other than HEAD): ask git then.
 */
export async function readRef(root: string, ref: string): Promise<string | undefined | null> {
  const gitDir = join(root, ".git");
  let name = ref;
  try {
    if (ref === "HEAD") {
      const head = (await Deno.readTextFile(join(gitDir, "HEAD"))).trim();
      if (SHA.test(head)) return head;
      const symbolic = /^ref: (refs\/\S+)$/.exec(head);
      if (!symbolic) return null;
      name = symbolic[1]!;
    }
    if (!/^refs\/[A-Za-z0-9._\/-]+$/.test(name) || name.includes("..")) return null;
    try {
      const value = (await Deno.readTextFile(join(gitDir, name))).trim();
      return SHA.test(value) ? value : null;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) return null;
    }
    let packed: string;
    try {
      packed = await Deno.readTextFile(join(gitDir, "packed-refs"));
    } catch (error) {
      return error instanceof Deno.errors.NotFound ? undefined : null;
    }
    for (const line of packed.split("\n")) {
      if (line.endsWith(` ${name}`)) {
        const sha = line.slice(0, 40);
        return SHA.test(sha) ? sha : null;
      }
    }
    return undefined;
  } catch {
    return null;
  }
}

/**
 * The parents of commit `sha`, read from its loose object in `.git/objects` (zlib-deflated
 * `commit <size>\0tree …\nparent …\n…`); null when the object is not loose (packed, or in a
 * layout this does not read): ask git then. Fetches of fewer than 100 objects and new commits
 * leave loose objects, so the common ancestry questions of a sync need no git process.
 */
export async function looseParents(root: string, sha: string): Promise<string[] | null> {
  if (!SHA.test(sha)) return null;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(join(root, ".git", "objects", sha.slice(0, 2), sha.slice(2)));
  } catch {
    return null;
  }
  let text: string;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new DecompressionStream("deflate"),
    );
    text = new TextDecoder().decode(await new Response(stream).arrayBuffer());
  } catch {
    return null;
  }
  const nul = text.indexOf("\0");
  if (nul < 0 || !text.startsWith("commit ")) return null;
  const parents: string[] = [];
  for (const line of text.slice(nul + 1).split("\n")) {
    if (line === "") break; // the end of the headers
    if (line.startsWith("parent ")) {
      const parent = line.slice(7);
      if (!SHA.test(parent)) return null;
      parents.push(parent);
    }
  }
  return parents;
}

/** Which two commits {@linkcode isAncestorLoose} and {@linkcode aheadLoose} look at. */
export interface LooseWalkOptions {
  /** The older commit. */
  base: string;
  /** The newer commit, where the walk starts. */
  head: string;
  /** How many commits to read at most before asking git instead. Default 64. */
  limit?: number;
}

/**
 * Whether commit `base` is an ancestor of (or equal to) commit `head`, found by walking at most
 * `limit` commits back from `head` through loose objects; null when the walk cannot tell (a
 * packed commit on the way, or a longer history): ask git then.
 */
export async function isAncestorLoose(
  root: string,
  options: LooseWalkOptions,
): Promise<boolean | null> {
  const { base: a, head: b, limit = 64 } = options;
  if (a === b) return true;
  const seen = new Set<string>([b]);
  let frontier = [b];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const sha of frontier) {
      const parents = await looseParents(root, sha);
      if (parents === null) return null;
      for (const parent of parents) {
        if (parent === a) return true;
        if (seen.has(parent)) continue;
        if (seen.size >= limit) return null;
        seen.add(parent);
        next.push(parent);
      }
    }
    frontier = next;
  }
  return false; // the root commit was reached without meeting `a`
}

/**
 * How many commits `head` is ahead of its ancestor `base` along first parents, walking at most
 * `limit` loose commits; null when the walk cannot tell (packed, a merge, or too far): ask git.
 */
export async function aheadLoose(root: string, options: LooseWalkOptions): Promise<number | null> {
  const { base, head, limit = 64 } = options;
  let count = 0;
  for (let sha = head; sha !== base; count++) {
    if (count >= limit) return null;
    const parents = await looseParents(root, sha);
    if (parents === null || parents.length !== 1) return null;
    sha = parents[0]!;
  }
  return count;
}

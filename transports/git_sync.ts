/**
 * `GitSync`: a git transport's clone kept in step with its remote.
 *
 * - Push: our commits go to `origin`; a rejected push (someone pushed first) fetches, rebases
 *   ours on top and tries again, with jitter, a bounded number of times per sync. Messages have
 *   unique names and never conflict. Claim files can: two machines that claim the same message
 *   both add the same path, and the rebase of the later one stops on it. The rule is that the
 *   remote's version wins (the push race decides), so the loser's file now names the winner.
 * - Fetch: `refs/heads/<branch>` and every engine's presence ref; our branch fast-forwards, or
 *   rebases when we have commits of our own.
 * - The commit cursor (a small JSON file in the engine's state dir) remembers the last commit
 *   whose new files were handed on and the last remote commit seen. Files added between the
 *   cursor and the new HEAD are reported, whatever their timestamps, so a message that reaches
 *   the remote late with an older name is still found. A remote whose branch no longer contains
 *   the last commit seen was rewritten (force-pushed): that is reported, with what it removed,
 *   and only our own unpushed commits are replayed on top of it.
 * - Presence: `refs/crosstalk/presence/<alias>` on the remote points at a tiny commit outside
 *   the branch whose message says who is alive, pushed every few seconds: heartbeats travel
 *   without a commit on the bus's history.
 * - Recovery: a rebase or merge that a crash interrupted is aborted (our commits are intact in
 *   it), git lock files left by a killed git are removed, and files a crash left uncommitted are
 *   committed.
 */
import { join } from "./path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import type { GitTransport } from "./git.ts";
import { exists, writeFileAtomic } from "./_fs.ts";
import {
  abortInterruptedIntegration,
  aheadLoose,
  git,
  gitDetail,
  type GitOptions,
  type GitResult,
  isAncestorLoose,
  ORPHAN_GIT_WAIT_MS,
  readRef,
  rebaseInProgress,
  removeStaleGitLocks,
  waitForGitProcesses,
} from "./_git.ts";

/** Options for {@linkcode GitSync.open}. */
export interface GitSyncOptions {
  /** Where the commit cursor is kept (machine-local state); none: kept in memory only. */
  cursorPath?: string;
  /** The remote's name; default `origin`. */
  remote?: string;
  /** Kill a network command after this long; default 30 s. */
  networkTimeoutMs?: number;
  /** Push attempts per sync before giving up until the next one; default 8. */
  pushAttempts?: number;
  /**
   * Runs the merge or rebase that changes the working tree: git writes files in place, so the
   * engine holds its message feed meanwhile (a reader could see half a file).
   */
  guard?: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * Starts the commit cursor afresh at HEAD, forgetting what it held: for a remote that was
   * added or changed while the engine ran, which saw every commit of this clone up to now (an
   * old cursor would hand its files on again) and never saw the new remote.
   */
  fresh?: boolean;
  /**
   * Told, before a rebase re-creates our own unpushed message files (git removes and writes them
   * again: new inode, new ctime), when each arrived: its ctime or mtime before, by path relative
   * to the root. A reader that judges old files by when they arrived (the engine's feed) keeps
   * judging them by that.
   */
  onRecreating?: (arrivals: Map<string, number>) => void;
}

/**
 * A sync whose push failed (the remote refused it, or could not be reached for it) after its
 * fetch went through: `report` says what the fetch brought in, to hand on all the same.
 */
export class PushError extends CrosstalkError {
  readonly report: SyncReport;

  constructor(cause: CrosstalkError, report: SyncReport) {
    super(cause.code, cause.message, { cause });
    this.report = report;
  }
}

/** What one sync did. */
export interface SyncReport {
  /** Files that appeared between the commit cursor and the new HEAD, relative to the root. */
  added: string[];
  /** True when commits from the remote were integrated. */
  pulled: boolean;
  /** True when our commits reached the remote. */
  pushed: boolean;
  /** Commits of ours not on the remote after this sync. */
  ahead: number;
  /** Paths where the remote's version replaced ours in a rebase (lost claim races). */
  conflicts: string[];
  /** Set when the remote's branch was rewritten since the last sync. */
  rewritten?: RewriteReport;
}

/** A force-pushed or otherwise rewritten remote branch. */
export interface RewriteReport {
  /** The last remote commit seen before. */
  from: string;
  /** The remote's commit now. */
  to: string;
  /** Message files that were on the old remote and are not on the new one. */
  removed: string[];
}

/** One engine's sign of life, as published in its presence ref. */
export interface PresenceRecord {
  alias: string;
  /** The engine process's random id: a restarted engine has a new one. */
  instance: string;
  host: string;
  pid: number;
  /** When it was published, by the publisher's clock. */
  at: string;
  /** The engine's API, for nudges, when it has one. */
  api?: string;
  /** The live agents attached to it (opaque here: the engine's business). */
  agents?: Record<string, unknown>[];
  /** The usernames of its API. */
  users?: string[];
}

/** A presence as seen here. */
export interface Presence extends PresenceRecord {
  /** When it last changed, by this machine's clock (ms since epoch). */
  seenAt: number;
}

interface CursorState {
  head?: string;
  remote?: string;
}

/** What crosstalk itself writes: a crash may leave these uncommitted, never a user's edits. */
const ENGINE_WRITTEN = ["data/channels", "data/claims", "data/annotations", "data/dispatchers"];
const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const PRESENCE_PREFIX = "refs/crosstalk/presence/";
const CLAIMS_DIR = "data/claims";
const CHANNELS_DIR = "data/channels";
/** How many commits an ancestry question walks through loose objects before asking git. */
const LOOSE_WALK = 32;

/** Keeps one git transport's clone in step with its remote. */
export class GitSync {
  readonly transport: GitTransport;
  readonly remote: string;
  readonly branch: string;
  /** The remote's URL, as configured, with any password in it masked (it goes into logs). */
  readonly url: string;
  /** The remote's URL as configured when the sync was opened (see {@linkcode remoteMoved}). */
  #configured: string;
  #cursorPath: string | undefined;
  #cursor: CursorState;
  #timeoutMs: number;
  #pushAttempts: number;
  #guard: <T>(fn: () => Promise<T>) => Promise<T>;
  #onRecreating: ((arrivals: Map<string, number>) => void) | undefined;
  #presence = new Map<string, Presence & { sha: string }>();

  private constructor(
    transport: GitTransport,
    parts: {
      remote: string;
      branch: string;
      url: string;
      configured: string;
      cursor: CursorState;
    },
    options: GitSyncOptions,
  ) {
    this.transport = transport;
    this.remote = parts.remote;
    this.branch = parts.branch;
    this.url = parts.url;
    this.#configured = parts.configured;
    this.#cursor = parts.cursor;
    this.#cursorPath = options.cursorPath;
    this.#timeoutMs = options.networkTimeoutMs ?? 30_000;
    this.#pushAttempts = options.pushAttempts ?? 8;
    this.#guard = options.guard ?? ((fn) => fn());
    this.#onRecreating = options.onRecreating;
  }

  /**
   * Opens the sync of a clone, or returns undefined when it has no remote (a git transport on
   * one machine). A missing commit cursor starts at the current HEAD: an engine's first start
   * leaves history alone, as the message feed does.
   */
  static async open(
    transport: GitTransport,
    options: GitSyncOptions,
  ): Promise<GitSync | undefined> {
    const remote = options.remote ?? "origin";
    const cwd = transport.root;
    const configured = await remoteUrl(cwd, remote);
    if (!configured) return undefined;
    const url = redactUrl(configured);
    const branch = (await git(["symbolic-ref", "--short", "-q", "HEAD"], { cwd, okCodes: [1] }))
      .stdout.trim() || "main";
    let cursor: CursorState = {};
    try {
      if (options.cursorPath && !options.fresh) {
        cursor = JSON.parse(await Deno.readTextFile(options.cursorPath)) as CursorState;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) && !(error instanceof SyntaxError)) throw error;
    }
    const sync = new GitSync(
      transport,
      { remote, branch, url, configured, cursor },
      options,
    );
    if (!cursor.head) {
      const head = await sync.#revParse("HEAD");
      if (head) sync.#cursor.head = head;
      await sync.#saveCursor();
    }
    return sync;
  }

  /**
   * Puts the clone back in a usable state after a crash: aborts an interrupted rebase or
   * merge, removes stale git locks, and commits files left uncommitted. Returns what it did.
   */
  recover(): Promise<string[]> {
    return recoverGitClone(this.transport);
  }

  /**
   * Pushes our commits once, without fetching or touching the working tree (safe beside a
   * running engine): what a direct CLI command does after writing. Returns false when the
   * remote has commits we lack (an engine merges them at its next sync).
   *
   * @throws {CrosstalkError} `ERR_GIT_FAILED` when the remote cannot be reached
   */
  async pushOnly(): Promise<boolean> {
    return await this.#ahead() === 0 || await this.#push();
  }

  /**
   * Packs loose objects when git thinks it is time (`gc --auto`, which every other git command
   * here is told not to run: it would sit on the message path).
   */
  housekeep(): Promise<void> {
    return this.transport.lock.run(async () => {
      await git(["gc", "--auto", "--quiet"], {
        cwd: this.transport.root,
        env: { GIT_CONFIG_COUNT: "0" }, // git's own gc.auto threshold, not the "never" of others
      });
    });
  }

  /** Publishes this engine's presence (outside the branch: no commit on the bus). */
  publishPresence(record: PresenceRecord): Promise<void> {
    return (async () => {
      const cwd = this.transport.root;
      await git(["mktree"], { cwd }); // makes sure the empty tree object exists
      const sha = (await git(["commit-tree", EMPTY_TREE, "-m", JSON.stringify(record)], {
        cwd,
      })).stdout.trim();
      const ref = `${PRESENCE_PREFIX}${record.alias}`;
      await git(["update-ref", ref, sha], { cwd });
      await this.#network(["push", "-q", "--no-verify", this.remote, `+${sha}:${ref}`]);
    })();
  }

  /** Removes this engine's presence (a clean stop). */
  withdrawPresence(alias: string): Promise<void> {
    return (async () => {
      const cwd = this.transport.root;
      const ref = `${PRESENCE_PREFIX}${alias}`;
      await git(["update-ref", "-d", ref], { cwd, okCodes: [1] });
      await this.#network(["push", "-q", "--no-verify", this.remote, `:${ref}`], [1]);
    })();
  }

  /** Every engine's presence as last fetched, by alias. */
  async presence(): Promise<Map<string, Presence>> {
    const now = Date.now();
    const seen = new Map<string, Presence & { sha: string }>();
    for (const record of await readPresenceRefs(this.transport.root)) {
      const known = this.#presence.get(record.alias);
      const seenAt = known?.sha === record.sha
        ? known.seenAt
        : known
        ? now
        : Math.min(now, Date.parse(record.at) || 0);
      seen.set(record.alias, { ...record, seenAt });
    }
    this.#presence = seen;
    return new Map(seen);
  }

  /**
   * True when the clone's remote no longer names what this sync was opened on (removed, or set
   * to another URL, as `crosstalk transport remote rm` and `set` do); undefined when git cannot
   * say.
   */
  async remoteMoved(): Promise<boolean | undefined> {
    const out = await git(["config", "--get", `remote.${this.remote}.url`], {
      cwd: this.transport.root,
      okCodes: [1],
    }).catch(() => undefined);
    return out === undefined ? undefined : out.stdout.trim() !== this.#configured;
  }

  /**
   * Brings the clone and the remote together: with `push`, our commits are pushed first (one
   * round trip when nobody else pushed); a rejected push, or `fetch`, fetches and integrates.
   *
   * @throws {CrosstalkError} `ERR_GIT_FAILED` when the remote cannot be reached or refuses; a
   *   {@linkcode PushError} (with what the fetch brought in) when only the push failed
   */
  async sync(
    options: { push?: boolean; fetch?: boolean; onPushed?: () => void } = {},
  ): Promise<SyncReport> {
    const report: SyncReport = { added: [], pulled: false, pushed: false, ahead: 0, conflicts: [] };
    let fetched = false;
    if (options.fetch || !options.push) {
      await this.#fetchAndIntegrate(report);
      fetched = true;
    }
    let pushFailure: CrosstalkError | undefined;
    if (options.push) {
      try {
        await this.#pushLoop(report, fetched, options.onPushed);
      } catch (error) {
        // What the fetch brought in is handed on all the same (below): a remote that refuses
        // our pushes (a hook, a read-only key) must not hold back everyone else's messages.
        if (!(error instanceof CrosstalkError)) throw error;
        pushFailure = error;
      }
    }
    {
      report.ahead = await this.#ahead();
      const [head, remote] = await this.#revParseAll(["HEAD", this.#trackingRef]);
      if (head && head !== this.#cursor.head) {
        if (this.#cursor.head) {
          report.added.push(...await this.#addedSince(this.#cursor.head, head));
        }
        this.#cursor.head = head;
      }
      if (remote && !pushFailure) this.#cursor.remote = remote;
      await this.#saveCursor();
    }
    if (pushFailure) throw new PushError(pushFailure, report);
    return report;
  }

  async #pushLoop(
    report: SyncReport,
    alreadyFetched: boolean,
    onPushed: (() => void) | undefined,
  ): Promise<void> {
    let fetched = alreadyFetched;
    for (let attempt = 1;; attempt++) {
      const pushed = await this.#ahead() === 0 ? undefined : await this.#push();
      if (pushed === undefined) break;
      if (pushed) {
        report.pushed = true;
        // The peers may fetch now: the bookkeeping after this is for this clone only.
        onPushed?.();
        break;
      }
      if (attempt >= this.#pushAttempts) break;
      // Someone pushed first: take theirs, put ours on top, try again after a little jitter.
      if (fetched || attempt > 1) {
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
      }
      await this.#fetchAndIntegrate(report);
      fetched = true;
    }
  }

  /**
   * Only the steps that change the index or the working tree hold the repository lock; fetches
   * and pushes touch refs alone and leave commits free to go on. A step that changes the working
   * tree takes the guard first, then the lock: the guard waits for the message feed, which may
   * be waiting for a commit, which needs the lock.
   */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.transport.lock.run(fn);
  }

  get #trackingRef(): string {
    return `refs/remotes/${this.remote}/${this.branch}`;
  }

  async #fetchAndIntegrate(report: SyncReport): Promise<void> {
    const fetched = await this.#fetch(report);
    if (!fetched) return;
    await this.#integrate(fetched, report);
    // Only now: a rewrite whose integration failed must be seen again by the next sync (or it
    // would push the removed history back).
    this.#cursor.remote = fetched.remote;
  }

  async #integrate(
    fetched: { remote: string; onto?: string; head?: string; base?: string },
    report: SyncReport,
  ): Promise<void> {
    const { remote, onto } = fetched;
    await this.#guard(() =>
      this.#locked(async () => {
        const head = await this.#revParse("HEAD");
        if (head === remote) return;
        // One merge-base tells all three cases: nothing new, a fast-forward, or a rebase (the
        // fetch's own, unless a commit landed since).
        const base = onto || !head
          ? undefined
          : head === fetched.head
          ? fetched.base
          : await this.#mergeBase(head, remote);
        if (base !== undefined && base === remote) return;
        await this.#givingWay(remote, report, async () => {
          if (base !== undefined && base === head) {
            await git(["merge", "-q", "--ff-only", remote], { cwd: this.transport.root });
          } else {
            await this.#tellRecreating(onto ?? base);
            await this.#rebase(remote, onto, report);
          }
        });
        report.pulled = true;
      })
    );
  }

  /**
   * Before a rebase of our commits since `from`: tells {@linkcode GitSyncOptions.onRecreating}
   * when each message file they added arrived (one git process more per rebase).
   */
  async #tellRecreating(from: string | undefined): Promise<void> {
    if (!this.#onRecreating || from === undefined) return;
    const cwd = this.transport.root;
    const out = await git(
      [
        "diff",
        "--name-only",
        "-z",
        "--no-renames",
        "--diff-filter=A",
        from,
        "HEAD",
        "--",
        CHANNELS_DIR,
      ],
      { cwd, readOnly: true },
    );
    const arrivals = new Map<string, number>();
    for (const path of out.stdout.split("\0")) {
      if (!path.endsWith(".md")) continue;
      const info = await Deno.stat(join(cwd, path)).catch(() => undefined);
      if (info) {
        arrivals.set(path, Math.max(info.ctime?.getTime() ?? 0, info.mtime?.getTime() ?? 0));
      }
    }
    if (arrivals.size > 0) this.#onRecreating(arrivals);
  }

  /** Fetches; returns the remote's commit and, after a rewrite, where our own commits start. */
  async #fetch(
    report: SyncReport,
  ): Promise<{ remote: string; onto?: string; head?: string; base?: string } | undefined> {
    const presence = `+${PRESENCE_PREFIX}*:${PRESENCE_PREFIX}*`;
    const fetched = await this.#network([
      "fetch",
      "-q",
      "--no-tags",
      "--prune",
      this.remote,
      `+refs/heads/${this.branch}:${this.#trackingRef}`,
      presence,
    ], [128]);
    if (fetched.code === 128) {
      // A remote without our branch, on which this sync never saw it (one just added, empty):
      // the first push creates it. A branch seen before and gone now is an error, left for a
      // person to look at.
      const missing = /couldn't find remote ref refs\/heads\//.test(fetched.stderr) &&
        this.#cursor.remote === undefined;
      if (!missing) {
        throw new CrosstalkError(
          "ERR_GIT_FAILED",
          `Cannot reach the remote ${this.remote} (${this.url}): git fetch failed in "${this.transport.root}": ${
            gitDetail(fetched.stderr) || "exit 128"
          }`,
        );
      }
      await this.#network(["fetch", "-q", "--no-tags", "--prune", this.remote, presence]);
      // A tracking ref left by the remote `origin` named before would make the push expect that
      // remote's branch here: the push must create the branch.
      await git(["update-ref", "-d", this.#trackingRef], {
        cwd: this.transport.root,
        okCodes: [1],
      });
      return undefined;
    }
    const remote = await this.#revParse(this.#trackingRef);
    if (!remote) return undefined; // An empty remote: the first push creates the branch.
    const last = this.#cursor.remote;
    let onto: string | undefined;
    if (last && last !== remote && !(await this.#isAncestor(last, remote))) {
      report.rewritten = {
        from: last,
        to: remote,
        removed: await this.#removedBetween(last, remote),
      };
      // Replay only what we committed after the last remote commit we had: the rewrite's
      // removals are not undone by pushing the old history back.
      if (await this.#isAncestor(last, "HEAD")) onto = last;
    }
    const head = await this.#revParse("HEAD");
    if (onto || !head) return onto ? { remote, onto } : { remote };
    const base = head === remote ? remote : await this.#mergeBase(head, remote);
    if (base === remote) {
      // Nothing to integrate: the remote is seen.
      this.#cursor.remote = remote;
      return undefined;
    }
    return base === undefined ? { remote, head } : { remote, head, base };
  }

  /**
   * Runs a merge or rebase onto `remote`. Claim files are created before they are committed, so
   * one that lost its race may still be uncommitted when the winner's arrives, and git refuses
   * to overwrite an untracked file: such a file gives way to the remote's version, as a
   * committed one does in a rebase conflict, and the integration is tried again.
   */
  async #givingWay(remote: string, report: SyncReport, integrate: () => Promise<void>) {
    for (let round = 1;; round++) {
      try {
        return await integrate();
      } catch (error) {
        const inTheWay = round < 4 ? await this.#untrackedClaimsIn(remote) : [];
        if (inTheWay.length === 0) throw error;
        for (const path of inTheWay) {
          await Deno.remove(join(this.transport.root, path)).catch(() => {});
          report.conflicts.push(path);
        }
      }
    }
  }

  /** Uncommitted claim files here whose path the remote's tree holds. */
  async #untrackedClaimsIn(remote: string): Promise<string[]> {
    const cwd = this.transport.root;
    const untracked = (await git(["ls-files", "-o", "-z", "--", CLAIMS_DIR], { cwd })).stdout
      .split("\0").filter((p) => p !== "");
    if (untracked.length === 0) return [];
    const out = await git(["ls-tree", "-z", "--name-only", remote, "--", ...untracked], { cwd });
    return out.stdout.split("\0").filter((p) => p !== "");
  }

  /** Rebases our commits onto `remote`; in a conflict, the remote's version of a file wins. */
  async #rebase(remote: string, upstream: string | undefined, report: SyncReport): Promise<void> {
    const cwd = this.transport.root;
    const env = { GIT_EDITOR: "true" };
    const args = upstream ? ["rebase", "-q", "--onto", remote, upstream] : ["rebase", "-q", remote];
    let result = await git(args, { cwd, env, okCodes: [1] });
    for (let round = 0; result.code !== 0; round++) {
      const conflicted = (await git(["diff", "--name-only", "-z", "--diff-filter=U"], { cwd }))
        .stdout.split("\0").filter((p) => p !== "");
      if (!(await rebaseInProgress(cwd)) || conflicted.length === 0 || round > 1000) {
        if (await rebaseInProgress(cwd)) {
          await git(["rebase", "--abort"], { cwd, okCodes: [1, 128] });
        }
        throw new CrosstalkError(
          "ERR_GIT_FAILED",
          `Could not rebase onto ${this.remote}/${this.branch}: ${
            (result.stderr || result.stdout).trim().split("\n").slice(-3).join("; ")
          }`,
        );
      }
      for (const path of conflicted) {
        // In a rebase, "ours" is the branch being rebased onto: the remote.
        const stages = (await git(["ls-files", "-u", "-z", "--", path], { cwd })).stdout;
        if (/^\d+ [0-9a-f]+ 2\t/m.test(stages.replaceAll("\0", "\n"))) {
          await git(["checkout", "--ours", "--", path], { cwd });
          await git(["add", "--", path], { cwd });
          report.conflicts.push(path);
        } else if (await this.#addedByReplayed(path)) {
          // Not on the remote, and new in our commit: git paired it with a file the remote
          // removed (leases have the same content, so closing one claim and taking another
          // looks like a rename). Nothing of the remote's is at stake: ours stays.
          await git(["checkout", "--theirs", "--", path], { cwd });
          await git(["add", "--", path], { cwd });
        } else {
          // Ours changed a file the remote removed: the remote's removal wins.
          await git(["rm", "-q", "--", path], { cwd });
          report.conflicts.push(path);
        }
      }
      result = await git(["rebase", "--continue"], { cwd, env, okCodes: [1] });
    }
  }

  /** True when the commit a rebase is replaying adds `path` (its parent has no such file). */
  async #addedByReplayed(path: string): Promise<boolean> {
    const cwd = this.transport.root;
    const inParent = await git(["cat-file", "-e", `REBASE_HEAD^:${path}`], {
      cwd,
      okCodes: [1, 128],
    });
    const inCommit = await git(["cat-file", "-e", `REBASE_HEAD:${path}`], {
      cwd,
      okCodes: [1, 128],
    });
    return inParent.code !== 0 && inCommit.code === 0;
  }

  /** Pushes HEAD to the remote branch; false when the remote has commits we lack. */
  async #push(): Promise<boolean> {
    // Compare and swap: the remote must still be where we last saw it. A plain fast-forward
    // check would let us push old history back onto a remote that was rewritten meanwhile.
    const expected = (await this.#revParse(this.#trackingRef)) ?? "";
    // A commit may land while the push runs: push, and record as pushed, this commit only.
    const head = await this.#revParse("HEAD");
    if (!head) return true;
    // The lease lets the push rewind the branch, so it must be the remote's history plus ours:
    // a clone whose last integration failed would otherwise push the remote's new commits
    // (another machine's messages and winning claims) away, or a rewrite's removals back. It
    // integrates first.
    const integrated = this.#cursor.remote === undefined || this.#cursor.remote === expected;
    if (expected && (!integrated || !(await this.#isAncestor(expected, head)))) return false;
    const result = await this.#network([
      "push",
      "--porcelain",
      "--no-verify",
      `--force-with-lease=refs/heads/${this.branch}:${expected}`,
      this.remote,
      `${head}:refs/heads/${this.branch}`,
    ], [1]);
    if (result.code === 0) {
      // The push moved the remote: our tracking ref follows without a fetch.
      await git(["update-ref", this.#trackingRef, head], { cwd: this.transport.root });
      this.#cursor.remote = head;
      return true;
    }
    if (
      /\[rejected\]|\(fetch first\)|non-fast-forward|\[remote rejected\].*(lock|failed to update)/
        .test(result.stdout + result.stderr)
    ) {
      return false;
    }
    // The remote's own words (a hook's output) and the reason git gives for the refusal say
    // more than git's closing "failed to push some refs".
    const said = result.stderr.split("\n").filter((l) => l.startsWith("remote:"))
      .map((l) => l.slice("remote:".length).trim()).filter((l) => l !== "");
    const refused = /\[remote rejected\] \(([^)]+)\)|\[rejected\] \(([^)]+)\)/.exec(result.stdout);
    const reason = [...said.slice(-2), ...(refused ? [refused[1] ?? refused[2]] : [])];
    throw new CrosstalkError(
      "ERR_GIT_FAILED",
      `git push to ${this.remote} (${this.url}) failed: ${
        reason.length > 0 ? reason.join("; ") : gitDetail(result.stderr || result.stdout)
      }`,
    );
  }

  /** A command that talks to the remote: bounded in time, its failures naming the remote. */
  async #network(args: string[], okCodes: number[] = []): Promise<GitResult> {
    try {
      return await git(args, { cwd: this.transport.root, timeoutMs: this.#timeoutMs, okCodes });
    } catch (error) {
      if (!(error instanceof CrosstalkError)) throw error;
      throw new CrosstalkError(
        "ERR_GIT_FAILED",
        `Cannot reach the remote ${this.remote} (${this.url}): ${error.message}`,
        { cause: error },
      );
    }
  }

  async #ahead(): Promise<number> {
    const [head, remote] = await this.#revParseAll(["HEAD", this.#trackingRef]);
    // The common case after a sync, for the price of one git process.
    if (head !== undefined && head === remote) return 0;
    // Our own new commits on top of the remote's, one parent each: counted from loose objects.
    if (head !== undefined && remote !== undefined) {
      const loose = await aheadLoose(this.transport.root, {
        base: remote,
        head,
        limit: LOOSE_WALK,
      });
      if (loose !== null) return loose;
    }
    const range = remote ? `${remote}..HEAD` : "HEAD";
    const out = await git(["rev-list", "--count", range], this.#read());
    return Number(out.stdout.trim()) || 0;
  }

  async #addedSince(from: string, to: string): Promise<string[]> {
    const out = await git(
      ["diff", "--name-only", "-z", "--no-renames", "--diff-filter=A", from, to, "--", "data"],
      { ...this.#read(), okCodes: [128] },
    );
    if (out.code === 128) {
      // The old commit is gone (a rewritten clone): report every file of the new HEAD.
      const all = await git(["ls-tree", "-r", "-z", "--name-only", to, "--", "data"], this.#read());
      return all.stdout.split("\0").filter((p) => p !== "");
    }
    return out.stdout.split("\0").filter((p) => p !== "");
  }

  async #removedBetween(from: string, to: string): Promise<string[]> {
    const out = await git(
      [
        "diff",
        "--name-only",
        "-z",
        "--no-renames",
        "--diff-filter=D",
        from,
        to,
        "--",
        "data/channels",
      ],
      { ...this.#read(), okCodes: [128] },
    );
    return out.stdout.split("\0").filter((p) => p.endsWith(".md") && !p.endsWith("CHANNEL.md"));
  }

  /**
   * The best common ancestor of two commits, or undefined when they share none. When one is an
   * ancestor of the other (a fast-forward, or nothing new), the loose objects tell without git.
   */
  async #mergeBase(a: string, b: string): Promise<string | undefined> {
    const root = this.transport.root;
    if (await isAncestorLoose(root, { base: a, head: b, limit: LOOSE_WALK })) return a;
    if (await isAncestorLoose(root, { base: b, head: a, limit: LOOSE_WALK })) return b;
    const out = await git(["merge-base", a, b], { ...this.#read(), okCodes: [1, 128] });
    return out.code === 0 ? out.stdout.trim() : undefined;
  }

  async #isAncestor(a: string, b: string): Promise<boolean> {
    if (a === "HEAD") a = (await this.#revParse("HEAD")) ?? a;
    if (b === "HEAD") b = (await this.#revParse("HEAD")) ?? b;
    if (a === b) return true;
    const loose = await isAncestorLoose(this.transport.root, {
      base: a,
      head: b,
      limit: LOOSE_WALK,
    });
    if (loose !== null) return loose;
    const out = await git(["merge-base", "--is-ancestor", a, b], {
      ...this.#read(),
      okCodes: [1, 128],
    });
    return out.code === 0;
  }

  /** Several refs in one git process (each undefined when it does not exist). */
  async #revParseAll(refs: string[]): Promise<(string | undefined)[]> {
    const direct = await Promise.all(refs.map((r) => readRef(this.transport.root, r)));
    if (direct.every((v) => v !== null)) return direct as (string | undefined)[];
    const out = await git(["rev-parse", ...refs.map((r) => `${r}^{commit}`)], {
      ...this.#read(),
      okCodes: [128],
    });
    if (out.code === 0) return out.stdout.trim().split("\n");
    return await Promise.all(refs.map((r) => this.#revParse(r)));
  }

  async #revParse(ref: string): Promise<string | undefined> {
    if (ref === "HEAD" || ref.startsWith("refs/")) {
      const value = await readRef(this.transport.root, ref);
      if (value !== null) return value;
    }
    const out = await git(["rev-parse", "-q", "--verify", `${ref}^{commit}`], {
      ...this.#read(),
      okCodes: [1, 128],
    });
    return out.code === 0 ? out.stdout.trim() : undefined;
  }

  #read(): GitOptions {
    return { cwd: this.transport.root, readOnly: true };
  }

  async #saveCursor(): Promise<void> {
    if (!this.#cursorPath) return;
    await writeFileAtomic(this.#cursorPath, `${JSON.stringify(this.#cursor)}\n`);
  }
}

/** A remote URL fit for logs: `https://user:secret@host/…` becomes `https://user:***@host/…`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, "$1:***@");
}

/** The URL of a clone's remote, or undefined when it has none. */
export async function remoteUrl(root: string, remote = "origin"): Promise<string | undefined> {
  const out = await git(["config", "--get", `remote.${remote}.url`], {
    cwd: root,
    okCodes: [1],
  }).catch(() => undefined);
  return out?.stdout.trim() || undefined;
}

/**
 * A fingerprint of a clone's `.git/config` (inode, size, mtime), to tell without starting git
 * whether its remotes may have changed: git writes a new file for every change of it.
 */
export async function gitConfigStamp(root: string): Promise<string> {
  try {
    const info = await Deno.stat(join(root, ".git", "config"));
    return `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
  } catch {
    return "none";
  }
}

/** Every presence ref in a clone, as last fetched. */
export async function readPresenceRefs(
  root: string,
): Promise<(PresenceRecord & { sha: string })[]> {
  const out = await git(
    ["for-each-ref", "--format=%(objectname)%00%(contents:subject)", PRESENCE_PREFIX],
    { cwd: root, readOnly: true },
  );
  const records: (PresenceRecord & { sha: string })[] = [];
  for (const line of out.stdout.split("\n")) {
    const [sha, subject] = line.split("\0");
    if (!sha || !subject) continue;
    try {
      const record = JSON.parse(subject) as PresenceRecord;
      if (typeof record.alias === "string" && typeof record.instance === "string") {
        records.push({ ...record, sha });
      }
    } catch {
      // Not ours, or damaged: ignored.
    }
  }
  return records;
}

/**
 * Puts a clone back in a usable state after a crash (with or without a remote): aborts an
 * interrupted rebase or merge, removes stale git locks, and commits files crosstalk wrote that a
 * crash left uncommitted. Returns what it did.
 */
export function recoverGitClone(transport: GitTransport): Promise<string[]> {
  return transport.lock.run(() => recoverClone(transport.root));
}

async function recoverClone(root: string): Promise<string[]> {
  const done: string[] = [];
  // The git commands of a crashed engine outlive it: their locks are theirs until they end.
  const running = await waitForGitProcesses(root, ORPHAN_GIT_WAIT_MS);
  for (const pid of running) done.push(`git process ${pid} still running, its locks removed`);
  for (const path of await removeStaleGitLocks(root, 0)) done.push(`removed stale lock ${path}`);
  done.push(...await abortInterruptedIntegration(root));
  const status = await git(
    ["status", "--porcelain", "-z", "--untracked-files=all", "--", ...ENGINE_WRITTEN],
    { cwd: root },
  );
  const leftover = status.stdout.split("\0").filter((p) => p !== "").map((p) => p.slice(3));
  if (leftover.length > 0) {
    const present: string[] = [];
    for (const path of ENGINE_WRITTEN) if (await exists(join(root, path))) present.push(path);
    await git(["add", "-A", "--", ...present], { cwd: root });
    await git([
      "commit",
      "-q",
      "--no-verify",
      "-m",
      "crosstalk: recover changes a crash left uncommitted",
    ], {
      cwd: root,
      okCodes: [1],
    });
    done.push(`committed ${leftover.length} file(s) a crash left uncommitted`);
  }
  return done;
}

/**
 * `GitTransport`: the bus as a git working tree. Every write is the local transport's atomic
 * write followed by a commit of exactly the written paths. Commits, and the syncs with a remote
 * (git_sync.ts), hold the clone's {@linkcode RepoLock}, so a commit never lands inside a rebase,
 * whichever crosstalk process makes it.
 */
import { join, relative } from "./path.ts";
import type { Channel } from "./channel.ts";
import { LocalTransport, type LocalTransportOptions } from "./local.ts";
import type { Message, MessageFields } from "./message.ts";
import type { ChannelFileName, TransportKind, WriteMessageOptions } from "./transport.ts";
import {
  abortInterruptedIntegration,
  ensureIdentity,
  git,
  gitProcessesIn,
  integrationInProgress,
  isLockError,
  ORPHAN_GIT_WAIT_MS,
  readRef,
  removeStaleGitLocks,
  RepoLock,
  waitForGitProcesses,
} from "./_git.ts";
import { exists } from "./_fs.ts";
import { CrosstalkError, errorText } from "../schema/errors.ts";

/** Options for {@linkcode GitTransport}. */
export interface GitTransportOptions extends LocalTransportOptions {
  /**
   * How long a commit waits for more changes to join it (ms). 0, the default, adds no delay:
   * what is written while a commit runs joins the next one, so a burst still makes few commits.
   */
  commitWindowMs?: number;
  /**
   * Background commits, for a long-running owner of the clone (the engine): a message write
   * returns once its file is durable, and its commit follows. A commit that fails is retried
   * with backoff and reported through {@linkcode GitTransport.onCommitError}; the message stays
   * on disk, and a restart's recovery commits what is still left. Without it, the default, a
   * write returns after its commit, and a failed commit undoes the write (what a short-lived CLI
   * process needs: nothing commits after it exits).
   */
  background?: boolean;
  /** The first retry of a failed background commit (ms), doubling up to 30 s; default 500. */
  commitRetryMs?: number;
}

/** A background commit that keeps failing is retried at most this often. */
const MAX_COMMIT_RETRY_MS = 30_000;

/** How long a change that is not urgent waits for another change to share a commit with. */
const LAZY_COMMIT_MS = 1_000;

/** A change waiting for its commit. */
interface PendingChange {
  paths: string[];
  message: string;
  /** Edits of tracked files, made under the lock so that no sync sees them half done. */
  apply?: () => Promise<void>;
  urgent: boolean;
  /** Some paths are folders (a channel): staged with `git add -A` and `git rm -r`. */
  folders: boolean;
  /** Nobody waits for it: a failure keeps it for a retry instead of rejecting it. */
  background: boolean;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** The bus as a git repository: each write becomes a commit. */
export class GitTransport extends LocalTransport {
  override readonly kind: TransportKind = "git";
  /** Held by every commit and sync on this clone, in every crosstalk process. */
  readonly lock: RepoLock;
  #pending: PendingChange[] = [];
  #committing = false;
  #identityChecked = false;
  #commitWindowMs: number;
  #listeners = new Set<(urgent: boolean) => void>();
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  #ownHead: string | undefined;
  #background: boolean;
  /** Background changes whose commit failed, waiting for the retry timer. */
  #failed: PendingChange[] = [];
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryMs: number;
  #nextRetryMs: number;
  #commitError: CommitError | undefined;
  #errorListeners = new Set<(error: unknown) => void>();
  #repairListeners = new Set<(done: string[]) => void>();

  constructor(root: string, options: GitTransportOptions = {}) {
    super(root, options);
    this.lock = new RepoLock(root);
    this.#commitWindowMs = options.commitWindowMs ?? 0;
    this.#background = options.background ?? false;
    this.#retryMs = options.commitRetryMs ?? 500;
    this.#nextRetryMs = this.#retryMs;
  }

  /**
   * Calls `listener` with the error of every failed background commit (each retry that fails
   * too). Returns an unsubscribe.
   */
  onCommitError(listener: (error: unknown) => void): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  /**
   * Calls `listener` with what was done each time a commit found a rebase or merge that a
   * crashed process left in the clone, and aborted it first. Returns an unsubscribe.
   */
  onRepair(listener: (done: string[]) => void): () => void {
    this.#repairListeners.add(listener);
    return () => this.#repairListeners.delete(listener);
  }

  /** While background commits fail: the last error, since when, and how many changes wait. */
  get commitError(): CommitError | undefined {
    const waiting = this.#failed.length + this.#pending.filter((b) => b.background).length;
    return this.#commitError && { ...this.#commitError, waiting };
  }

  /**
   * Calls `listener` after every commit, telling whether it should travel at once (the sync
   * loop pushes then; other commits go with the next push). Returns an unsubscribe.
   */
  onCommit(listener: (urgent: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** True when HEAD is not the last commit this process made (another process committed). */
  async headIsForeign(): Promise<boolean> {
    // Behind the lock: a commit of ours that is being made has recorded itself by then.
    return await this.lock.run(async () => {
      const head = await readRef(this.root, "HEAD");
      return head === null || head !== this.#ownHead;
    });
  }

  /**
   * Commits a change of `paths` (relative to the root) with `message`; `apply`, if given, makes
   * the change first, under the lock (edits and removals of tracked files need it; new files
   * with unique names do not). Concurrent changes share a commit. `urgent: false` marks a
   * change that need not be pushed on its own (bookkeeping that the next message carries).
   */
  change(
    paths: string[],
    message: string,
    apply?: () => Promise<void>,
    options: { urgent?: boolean; folders?: boolean } = {},
  ): Promise<void> {
    return this.#queue(paths, message, apply, { ...options, background: false });
  }

  #queue(
    paths: string[],
    message: string,
    apply: (() => Promise<void>) | undefined,
    options: { urgent?: boolean; folders?: boolean; background: boolean },
  ): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#pending.push({
      paths,
      message,
      resolve,
      reject,
      urgent: options.urgent ?? true,
      folders: options.folders ?? false,
      background: options.background,
      ...(apply ? { apply } : {}),
    });
    if (options.urgent === false && !apply) {
      // Bookkeeping waits for the next change (a reply) to share its commit, or a moment.
      this.#lazyTimer ??= setTimeout(() => {
        this.#lazyTimer = undefined;
        if (!this.#committing) void this.#drain();
      }, LAZY_COMMIT_MS);
      return promise;
    }
    if (!this.#committing) void this.#drain();
    return promise;
  }

  protected override get attachedInCommit(): boolean {
    return true;
  }

  /**
   * Resolves when every change queued before this call is committed (or, for a background
   * change whose commit failed, kept for its retry: see {@linkcode commitError}).
   */
  flushCommits(): Promise<void> {
    return this.change([], "");
  }

  override async createChannel(channel: Omit<Channel, "id"> & { id?: string }): Promise<Channel> {
    const created = await super.createChannel(channel);
    await this.change(
      [this.#channelDir(created.id)],
      `crosstalk: create channel "${created.name}" (${created.id})`,
      undefined,
      { folders: true },
    );
    return created;
  }

  override async updateChannel(channel: Channel): Promise<Channel> {
    let updated: Channel | undefined;
    await this.change(
      [this.#channelDir(channel.id)],
      `crosstalk: update channel "${channel.name}" (${channel.id})`,
      async () => void (updated = await super.updateChannel(channel)),
      { folders: true },
    );
    return updated!;
  }

  override async writeChannelFile(
    id: string,
    name: ChannelFileName,
    text: string,
  ): Promise<void> {
    await this.change(
      [`${this.#channelDir(id)}/${name}`],
      `crosstalk: ${name} of channel ${id}`,
      () => super.writeChannelFile(id, name, text),
    );
  }

  override async deleteChannel(id: string): Promise<void> {
    await this.getChannel(id);
    const traces = await this.channelTraces(id);
    await this.change(
      [this.#channelDir(id), ...traces.map((p) => relative(this.root, p))],
      `crosstalk: delete channel ${id}`,
      () => super.deleteChannel(id),
      { folders: true },
    );
  }

  override async writeMessage(
    channel: string,
    fields: MessageFields,
    options: WriteMessageOptions = {},
  ): Promise<Message> {
    const message = await super.writeMessage(channel, fields, options);
    const path = relative(this.root, this.messagePath(message));
    const attached = options.with;
    if (!attached && this.#background) {
      // Durable already (fsync'd and linked into place); the commit follows, and a failure
      // is retried rather than undone (see GitTransportOptions.background).
      void this.#queue([path], commitMessage(message), undefined, { background: true });
      return message;
    }
    try {
      if (attached) {
        await this.change(
          [path, ...attached.paths],
          `${commitMessage(message).trimEnd()}\n${attached.message}\n`,
          attached.apply,
        );
      } else {
        await this.change([path], commitMessage(message));
      }
    } catch (error) {
      // The sender is told the send failed, so the message must not stay behind uncommitted.
      await Deno.remove(this.messagePath(message)).catch(() => {});
      await git(["reset", "-q", "--", path], { cwd: this.root }).catch(() => {});
      if (attached) {
        // What went with it did not happen either: the claims stay open, for a repair.
        await git(["reset", "-q", "--", ...attached.paths], { cwd: this.root }).catch(() => {});
        await git(["checkout", "-q", "--", ...attached.paths], { cwd: this.root }).catch(() => {});
      }
      throw error;
    }
    return message;
  }

  /** Commits what is still waiting, then closes. */
  override async [Symbol.asyncDispose](): Promise<void> {
    clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    // Changes whose commit keeps failing stay on disk; recovery at the next start commits them.
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#pending.length > 0) await this.flushCommits().catch(() => {});
    await super[Symbol.asyncDispose]();
  }

  #channelDir(id: string): string {
    return relative(this.root, join(this.channelsDir, id));
  }

  /**
   * Commits what is pending, one batch at a time: what is asked for while one commit runs goes
   * into the next one together (a burst of sends becomes a few commits).
   */
  async #drain(): Promise<void> {
    this.#committing = true;
    try {
      while (this.#pending.length > 0) {
        if (this.#commitWindowMs > 0) {
          await new Promise((r) => setTimeout(r, this.#commitWindowMs));
        }
        const batch = this.#pending.splice(0);
        try {
          await this.lock.run(() => this.#commitBatch(batch));
        } catch (error) {
          this.#failedBatch(batch, error);
        }
      }
    } finally {
      this.#committing = false;
    }
  }

  /** Rejects the changes someone waits for; keeps the background ones for a retry. */
  #failedBatch(batch: PendingChange[], error: unknown): void {
    const kept = batch.filter((b) => b.background);
    for (const b of batch) if (!b.background) b.reject(error);
    if (kept.length === 0) return;
    this.#failed.push(...kept);
    this.#commitError ??= { error: errorText(error), since: new Date().toISOString(), waiting: 0 };
    this.#commitError.error = errorText(error);
    for (const listener of this.#errorListeners) listener(error);
    if (this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pending.unshift(...this.#failed.splice(0));
      if (!this.#committing) void this.#drain();
    }, this.#nextRetryMs);
    // Back off while it keeps failing; a success starts again from the first delay.
    this.#nextRetryMs = Math.min(this.#nextRetryMs * 2, MAX_COMMIT_RETRY_MS);
  }

  async #commitBatch(batch: PendingChange[]): Promise<void> {
    if (await integrationInProgress(this.root)) await this.#abortInterrupted();
    const applied: PendingChange[] = [];
    for (const change of batch) {
      try {
        await change.apply?.();
        applied.push(change);
      } catch (error) {
        change.reject(error);
      }
    }
    const paths = [...new Set(applied.flatMap((b) => b.paths))];
    if (paths.length === 0) {
      // Only flushes (see flushCommits): everything queued before them is committed.
      for (const b of applied) b.resolve();
      return;
    }
    const changes = applied.filter((b) => b.paths.length > 0);
    const message = changes.length === 1
      ? changes[0]!.message
      : combinedMessage(changes.map((b) => b.message));
    await this.#commitNow(paths, message, changes.some((b) => b.folders));
    this.#ownHead = (await readRef(this.root, "HEAD")) ?? undefined;
    if (this.#failed.length === 0 && changes.some((b) => b.background)) {
      this.#commitError = undefined;
      this.#nextRetryMs = this.#retryMs;
    }
    const urgent = changes.some((b) => b.urgent);
    for (const b of applied) b.resolve();
    for (const listener of this.#listeners) listener(urgent);
  }

  /**
   * Every crosstalk rebase and merge runs under the lock, so one found while holding it was left
   * by a process that died (an engine killed during a sync). A commit made inside it would land
   * on its detached HEAD, and the abort at the next start would throw that commit away: the
   * rebase is aborted first, once the dead process's git commands have ended.
   *
   * @throws {CrosstalkError} `ERR_GIT_FAILED` when it cannot be aborted
   */
  async #abortInterrupted(): Promise<void> {
    const running = await waitForGitProcesses(this.root, ORPHAN_GIT_WAIT_MS);
    const done = running.length === 0 ? await abortInterruptedIntegration(this.root) : [];
    if (await integrationInProgress(this.root)) {
      const busy = running.length > 0
        ? ` (git processes ${running.join(", ")} still work in it)`
        : "";
      throw new CrosstalkError(
        "ERR_GIT_FAILED",
        `Cannot commit in "${this.root}": a rebase or merge that a crashed process left there could not be aborted${busy}; \`git status\` there says what is left`,
      );
    }
    if (done.length > 0) { for (const listener of this.#repairListeners) listener(done); }
  }

  async #commitNow(paths: string[], message: string, folders: boolean): Promise<void> {
    if (!this.#identityChecked) {
      await ensureIdentity(this.root);
      this.#identityChecked = true;
    }
    const present: string[] = [];
    const gone: string[] = [];
    if (folders) {
      for (const path of paths) (await exists(join(this.root, path)) ? present : gone).push(path);
    }
    for (let attempt = 0;; attempt++) {
      try {
        // Files only (messages, claims, receipts, the registry: names crosstalk chose, never
        // ignored): one process stages new and changed files and drops removed ones, tracked or
        // never committed alike.
        if (!folders) {
          await git(["update-index", "--add", "--remove", "--", ...paths], { cwd: this.root });
        }
        if (present.length > 0) await git(["add", "-A", "--", ...present], { cwd: this.root });
        if (gone.length > 0) {
          await git(["rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", ...gone], {
            cwd: this.root,
          });
        }
        const result = await git(["commit", "-q", "--no-verify", "-m", message], {
          cwd: this.root,
          okCodes: [1],
        });
        if (
          result.code === 1 && !/nothing (added )?to commit|no changes added/.test(result.stdout)
        ) {
          throw new Error(`git commit failed: ${result.stdout.trim() || result.stderr.trim()}`);
        }
        return;
      } catch (error) {
        if (!isLockError(error) || attempt >= 200) throw error;
        // Under the repository lock no crosstalk git command of this engine runs: a lock that
        // stays is stale, unless a git still works here (one of a crashed engine's, say).
        if (attempt % 20 === 19 && (await gitProcessesIn(this.root)).length === 0) {
          await removeStaleGitLocks(this.root, 2_000);
        }
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      }
    }
  }
}

/** A background commit that failed, as {@linkcode GitTransport.commitError} tells it. */
export interface CommitError {
  /** The last failure's message. */
  error: string;
  /** When the first of the failures in a row happened (ISO time). */
  since: string;
  /** How many changes wait for the retry. */
  waiting: number;
}

/** One commit for several changes: a count, then each change's message on a line. */
function combinedMessage(messages: string[]): string {
  const lines = messages.map((m) => `- ${m.trim().split("\n").filter((l) => l !== "").join("; ")}`);
  return `crosstalk: ${messages.length} changes\n\n${lines.join("\n")}\n`;
}

/** The documented commit message of a message: who, to whom, which file. */
export function commitMessage(message: Message): string {
  const kind = message.re?.length ? "reply" : "message";
  return `crosstalk: ${kind} from ${message.from} to ${message.to.join(", ")}\n\n` +
    `channel: ${message.channel}\nid: ${message.id}\n`;
}

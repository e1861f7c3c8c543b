/**
 * `SyncLoop`: the engine's side of a git transport with a remote. It pushes every commit at
 * once (commits made during a push go out with the next one), fetches on an adaptive timer
 * (fast after activity, doubling to a ceiling when idle) and whenever a peer nudges it, hands
 * the files a fetch brought to the message feed, publishes the engine's presence, and confirms
 * claims: a claim holds once the push that carries it went through.
 */
import { join } from "../transports/path.ts";
import type { GitSettings } from "../schema/config.ts";
import {
  type ClaimPublisher,
  type GitSync,
  type Holder,
  type Presence,
  type PresenceRecord,
  PushError,
  type SyncReport,
} from "../transports/mod.ts";
import type { Logger } from "./log.ts";

/** How often the engine lets git pack loose objects (`gc --auto`). */
const HOUSEKEEPING_MS = 30 * 60_000;

/** What `crosstalk status` shows about the sync. */
export interface SyncStatus {
  remote: string;
  url: string;
  branch: string;
  /** Last successful fetch or push (ISO time). */
  lastSync?: string;
  lastPush?: string;
  /** Commits of ours not yet on the remote. */
  ahead: number;
  /** The last failure, while it lasts (cleared by the next success). */
  error?: string;
  errorSince?: string;
  /** Set once the remote's branch was found rewritten; kept until the engine restarts. */
  rewritten?: { at: string; from: string; to: string; removed: number };
  /** Milliseconds until the next fetch. */
  fetchIntervalMs: number;
  /** After this long without a change of its presence, an engine counts as gone. */
  presenceTimeoutMs: number;
}

/** Options for {@linkcode SyncLoop}. */
export interface SyncLoopOptions {
  sync: GitSync;
  settings: GitSettings;
  log: Logger;
  /** This engine's presence record, fresh at each call. */
  presence: () => PresenceRecord;
  /** Files a sync brought (relative to the root). */
  onAdded: (paths: string[]) => void;
  /** Annotation files a sync brought (tasks, badges, receipts of other machines). */
  onAnnotated?: (paths: string[]) => void;
  /** After a sync that changed the working tree (any file, added or not). */
  onPulled?: () => void;
  /** After a push that moved the remote. */
  onPushed: () => void;
  /** When the status changed (an error came or went, a rewrite was found). */
  onStatus?: () => void;
}

interface Waiter {
  after: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Keeps a clone in step with its remote while the engine runs. */
export class SyncLoop implements ClaimPublisher {
  readonly shared = true;
  readonly sync: GitSync;
  #settings: GitSettings;
  #log: Logger;
  #presenceRecord: () => PresenceRecord;
  #onAdded: (paths: string[]) => void;
  #onAnnotated: ((paths: string[]) => void) | undefined;
  #onPulled: (() => void) | undefined;
  #onPushed: () => void;
  #onStatus: () => void;
  #wantPush = false;
  #wantFetch = false;
  #running: Promise<void> | undefined;
  #cycle = 0;
  /** Counts pushes, pulls and nudges: the fetch interval shrinks after activity. */
  #activity = 0;
  #waiters: Waiter[] = [];
  /** Told when a sync cycle ends, whatever its outcome (see #oneCycle). */
  #cycleEnds: { after: number; resolve: () => void }[] = [];
  #interval: number;
  #fetchTimer: ReturnType<typeof setTimeout> | undefined;
  #presenceTimer: ReturnType<typeof setInterval> | undefined;
  #publishing: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | undefined;
  #refWatcher: Deno.FsWatcher | undefined;
  #housekeeping: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #presence = new Map<string, Presence>();
  /** When presence was last read after a fetch (ms since epoch). */
  #fetchedAt = 0;
  #status: SyncStatus;

  constructor(options: SyncLoopOptions) {
    this.sync = options.sync;
    this.#settings = options.settings;
    this.#log = options.log;
    this.#presenceRecord = options.presence;
    this.#onAdded = options.onAdded;
    this.#onAnnotated = options.onAnnotated;
    this.#onPulled = options.onPulled;
    this.#onPushed = options.onPushed;
    this.#onStatus = options.onStatus ?? (() => {});
    this.#interval = options.settings.fetch_min_ms;
    this.#status = {
      remote: options.sync.remote,
      url: options.sync.url,
      branch: options.sync.branch,
      ahead: 0,
      fetchIntervalMs: this.#interval,
      presenceTimeoutMs: options.settings.presence_timeout_seconds * 1000,
    };
  }

  /** What the sync is doing, for the status file. */
  get status(): SyncStatus {
    return { ...this.#status, fetchIntervalMs: this.#interval };
  }

  /**
   * Repairs the clone after a crash, syncs once and publishes presence. A remote that cannot
   * be reached is logged and retried: the engine still starts and works on this machine.
   *
   * `recover: false` skips the repair: a sync that starts while the engine runs (a remote was
   * added) must leave the engine's own commits in flight and git's locks alone.
   */
  async start(options: { recover?: boolean } = {}): Promise<void> {
    if (options.recover ?? true) {
      for (const done of await this.sync.recover()) this.#log.warn("git.recovered", { done });
    }
    this.#unsubscribe = this.sync.transport.onCommit((urgent) => {
      if (urgent) this.#request("push");
    });
    this.#watchBranch();
    // Presence first: the first push below nudges the other engines, and what they fetch then
    // must hold this engine's presence as well as its dispatcher entry.
    await this.#publishPresence();
    this.#wantFetch = true;
    this.#wantPush = true;
    // One cycle, not the loop until it is idle: under push contention with a backlog, a start
    // that waited for every push would keep the engine from serving for many seconds.
    await this.#oneCycle();
    // Stopped meanwhile (the engine stops during its start): no timers to leave behind.
    if (this.#stopped) return;
    await this.refreshPresence();
    // Our entry and presence are on the remote now (unless that cycle's push gave up under
    // contention; the pushes after it nudge again), and we know who else is live: tell them to
    // fetch, so that engines which poll slowly learn of this one (and can check its nudges) at
    // once, even when the first push had nothing to push.
    this.#onPushed();
    this.#presenceTimer = setInterval(
      () => void this.#publishPresence(),
      this.#settings.presence_seconds * 1000,
    );
    this.#armFetch();
    this.#housekeeping = setInterval(() => {
      this.sync.housekeep().catch((error) =>
        this.#log.warn("git.gc_failed", { reason: reasonOf(error) })
      );
    }, HOUSEKEEPING_MS);
  }

  /** A peer pushed: fetch now. */
  /**
   * Other processes commit in this clone too (a CLI sending directly): a change of the branch
   * ref, whoever made it, asks for a push.
   */
  #watchBranch(): void {
    const heads = join(this.sync.transport.root, ".git", "refs", "heads");
    try {
      this.#refWatcher = Deno.watchFs(heads, { recursive: true });
    } catch (error) {
      this.#log.warn("sync.watch_failed", { reason: reasonOf(error) });
      return;
    }
    const watcher = this.#refWatcher;
    void (async () => {
      try {
        for await (const event of watcher) {
          // `main.lock` appears when a commit starts; the ref itself changes when it is made.
          if (!event.paths.some((p) => !p.endsWith(".lock"))) continue;
          // Our own commits say themselves whether they are urgent (onCommit).
          if (await this.sync.transport.headIsForeign()) this.#request("push");
        }
      } catch {
        // Closed.
      }
    })();
  }

  /** A peer pushed: fetch now. */
  nudge(): void {
    this.#activity++;
    this.#interval = this.#settings.fetch_min_ms;
    this.#request("fetch");
  }

  /** Fetches (and pushes what is pending) now; resolves when done. */
  syncNow(): Promise<void> {
    this.#wantFetch = true;
    this.#wantPush = true;
    return this.#kick();
  }

  record(
    paths: string[],
    message: string,
    apply?: () => Promise<void>,
    options: { urgent?: boolean } = {},
  ): Promise<void> {
    return this.sync.transport.change(paths, message, apply, options);
  }

  /** Resolves after a sync that started after this call left nothing of ours unpushed. */
  confirm(): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error("the engine is stopping"));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiters.push({ after: this.#cycle + 1, resolve, reject });
    this.#request("push");
    return promise;
  }

  /**
   * Whether the engine that holds a claim is alive, by its presence: false when it restarted
   * (another instance) or its presence went stale, undefined when it never published one.
   */
  alive(holder: Holder): boolean | undefined {
    const presence = this.#presence.get(holder.alias);
    if (!presence) return undefined;
    if (presence.instance !== holder.instance) return false;
    // Judged by what our own fetches saw: a presence that did not change across fetches
    // spanning the timeout. If we could not fetch meanwhile, we know nothing new: still alive.
    return this.#fetchedAt - presence.seenAt <= this.#settings.presence_timeout_seconds * 1000;
  }

  /** Every engine's presence as last fetched. */
  presence(): Map<string, Presence> {
    return new Map(this.#presence);
  }

  /**
   * Stops the timers, pushes what is left (bounded) and withdraws this engine's presence.
   * `publish: false` skips the last push and the withdrawal: the remote it synced with is gone
   * from the clone's config (removed, or `origin` now names another).
   */
  async stop(options: { publish?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#refWatcher?.close();
    clearTimeout(this.#fetchTimer);
    clearInterval(this.#presenceTimer);
    clearInterval(this.#housekeeping);
    await this.#running;
    await this.#publishing;
    if (options.publish ?? true) {
      try {
        await this.sync.sync({ push: true });
        await this.sync.withdrawPresence(this.#presenceRecord().alias);
      } catch (error) {
        this.#log.warn("sync.stop_failed", { reason: reasonOf(error) });
      }
    }
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new Error("the engine stopped before the claim reached the remote"));
    }
  }

  #request(kind: "push" | "fetch"): void {
    if (this.#stopped) return;
    if (kind === "push") this.#wantPush = true;
    else this.#wantFetch = true;
    void this.#kick();
  }

  #kick(): Promise<void> {
    this.#running ??= this.#loop().finally(() => {
      this.#running = undefined;
      if (this.#stopped) {
        // No cycle comes any more: nobody may wait for one.
        for (const end of this.#cycleEnds.splice(0)) end.resolve();
      } else if (this.#wantPush || this.#wantFetch) void this.#kick();
    });
    return this.#running;
  }

  /** Runs the loop; resolves once a cycle that starts after this call has ended. */
  #oneCycle(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#cycleEnds.push({ after: this.#cycle + 1, resolve });
    void this.#kick();
    return promise;
  }

  async #loop(): Promise<void> {
    while ((this.#wantPush || this.#wantFetch) && !this.#stopped) {
      const push = this.#wantPush;
      const fetch = this.#wantFetch;
      this.#wantPush = false;
      this.#wantFetch = false;
      const cycle = ++this.#cycle;
      try {
        const report = await this.sync.sync({ push, fetch, onPushed: () => this.#onPushed() });
        this.#log.debug("sync.cycle", {
          push,
          fetch,
          pushed: report.pushed,
          pulled: report.pulled,
          ahead: report.ahead,
          added: report.added.length,
        });
        // New messages first: the presence refresh is not on their way.
        this.#handle(report, cycle);
        if (fetch || report.pulled) await this.refreshPresence();
      } catch (error) {
        try {
          // The push failed, but what the fetch brought in goes to the feed all the same.
          if (error instanceof PushError) this.#deliver(error.report);
          if (await this.sync.remoteMoved()) {
            // `origin` was removed or moved under this cycle (`transport remote rm` or `set`):
            // the engine stops or moves this loop (Engine.checkRemote), and a failure against
            // the remote it leaves is no news.
            this.#log.debug("sync.remote_moved", { remote: this.#status.url });
          } else {
            this.#fail(error);
          }
        } catch (failing) {
          // Nothing may escape the loop: it runs unawaited, and a start waits on its cycles.
          this.#log.error("sync.failed", { reason: reasonOf(failing) });
        }
      } finally {
        const ended = this.#cycleEnds.filter((end) => end.after <= cycle);
        this.#cycleEnds = this.#cycleEnds.filter((end) => end.after > cycle);
        for (const end of ended) end.resolve();
      }
    }
  }

  /** Hands the messages a sync brought in to the feed. */
  #deliver(report: SyncReport): void {
    if (report.pulled || report.rewritten) this.#onPulled?.();
    const messages = report.added.filter((p) => p.startsWith("data/channels/"));
    if (messages.length > 0) this.#onAdded(messages);
    const notes = report.added.filter((p) => p.startsWith("data/annotations/"));
    if (notes.length > 0) this.#onAnnotated?.(notes);
  }

  #handle(report: SyncReport, cycle: number): void {
    const now = new Date().toISOString();
    if (this.#status.error) {
      this.#log.info("sync.recovered", { after: this.#status.error });
      this.#onStatus();
    }
    delete this.#status.error;
    delete this.#status.errorSince;
    this.#status.lastSync = now;
    this.#status.ahead = report.ahead;
    if (report.conflicts.length > 0) {
      this.#log.info("sync.claims_lost", { paths: report.conflicts });
    }
    if (report.rewritten) {
      const { from, to, removed } = report.rewritten;
      this.#status.rewritten = { at: now, from, to, removed: removed.length };
      this.#onStatus();
      this.#log.error("sync.remote_rewritten", {
        from,
        to,
        removed,
        reason:
          "the remote's branch no longer contains the last commit seen (a force push?): only this clone's unpushed commits were replayed on it",
      });
    }
    this.#deliver(report);
    if (report.pulled || report.pushed) {
      this.#activity++;
      this.#interval = this.#settings.fetch_min_ms;
    }
    if (report.pushed) this.#status.lastPush = now;
    if (report.ahead === 0) {
      const ready = this.#waiters.filter((w) => w.after <= cycle);
      this.#waiters = this.#waiters.filter((w) => w.after > cycle);
      for (const waiter of ready) waiter.resolve();
    } else {
      // Gave up after its attempts (a busy remote): try again soon.
      this.#armFetch(this.#settings.fetch_min_ms);
    }
  }

  #fail(error: unknown): void {
    const reason = reasonOf(error);
    if (this.#status.error !== reason) {
      this.#log.error("sync.failed", { reason, remote: this.#status.url });
      this.#onStatus();
    }
    this.#status.error = reason;
    this.#status.errorSince ??= new Date().toISOString();
    this.#interval = Math.min(this.#interval * 2, this.#settings.fetch_max_ms);
    this.#armFetch();
  }

  /** (Re)arms the fetch timer; each quiet fetch doubles the interval up to the ceiling. */
  #armFetch(delay?: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#fetchTimer);
    this.#fetchTimer = setTimeout(() => {
      const activity = this.#activity;
      this.#wantFetch = true;
      // Also pushes commits that other processes made in this clone.
      this.#wantPush = true;
      void this.#kick().then(() => {
        this.#interval = this.#activity === activity
          ? Math.min(this.#interval * 2, this.#settings.fetch_max_ms)
          : this.#settings.fetch_min_ms;
        this.#armFetch();
      });
    }, delay ?? this.#interval);
  }

  /** Publishes presence now (what it carries changed), after any publish under way. */
  republish(): Promise<void> {
    return this.#publishPresence();
  }

  #publishPresence(): Promise<void> {
    this.#publishing = this.#publishing.then(async () => {
      if (this.#stopped) return;
      try {
        await this.sync.publishPresence(this.#presenceRecord());
        await this.refreshPresence();
      } catch (error) {
        this.#log.warn("presence.failed", { reason: reasonOf(error) });
      }
    });
    return this.#publishing;
  }

  /** Reads every engine's presence from the clone again (as the last fetch left it). */
  async refreshPresence(): Promise<Map<string, Presence>> {
    this.#presence = await this.sync.presence();
    this.#fetchedAt = Date.now();
    return new Map(this.#presence);
  }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

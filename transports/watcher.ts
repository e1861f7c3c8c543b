/**
 * `BusWatcher`: tells its handler which paths under a folder may have changed.
 *
 * One `Deno.watchFs` per root; paths coalesce in a `Set`; the handler never runs twice at once:
 * the first event is handled at once, and what arrives meanwhile becomes the next batch (no
 * debounce delay on the hot path). Every event only means "re-stat this path", because event
 * kinds differ between operating systems. On a network mount, or when asked, it polls instead,
 * and the handler is told to rescan.
 */

/** A batch of changes: the paths to re-stat, or `rescan` to look at everything. */
export type WatchBatch = { paths: Set<string>; rescan: boolean };

/** Options for {@linkcode BusWatcher}. */
export interface BusWatcherOptions {
  /** `events` uses the OS file watcher, `poll` rescans every `pollIntervalMs`. */
  mode: "events" | "poll";
  /** Polling interval; in events mode, the interval of a safety rescan (0 = none). */
  pollIntervalMs: number;
  /** Names to ignore (temp files start with a dot). */
  ignore?: (path: string) => boolean;
  /**
   * Told of each path the OS reports (and is not ignored) as it arrives, before it waits for its
   * batch: for what must know of a change at once.
   */
  onPath?: (path: string) => void;
  /** Called when the handler or the watcher fails; the watcher keeps going. */
  onError?: (error: unknown) => void;
  /** Makes the OS watcher (tests give a failing one); default `Deno.watchFs`. */
  watchFs?: (root: string) => Deno.FsWatcher;
}

/** The first pause before an OS watcher that failed is made again; it doubles up to the last. */
const REWATCH_FIRST_MS = 100;
const REWATCH_MAX_MS = 10_000;

/** Watches one folder tree and feeds coalesced batches to a handler, one at a time. */
export class BusWatcher implements AsyncDisposable {
  readonly root: string;
  #handler: (batch: WatchBatch) => Promise<void>;
  #options: BusWatcherOptions;
  #pending: WatchBatch = { paths: new Set(), rescan: false };
  #running: Promise<void> | undefined;
  #fsWatcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #held: Promise<void> | undefined;
  /** Ends the pause before the OS watcher is made again, when the watcher closes. */
  #wakeRewatch: (() => void) | undefined;

  constructor(
    root: string,
    handler: (batch: WatchBatch) => Promise<void>,
    options: BusWatcherOptions,
  ) {
    this.root = root;
    this.#handler = handler;
    this.#options = options;
  }

  /**
   * Starts watching. Changes made before this call are the caller's to scan.
   *
   * @throws {Deno.errors.NotFound} in events mode, when the root is missing
   */
  start(): void {
    if (this.#options.mode === "events") this.#loop = this.#watch(this.#newFsWatcher());
    const interval = this.#options.pollIntervalMs;
    if (interval > 0) {
      this.#timer = setInterval(() => this.#push(undefined, true), interval);
    }
  }

  /** Queues a rescan, as if the poll timer had fired. */
  rescan(): void {
    this.#push(undefined, true);
  }

  /** Queues paths to re-stat, as if the OS had reported them (e.g. files a git pull brought). */
  add(paths: Iterable<string>): void {
    for (const path of paths) this.#push(path, false);
  }

  /**
   * Runs `fn` while no batch is handled: the running one finishes first, and what changes
   * meanwhile is handled after `fn` (git writes files in place, so they are read only then).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const previous = this.#held;
    this.#held = promise;
    await previous;
    try {
      await this.flush();
      return await fn();
    } finally {
      if (this.#held === promise) this.#held = undefined;
      resolve();
      if (this.#pending.paths.size > 0 || this.#pending.rescan) this.#running ??= this.#drain();
    }
  }

  /** Resolves when every change noticed so far has been handled. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stops watching and waits for the running batch. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#fsWatcher?.close();
    this.#wakeRewatch?.();
    await this.#loop;
    await this.flush();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #newFsWatcher(): Deno.FsWatcher {
    const watcher = this.#options.watchFs?.(this.root) ??
      Deno.watchFs(this.root, { recursive: true });
    this.#fsWatcher = watcher;
    return watcher;
  }

  /**
   * Reads the OS watcher's events until the watcher closes. One that fails (or ends by itself)
   * is made again after a pause, with a rescan for what changed meanwhile: without it, changes
   * would be seen only by the safety rescans, or never.
   */
  async #watch(first: Deno.FsWatcher): Promise<void> {
    let watcher: Deno.FsWatcher | undefined = first;
    let pause = REWATCH_FIRST_MS;
    while (!this.#closed) {
      if (watcher) {
        const since = Date.now();
        await this.#readEvents(watcher);
        if (this.#closed) return;
        try {
          watcher.close();
        } catch {
          // Closed already by its failure.
        }
        // A watcher that ran a while failed once, not in a loop: start the pauses over.
        if (Date.now() - since > REWATCH_MAX_MS) pause = REWATCH_FIRST_MS;
      }
      this.#push(undefined, true);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause);
        this.#wakeRewatch = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wakeRewatch = undefined;
      pause = Math.min(pause * 2, REWATCH_MAX_MS);
      if (this.#closed) return;
      try {
        watcher = this.#newFsWatcher();
        // What changed while no watcher ran.
        this.#push(undefined, true);
      } catch (error) {
        this.#options.onError?.(error);
        watcher = undefined;
      }
    }
  }

  async #readEvents(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (event.flag === "rescan") {
          this.#push(undefined, true);
          continue;
        }
        for (const path of event.paths) {
          if (this.#options.ignore?.(path)) continue;
          this.#options.onPath?.(path);
          this.#push(path, false);
        }
      }
      if (!this.#closed) this.#options.onError?.(new Error("The OS file watcher stopped"));
    } catch (error) {
      if (!this.#closed) this.#options.onError?.(error);
    }
  }

  #push(path: string | undefined, rescan: boolean): void {
    if (this.#closed) return;
    if (path !== undefined) this.#pending.paths.add(path);
    if (rescan) this.#pending.rescan = true;
    if (this.#held) return;
    this.#running ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (!this.#held && (this.#pending.paths.size > 0 || this.#pending.rescan)) {
        const batch = this.#pending;
        this.#pending = { paths: new Set(), rescan: false };
        try {
          await this.#handler(batch);
        } catch (error) {
          this.#options.onError?.(error);
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}

/**
 * Picks `events` or `poll` for a folder: polling on network filesystems (NFS, SMB, sshfs, 9p…),
 * where inotify does not see other machines' writes.
 */
export async function detectWatchMode(path: string): Promise<"events" | "poll"> {
  if (Deno.build.os !== "linux") return "events";
  let mountinfo: string;
  try {
    mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  } catch {
    return "events";
  }
  let best = { point: "", type: "" };
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0) continue;
    const point = (fields[4] ?? "").replace(/\\040/g, " ");
    const type = fields[sep + 1] ?? "";
    const inside = path === point || path.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (inside && point.length >= best.point.length) best = { point, type };
  }
  return /^(nfs|nfs4|cifs|smb3?|smbfs|9p|ceph|glusterfs|fuse\.sshfs|fuse\.rclone|afs|lustre|gpfs|virtiofs)$/
      .test(best.type)
    ? "poll"
    : "events";
}

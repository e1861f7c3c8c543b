/**
 * `MessageFeed`: delivers every new message on the bus to a handler exactly once per cursor,
 * at once when the watcher sees it, and after a restart from where the cursor left off.
 */
import { join, relative, SEPARATOR } from "./path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import type { Cursor } from "./cursor.ts";
import { badFilesOf } from "./local.ts";
import type { Message } from "./message.ts";
import { isChannelId, tryParseMessageId } from "./names.ts";
import type { BadFile, MessageRef, Transport } from "./transport.ts";
import { BusWatcher, type WatchBatch } from "./watcher.ts";
import { readDirNames } from "./_fs.ts";

/** How many written messages wait for their turn at most (beyond that, their files are read). */
const MAX_WRITTEN = 10_000;

/** How long the arrival times of files a rebase re-creates are kept (see `keepArrivals`). */
const ARRIVALS_KEPT_MS = 10 * 60_000;

/**
 * When a new folder is scanned again after its first scan (ms). The OS watcher starts watching
 * a new folder some time after reporting it; a file that another process puts in the folder
 * after the first scan but before that watch begins makes no event, so later looks find it.
 * The safety rescan would, but only much later.
 */
const NEW_FOLDER_RECHECK_MS = [50, 500, 2_000];

/** Options for {@linkcode MessageFeed}. */
export interface MessageFeedOptions {
  /** Where handled messages are recorded. */
  cursor: Cursor;
  /** `events` (OS watcher) or `poll`. */
  mode: "events" | "poll";
  /** Polling interval in poll mode; a safety rescan interval in events mode (0 = none). */
  pollIntervalMs: number;
  /** Told once about each file that is not a valid message. */
  onBad?: (bad: BadFile) => void;
  /** Told about failures of the watcher or the handler. */
  onError?: (error: unknown) => void;
  /**
   * Awaited before the feed reads a new file that {@linkcode MessageFeed.deliverWritten} has not
   * handed over: a write of this process whose watch event came first hands its message over
   * meanwhile, and is not read back. `handedOver` says whether every such file has been handed
   * over by now, so that the wait can end at once when it has.
   */
  beforeRead?: (handedOver: () => boolean) => Promise<void>;
}

/** New messages, in channel and id order, handed to one handler that never runs twice at once. */
export class MessageFeed implements AsyncDisposable {
  #transport: Transport;
  #handler: (messages: Message[]) => Promise<void>;
  #options: MessageFeedOptions;
  #watcher: BusWatcher;
  #ignoreBefore: string | undefined;
  /** Messages this process wrote, by `<channel>/<id>`, waiting for their turn in the feed. */
  #written = new Map<string, Message>();
  /** New folders scanned again soon (see NEW_FOLDER_RECHECK_MS), by absolute path. */
  #rechecks = new Map<string, ReturnType<typeof setTimeout>>();
  /** Folders handed to the watcher by a recheck, not by the OS. */
  #rechecking = new Set<string>();
  /**
   * When files a git rebase re-created had arrived, by `<channel>/<id>`, with when that was
   * said: judged by it instead of by their new ctime (see {@linkcode keepArrivals}).
   */
  #arrivals = new Map<string, { at: number; told: number }>();
  #closed = false;

  constructor(
    transport: Transport,
    handler: (messages: Message[]) => Promise<void>,
    options: MessageFeedOptions,
  ) {
    this.#transport = transport;
    this.#handler = handler;
    this.#options = options;
    this.#watcher = new BusWatcher(transport.channelsDir, (batch) => this.#onBatch(batch), {
      mode: options.mode,
      pollIntervalMs: options.pollIntervalMs,
      ignore: (path) => path.split(SEPARATOR).at(-1)!.startsWith("."),
      onPath: (path) => this.#noticeChannelChange(path),
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }

  /**
   * Starts watching, then delivers everything the cursor has not seen. With `ignoreBefore` (an
   * id prefix), what that first look finds older than it is recorded as handled without being
   * read: an engine's first start on a transport with a long history.
   */
  async start(options: { ignoreBefore?: string } = {}): Promise<void> {
    await Deno.mkdir(this.#transport.channelsDir, { recursive: true });
    this.#ignoreBefore = options.ignoreBefore;
    this.#watcher.start();
    // OS events report every change of a CHANNEL.md (below): the transport may trust what it
    // read of one until then. Polling sees changes late, so it may not.
    if (this.#options.mode === "events") this.#transport.watchingChannels?.(true);
    this.#watcher.rescan();
    try {
      await this.#watcher.flush();
    } finally {
      this.#ignoreBefore = undefined;
    }
  }

  /** Looks at the whole bus again (e.g. after a git fetch). */
  rescan(): void {
    this.#watcher.rescan();
  }

  /**
   * Delivers a message this process has just written, as if its file had been read: the feed
   * takes it in its turn, once, and the watch event that follows finds it handled.
   */
  deliverWritten(message: Message): void {
    if (this.#written.size >= MAX_WRITTEN) this.#written.clear(); // read from disk, then
    this.#written.set(`${message.channel}/${message.id}`, message);
    this.#watcher.add([join(this.#transport.channelsDir, message.channel, message.id)]);
  }

  /**
   * Says when message files (relative to the transport root) that are about to be re-created
   * arrived: a git rebase writes our own unpushed files again, and one older than the cursor's
   * horizon, already handled and forgotten since, would otherwise look new. Kept ten minutes.
   */
  keepArrivals(arrivals: Map<string, number>): void {
    const now = Date.now();
    for (const [key, { told }] of this.#arrivals) {
      if (now - told > ARRIVALS_KEPT_MS) this.#arrivals.delete(key);
    }
    const prefix = `${relative(this.#transport.root, this.#transport.channelsDir)}/`;
    for (const [path, at] of arrivals) {
      if (path.startsWith(prefix)) this.#arrivals.set(path.slice(prefix.length), { at, told: now });
    }
  }

  /** Delivers these files (relative to the transport root) if they are new messages. */
  deliver(paths: Iterable<string>): void {
    const root = this.#transport.root;
    const absolute = [...paths].map((p) => join(root, p));
    for (const path of absolute) this.#noticeChannelChange(path);
    this.#watcher.add(absolute);
  }

  /** Runs `fn` while no message is read (see {@linkcode BusWatcher.exclusive}). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.#watcher.exclusive(fn);
  }

  /** Resolves when every change seen so far has been delivered. */
  flush(): Promise<void> {
    return this.#watcher.flush();
  }

  /** Stops watching; waits for a delivery in progress. */
  close(): Promise<void> {
    this.#closed = true;
    this.#transport.watchingChannels?.(false);
    for (const timer of this.#rechecks.values()) clearTimeout(timer);
    this.#rechecks.clear();
    this.#rechecking.clear();
    return this.#watcher.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #onBatch(batch: WatchBatch): Promise<void> {
    const candidates = new Map<string, MessageRef>();
    const add = (ref: MessageRef) => candidates.set(`${ref.channel}/${ref.id}`, ref);
    if (batch.rescan) {
      this.#transport.channelChanged?.();
      for (const ref of await this.#scanAll()) add(ref);
    } else {
      // A new folder: files may have landed in it before the OS watcher saw it, so walk it (only
      // it: rescanning the whole channel would cost a read of every day folder at midnight).
      const foldersToScan = new Map<string, { channel: string; under: string[] }>();
      for (const path of batch.paths) {
        const rel = this.#channelRelative(path);
        if (rel.startsWith("..")) continue;
        const [channel, ...rest] = rel.split("/");
        if (!channel || !isChannelId(channel)) continue;
        const id = rest.join("/");
        if (rest.length === 4 && tryParseMessageId(id)) {
          // A file that shows up has just arrived, unless a rebase re-created it.
          const arrived = this.#arrivals.get(`${channel}/${id}`);
          const fresh = arrived === undefined
            ? this.#options.cursor.isNew({ channel, id })
            : await this.#options.cursor.isNew({ channel, id }, () => Promise.resolve(arrived.at));
          if (fresh === true) add({ channel, id });
          else this.#written.delete(`${channel}/${id}`); // its file was read first
        } else if (rest.length < 4 && rest.every((part) => /^\d+$/.test(part))) {
          foldersToScan.set(rel, { channel, under: rest });
          // A look of our own (below) is not a new folder: it schedules nothing more.
          if (!this.#rechecking.delete(path)) this.#recheck(path);
        }
      }
      for (const { channel, under } of foldersToScan.values()) {
        for (const ref of await this.#scanChannel(channel, under)) add(ref);
      }
    }
    if (candidates.size === 0) return;
    await this.#deliver([...candidates.values()]);
  }

  /**
   * Tells the transport at once (not when the path's batch is handled) that a channel's folder
   * (made, renamed, removed) or a file directly in it (CHANNEL.md) changed.
   */
  #noticeChannelChange(path: string): void {
    const rel = this.#channelRelative(path);
    if (rel.startsWith("..")) return;
    const [channel, file, ...deeper] = rel.split("/");
    if (deeper.length > 0 || !channel || !isChannelId(channel)) return;
    if (file === undefined || !/^\d+$/.test(file)) this.#transport.channelChanged?.(channel);
  }

  /** `path` relative to the channels folder, with `/` between parts (`..` first when outside). */
  #channelRelative(path: string): string {
    const dir = this.#transport.channelsDir + SEPARATOR;
    const rel = path.startsWith(dir)
      ? path.slice(dir.length)
      : relative(this.#transport.channelsDir, path);
    return SEPARATOR === "/" ? rel : rel.split(SEPARATOR).join("/");
  }

  /** Looks at a new folder again, a few times, until its watch has surely begun. */
  #recheck(path: string, step = 0): void {
    const delay = NEW_FOLDER_RECHECK_MS[step];
    if (this.#closed || delay === undefined || (step === 0 && this.#rechecks.has(path))) return;
    this.#rechecks.set(
      path,
      setTimeout(() => {
        this.#rechecks.delete(path);
        this.#rechecking.add(path);
        this.#watcher.add([path]);
        this.#recheck(path, step + 1);
      }, delay),
    );
  }

  async #deliver(refs: MessageRef[]): Promise<void> {
    refs.sort((a, b) => cmp(a.channel, b.channel) || cmp(a.id, b.id));
    const missing = refs.map((r) => `${r.channel}/${r.id}`).filter((k) => !this.#written.has(k));
    if (this.#options.beforeRead && missing.length > 0) {
      await this.#options.beforeRead(() => missing.every((k) => this.#written.has(k)));
    }
    const messages: Message[] = [];
    const handled: MessageRef[] = [];
    for (const ref of refs) {
      if (this.#ignoreBefore !== undefined && ref.id < this.#ignoreBefore) {
        handled.push(ref);
        continue;
      }
      const written = this.#written.get(`${ref.channel}/${ref.id}`);
      if (written) {
        this.#written.delete(`${ref.channel}/${ref.id}`);
        messages.push(written);
        handled.push(ref);
        continue;
      }
      try {
        messages.push(await this.#transport.readMessage(ref.channel, ref.id));
        handled.push(ref);
      } catch (error) {
        if (error instanceof CrosstalkError && error.code === "ERR_MESSAGE_NOT_FOUND") continue;
        if (!(error instanceof CrosstalkError)) throw error;
        const file = `data/channels/${ref.channel}/${ref.id}`;
        for (const bad of badFilesOf(error, file, ref)) this.#options.onBad?.(bad);
        handled.push(ref);
      }
    }
    if (messages.length > 0) await this.#handler(messages);
    await this.#options.cursor.mark(handled);
  }

  async #scanAll(): Promise<MessageRef[]> {
    const out: MessageRef[] = [];
    const entries = await readDirNames(this.#transport.channelsDir);
    for (const entry of entries) {
      if (entry.isDirectory && isChannelId(entry.name)) {
        out.push(...await this.#scanChannel(entry.name));
      }
    }
    return out;
  }

  /**
   * The unseen ids of one channel (or of one of its year, month or day folders); day folders
   * untouched since the cursor's horizon are skipped.
   */
  async #scanChannel(channel: string, under: string[] = []): Promise<MessageRef[]> {
    const cursor = this.#options.cursor;
    const out: MessageRef[] = [];
    const base = join(this.#transport.channelsDir, channel);
    const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
      for (const entry of await readDirNames(dir)) {
        if (entry.name.startsWith(".")) continue;
        const rel = prefix + entry.name;
        const path = join(dir, entry.name);
        if (depth < 3) {
          if (!entry.isDirectory || !/^\d+$/.test(entry.name)) continue;
          if (depth === 2 && cursor.horizon !== undefined) {
            const info = await Deno.stat(path);
            if (!cursor.mayHoldNew(`${rel}/`, info.mtime?.getTime() ?? Date.now())) continue;
          }
          await walk(path, `${rel}/`, depth + 1);
          continue;
        }
        if (!entry.isFile || !tryParseMessageId(rel)) continue;
        const ref = { channel, id: rel };
        const fresh = await cursor.isNew(ref, async () => {
          const arrived = this.#arrivals.get(`${channel}/${rel}`);
          if (arrived !== undefined) return arrived.at;
          const info = await Deno.stat(path);
          return Math.max(info.ctime?.getTime() ?? 0, info.mtime?.getTime() ?? 0);
        });
        if (fresh) out.push(ref);
      }
    };
    await walk(join(base, ...under), under.map((part) => `${part}/`).join(""), under.length);
    return out;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

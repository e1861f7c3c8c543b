/**
 * `LocalTransport`: the bus as a plain directory on a local disk or a network mount.
 */
import { join, resolve } from "./path.ts";
import { CrosstalkError, InvalidDocumentError } from "../schema/errors.ts";
import { type Channel, formatChannelFile, parseChannelFile } from "./channel.ts";
import { formatMessage, type Message, type MessageFields, parseMessage } from "./message.ts";
import {
  isChannelId,
  newChannelId,
  newMessageId,
  parseMessageId,
  tryParseMessageId,
} from "./names.ts";
import { exists, readDirNames, readTextFile, TEMP_PREFIX, writeFileAtomic } from "./_fs.ts";
import type {
  BadFile,
  ChannelFileName,
  ListOptions,
  MessageRef,
  Transport,
  TransportKind,
  WriteMessageOptions,
} from "./transport.ts";

/** Largest message file a reader accepts; bigger files are reported, not loaded. */
export const MAX_MESSAGE_FILE_BYTES = 64 * 1024 * 1024;
const MAX_CHANNEL_FILE_BYTES = 64 * 1024;
const encoder = new TextEncoder();

/** How many parsed channel files a transport keeps. */
const MAX_CACHED_CHANNELS = 10_000;
/**
 * How long a watched channel file is trusted without a look at the disk by default. An overflow of
 * the OS watch reaches the feed as a rescan (which forgets every channel); the stat once a second
 * bounds what any other missed event could cost.
 */
const CHANNEL_TRUST_MS = 1_000;
/**
 * The folder (under the transport root, outside the watched `data/channels`, git-ignored by the
 * template's `**\/.crosstalk-tmp-*`) where a message file is written and flushed before it is
 * hard-linked into its channel: the watchers then see one event per message instead of five.
 * `crosstalk transport check` reports temp files an interrupted write left there.
 */
export const MESSAGE_TEMP_DIR = `${TEMP_PREFIX}messages`;

/** Options for {@linkcode LocalTransport}. */
export interface LocalTransportOptions {
  /** Flush each message to disk before it becomes visible. Default true. */
  sync?: boolean;
  /** The clock, for tests. */
  now?: () => Date;
  /**
   * While a watch reports channel changes (see watchingChannels), how long a channel read
   * before is used without a look at the disk. Default 1,000 ms.
   */
  channelTrustMs?: number;
}

/** The bus as a directory: atomic writes, validated reads. */
export class LocalTransport implements Transport {
  readonly kind: TransportKind = "local";
  readonly root: string;
  readonly channelsDir: string;
  #sync: boolean;
  /**
   * Where a message is written before it is linked into its channel (see MESSAGE_TEMP_DIR);
   * undefined once a link from it could not cross into the channel folder.
   */
  #tempDir: string | undefined;
  #now: () => Date;
  /** Parsed CHANNEL.md files by channel id, with the stat they were read at. */
  #channels = new Map<string, { version: string; channel: Channel; checkedAt: number }>();
  /** Trust #channels without a stat (see watchingChannels). */
  #watched = false;
  #trustMs: number;
  /** Counts channel changes, so that a read that raced one is not cached. */
  #epoch = 0;

  constructor(root: string, options: LocalTransportOptions = {}) {
    this.root = resolve(root);
    this.channelsDir = join(this.root, "data", "channels");
    this.#tempDir = join(this.root, MESSAGE_TEMP_DIR);
    this.#sync = options.sync ?? true;
    this.#now = options.now ?? (() => new Date());
    this.#trustMs = options.channelTrustMs ?? CHANNEL_TRUST_MS;
  }

  async listChannels(bad?: BadFile[]): Promise<Channel[]> {
    const channels: Channel[] = [];
    const entries = await readDirNames(this.channelsDir);
    const ids = entries.filter((e) => e.isDirectory && isChannelId(e.name)).map((e) => e.name);
    ids.sort();
    await Promise.all(ids.map(async (id) => {
      try {
        channels.push(await this.getChannel(id));
      } catch (error) {
        if (!(error instanceof CrosstalkError)) throw error;
        bad?.push(...badFilesOf(error, `data/channels/${id}/CHANNEL.md`));
      }
    }));
    return channels.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  watchingChannels(on: boolean): void {
    this.#watched = on;
    this.channelChanged();
  }

  channelChanged(id?: string): void {
    this.#epoch++;
    if (id === undefined) this.#channels.clear();
    else this.#channels.delete(id);
  }

  async getChannel(id: string): Promise<Channel> {
    checkChannelId(id);
    const label = `data/channels/${id}/CHANNEL.md`;
    const path = join(this.channelsDir, id, "CHANNEL.md");
    if (this.#watched) {
      const cached = this.#channels.get(id);
      if (cached && performance.now() - cached.checkedAt < this.#trustMs) {
        return { ...cached.channel };
      }
    }
    const epoch = this.#epoch;
    let text: string;
    let version: string | undefined;
    try {
      // Every write of CHANNEL.md is a new file renamed into place: a new inode, so a file whose
      // inode, size and mtime are unchanged is the one parsed before (one stat instead of a read
      // and a YAML parse on every send).
      // Without inode numbers (some network filesystems) nothing is cached.
      const info = await Deno.stat(path);
      version = info.ino ? `${info.ino}:${info.size}:${info.mtime?.getTime()}` : undefined;
      const cached = version === undefined ? undefined : this.#channels.get(id);
      if (cached && cached.version === version) {
        cached.checkedAt = performance.now();
        return { ...cached.channel };
      }
      text = await readTextFile(path, MAX_CHANNEL_FILE_BYTES, "ERR_CHANNEL_INVALID", label);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        this.#channels.delete(id);
        throw new CrosstalkError("ERR_CHANNEL_NOT_FOUND", `No channel "${id}" in this transport`);
      }
      throw error;
    }
    const channel = parseChannelFile(id, text, label);
    if (version !== undefined && epoch === this.#epoch) {
      if (this.#channels.size >= MAX_CACHED_CHANNELS) this.#channels.clear();
      this.#channels.set(id, { version, channel, checkedAt: performance.now() });
    }
    return { ...channel };
  }

  async createChannel(channel: Omit<Channel, "id"> & { id?: string }): Promise<Channel> {
    const id = channel.id ?? newChannelId();
    checkChannelId(id);
    const created: Channel = {
      ...channel,
      id,
      created: channel.created ?? this.#now().toISOString(),
    };
    const dir = join(this.channelsDir, id);
    try {
      await Deno.mkdir(dir, { recursive: false });
    } catch (error) {
      // A folder already there without its CHANNEL.md is a creation that a crash cut short
      // (nothing is written into a channel before its CHANNEL.md): this one finishes it.
      if (!(error instanceof Deno.errors.AlreadyExists)) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        await Deno.mkdir(this.channelsDir, { recursive: true });
        await Deno.mkdir(dir, { recursive: true });
      }
    }
    try {
      // Linked into place only if there is none yet: of two creations of one id, one wins.
      await writeFileAtomic(join(dir, "CHANNEL.md"), formatChannelFile(created), {
        sync: this.#sync,
        exclusive: true,
      });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) {
        throw new CrosstalkError("ERR_CHANNEL_EXISTS", `Channel "${id}" already exists`);
      }
      throw error;
    }
    return created;
  }

  async updateChannel(channel: Channel): Promise<Channel> {
    await this.getChannel(channel.id);
    await writeFileAtomic(
      join(this.channelsDir, channel.id, "CHANNEL.md"),
      formatChannelFile(channel),
      {
        sync: this.#sync,
      },
    );
    this.channelChanged(channel.id);
    return channel;
  }

  async writeChannelFile(id: string, name: ChannelFileName, text: string): Promise<void> {
    checkChannelFileName(name);
    await this.getChannel(id);
    await writeFileAtomic(join(this.channelsDir, id, name), text, { sync: this.#sync });
  }

  async readChannelFile(id: string, name: ChannelFileName): Promise<string | undefined> {
    checkChannelId(id);
    checkChannelFileName(name);
    const label = `data/channels/${id}/${name}`;
    try {
      return await readTextFile(
        join(this.channelsDir, id, name),
        MAX_CHANNEL_FILE_BYTES,
        "ERR_CHANNEL_INVALID",
        label,
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  async deleteChannel(id: string): Promise<void> {
    await this.getChannel(id);
    // Rename first so that no reader sees a half-deleted channel, then remove at leisure.
    const trash = join(this.channelsDir, `${TEMP_PREFIX}deleted-${id}`);
    const traces = await this.channelTraces(id);
    this.channelChanged(id);
    await Deno.rename(join(this.channelsDir, id), trash);
    await Deno.remove(trash, { recursive: true });
    for (const path of traces) await Deno.remove(path, { recursive: true }).catch(() => {});
  }

  /**
   * What the bus keeps about a channel's messages outside its folder, to go with it: receipts,
   * badges and tasks (`data/annotations/<id>`), finished claims (`data/claims/<id>`) and open
   * leases (`data/claims/open/<id>~…`). Absolute paths of those that exist.
   */
  protected async channelTraces(id: string): Promise<string[]> {
    checkChannelId(id);
    const data = join(this.root, "data");
    const paths = [join(data, "annotations", id), join(data, "claims", id)];
    const open = join(data, "claims", "open");
    for (const entry of await readDirNames(open)) {
      if (entry.name.startsWith(`${id}~`)) paths.push(join(open, entry.name));
    }
    const present = await Promise.all(paths.map((p) => exists(p)));
    return paths.filter((_, i) => present[i]);
  }

  /** True where a subclass makes `options.with` part of its own commit (git). */
  protected get attachedInCommit(): boolean {
    return false;
  }

  async writeMessage(
    channel: string,
    fields: MessageFields,
    options: WriteMessageOptions = {},
  ): Promise<Message> {
    checkChannelId(channel);
    const bodyBytes = encoder.encode(fields.body).length;
    if (options.maxBodyBytes !== undefined && bodyBytes > options.maxBodyBytes) {
      throw new CrosstalkError(
        "ERR_MESSAGE_TOO_LARGE",
        `Cannot send a message of ${bodyBytes} bytes: the limit is ${options.maxBodyBytes} (limits.message_bytes)`,
      );
    }
    // Only a write that would make the day folder looks at CHANNEL.md: a channel that is gone
    // (or never was) must not get folders back. A day folder in place means the channel is.
    const channelExists = async () => {
      if (!(await exists(join(this.channelsDir, channel, "CHANNEL.md")))) {
        throw new CrosstalkError(
          "ERR_CHANNEL_NOT_FOUND",
          `No channel "${channel}" in this transport`,
        );
      }
    };
    const text = formatMessage(fields);
    const time = new Date(fields.timestamp);
    for (let attempt = 0;; attempt++) {
      const id = options.id ?? newMessageId(Number.isNaN(time.getTime()) ? this.#now() : time);
      parseMessageId(id);
      try {
        const place = await writeFileAtomic(join(this.channelsDir, channel, id), text, {
          sync: this.#sync,
          exclusive: true,
          ...(this.#tempDir === undefined ? {} : { tempDir: this.#tempDir }),
          beforeMkdir: channelExists,
        });
        // The link cannot cross into data/channels (another filesystem, no hard links): that
        // does not change, so later writes go beside their name at once.
        if (place === "beside") this.#tempDir = undefined;
        if (!this.attachedInCommit) await options.with?.apply();
        return writtenMessage(fields, channel, id);
      } catch (error) {
        // Two writers drew the same 32 random bits in the same millisecond: draw again.
        if (!(error instanceof Deno.errors.AlreadyExists) || options.id || attempt > 8) throw error;
      }
    }
  }

  async listMessageIds(channel: string, options: ListOptions = {}): Promise<string[]> {
    checkChannelId(channel);
    const { since, before } = options;
    if (since !== undefined) parseMessageId(since);
    if (before !== undefined) parseMessageId(before);
    const limit = options.limit ?? Infinity;
    const base = join(this.channelsDir, channel);
    if (!(await exists(base))) {
      throw new CrosstalkError(
        "ERR_CHANNEL_NOT_FOUND",
        `No channel "${channel}" in this transport`,
      );
    }
    const out: string[] = [];
    // Walk YYYY/MM/DD in order (backwards from `before`, when given, so that the last `limit`
    // come first), skipping whole folders outside the bounds.
    const backwards = before !== undefined;
    const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
      const names = (await readDirNames(dir))
        .filter((e) => !e.name.startsWith("."))
        .map((e) => e.name)
        .sort();
      if (backwards) names.reverse();
      for (const name of names) {
        if (out.length >= limit) return;
        const rel = prefix + name;
        if (depth < 3) {
          if (!/^\d+$/.test(name)) continue;
          if (since !== undefined && rel < since.slice(0, rel.length)) continue;
          if (before !== undefined && rel > before.slice(0, rel.length)) continue;
          await walk(join(dir, name), `${rel}/`, depth + 1);
        } else if (
          tryParseMessageId(rel) && (since === undefined || rel > since) &&
          (before === undefined || rel < before)
        ) {
          out.push(rel);
        }
      }
    };
    await walk(base, "", 0);
    return backwards ? out.reverse() : out;
  }

  async readMessage(channel: string, id: string): Promise<Message> {
    checkChannelId(channel);
    parseMessageId(id);
    const label = `data/channels/${channel}/${id}`;
    let text: string;
    try {
      text = await readTextFile(
        join(this.channelsDir, channel, id),
        MAX_MESSAGE_FILE_BYTES,
        "ERR_MESSAGE_INVALID",
        label,
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new CrosstalkError(
          "ERR_MESSAGE_NOT_FOUND",
          `No message "${id}" in channel "${channel}"`,
        );
      }
      throw error;
    }
    return { ...parseMessage(text, { file: label }), channel, id };
  }

  hasMessage(channel: string, id: string): Promise<boolean> {
    checkChannelId(channel);
    parseMessageId(id);
    return exists(join(this.channelsDir, channel, id));
  }

  messagePath(ref: MessageRef): string {
    return join(this.channelsDir, ref.channel, ref.id);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}

/** Turns an error from reading a file into the bad-file records `transport check` shows. */
export function badFilesOf(error: CrosstalkError, file: string, ref?: MessageRef): BadFile[] {
  const withRef = (bad: BadFile): BadFile => (ref ? { ...bad, ref } : bad);
  if (error instanceof InvalidDocumentError) return error.problems.map(withRef);
  return [withRef({ file, line: 0, column: 0, path: "", message: error.message })];
}

function checkChannelId(id: string): void {
  if (!isChannelId(id)) {
    throw new CrosstalkError(
      "ERR_ID_INVALID",
      `Invalid channel id ${JSON.stringify(id)}: expected a lowercase uuid`,
    );
  }
}

/** The message as any reader parses it back from the file written for `fields`. */
function writtenMessage(fields: MessageFields, channel: string, id: string): Message {
  const message: Message = { ...fields, body: fields.body.trimEnd(), channel, id };
  if (message.re?.length === 0) delete message.re;
  if (message.exclude?.length === 0) delete message.exclude;
  if (message.extra && Object.keys(message.extra).length === 0) delete message.extra;
  return message;
}

function checkChannelFileName(name: string): void {
  if (name !== "PLAN.json" && name !== "COMPLETE") {
    throw new CrosstalkError(
      "ERR_ID_INVALID",
      `A channel folder holds only PLAN.json and COMPLETE beside CHANNEL.md, not "${name}"`,
    );
  }
}

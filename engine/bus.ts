/**
 * `Bus`: channels and messages as people and programs use them — names instead of uuids,
 * validated sends, replies, waiting — on top of a `Transport` and the loaded config.
 */
import { join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import {
  BusWatcher,
  type Channel,
  checkChannelName,
  CLOCK_SKEW_MS,
  DEFAULT_CHANNEL,
  detectWatchMode,
  exists,
  formatMessageId,
  GitSync,
  GitTransport,
  isChannelId,
  LocalTransport,
  MAX_MESSAGE_FILE_BYTES,
  type Message,
  type MessageFields,
  newMessageId,
  parseAddress,
  parseMessageHandle,
  parseMessageId,
  readTextFile,
  type Transport,
  tryParseMessageId,
} from "../transports/mod.ts";
import type { Config } from "./config.ts";
import { validateTransportConfig } from "./setup.ts";
import { checkExclude, resolveAddress } from "./models.ts";
import { mentionsOf, namesProvider } from "./mentions.ts";
import type { Env, TransportLocation } from "./paths.ts";

/** Options for {@linkcode Bus.open}. */
export interface BusOpenOptions {
  env: Env;
  /** The clock, for tests. */
  now?: () => Date;
  /**
   * The caller stays running and owns the clone (the engine): on a git transport, a send
   * returns once the message is durable and its commit follows (GitTransportOptions.background).
   */
  backgroundCommits?: boolean;
}

/** What a send needs; everything but `body` has a default. */
export interface SendOptions {
  /**
   * The addressees (comma-separated entries are split). Left out or empty: the @mentions of the
   * body (engine/mentions.ts), except for a workflow request, which needs it.
   */
  to?: string[] | undefined;
  /** Who the message must not wake, whatever `to` says (comma-separated entries are split). */
  exclude?: string[] | undefined;
  body: string;
  /** A channel name, uuid or unique uuid prefix; default `general`. */
  channel?: string | undefined;
  /** The sender's address; default the user running the command. */
  from?: string | undefined;
  as?: string | undefined;
  /** Ids (in the same channel) this message replies to. */
  re?: string[] | undefined;
  /** Frontmatter keys beyond the protocol's, e.g. an idempotency key. */
  extra?: Record<string, unknown>;
  /** The message's id, when it was chosen and recorded before the write (a task's reply). */
  id?: string | undefined;
  /** `workflow` for a workflow request (docs/WORKFLOWS.md). */
  type?: "workflow" | undefined;
  /** A reply that reports a failure, with what went wrong. */
  failed?: { error: string } | undefined;
  /** Creates the channel (`channel` is then its name) when there is none by that name. */
  createChannel?: boolean | undefined;
}

/** A transport with its config, ready for channel and message operations. */
export class Bus implements AsyncDisposable {
  readonly location: TransportLocation;
  #config: Config;
  readonly transport: Transport;
  #env: Env;
  #now: () => Date;
  #byName = new Map<string, string>();
  #sent = new Set<(message: Message) => void>();
  #inFlight = new Set<Promise<Message>>();
  /** Told of each send that finishes (see sendsInFlight). */
  #settled = new Set<(sending: Promise<Message>) => void>();

  private constructor(
    location: TransportLocation,
    config: Config,
    transport: Transport,
    options: BusOpenOptions,
  ) {
    this.location = location;
    this.#config = config;
    this.transport = transport;
    this.#env = options.env;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Opens the transport at `location` and loads its config.
   *
   * @throws {CrosstalkError} `ERR_TRANSPORT_NOT_FOUND`, `ERR_TRANSPORT_INVALID`,
   *   `ERR_CONFIG_MISSING`, `ERR_CONFIG_INVALID`
   */
  static async open(location: TransportLocation, options: BusOpenOptions): Promise<Bus> {
    const config = await validateTransportConfig(location, options.env);
    const transportOptions = options.now ? { now: options.now } : {};
    const transport = config.transport === "git"
      ? new GitTransport(location.root, {
        ...transportOptions,
        commitWindowMs: config.git.commit_window_ms,
        background: options.backgroundCommits ?? false,
      })
      : new LocalTransport(location.root, transportOptions);
    return new Bus(location, config, transport, options);
  }

  /**
   * After direct writes on a git transport with a remote: pushes them once, without merging
   * (so it is safe beside a running engine, which pushes and merges on its own). Returns what
   * happened, for the caller to tell the user; undefined when there is nothing to push to.
   */
  async publish(): Promise<"pushed" | "behind" | undefined> {
    const transport = this.transport;
    if (!(transport instanceof GitTransport)) return undefined;
    const sync = await GitSync.open(transport, {
      networkTimeoutMs: this.config.git.network_timeout_seconds * 1000,
    });
    if (!sync) return undefined;
    return await sync.pushOnly() ? "pushed" : "behind";
  }

  /** The transport's loaded config. */
  get config(): Config {
    return this.#config;
  }

  /** Swaps in a newly loaded config (SIGHUP); the caller validated it. */
  replaceConfig(config: Config): void {
    this.#config = config;
  }

  /** Every channel, sorted by name then id. */
  async listChannels(): Promise<Channel[]> {
    const channels = await this.transport.listChannels();
    return channels.sort((a, b) => a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1));
  }

  /**
   * Finds a channel by uuid, name, or unique uuid prefix (at least 4 characters).
   *
   * @throws {CrosstalkError} `ERR_CHANNEL_NOT_FOUND`, `ERR_CHANNEL_AMBIGUOUS`
   */
  async resolveChannel(handle: string): Promise<Channel> {
    if (isChannelId(handle)) return await this.transport.getChannel(handle);
    // A name seen before: one read confirms it still names that channel (no full scan).
    const cached = this.#byName.get(handle);
    if (cached) {
      const current = await this.transport.getChannel(cached).catch(() => undefined);
      if (current?.name === handle) return current;
      this.#byName.delete(handle);
    }
    const channels = await this.transport.listChannels();
    const byName = channels.filter((c) => c.name === handle);
    if (byName.length === 1) {
      this.#byName.set(handle, byName[0]!.id);
      return byName[0]!;
    }
    if (byName.length > 1) {
      throw new CrosstalkError(
        "ERR_CHANNEL_AMBIGUOUS",
        `Channel name "${handle}" is ambiguous: ${byName.map((c) => c.id).join(", ")} (use the id)`,
      );
    }
    const lower = handle.toLowerCase();
    const byPrefix = /^[0-9a-f-]{4,}$/.test(lower)
      ? channels.filter((c) => c.id.startsWith(lower))
      : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) {
      throw new CrosstalkError(
        "ERR_CHANNEL_AMBIGUOUS",
        `Channel prefix "${handle}" matches ${byPrefix.length} channels: ${
          byPrefix.map((c) => `${c.id} (${c.name})`).join(", ")
        }`,
      );
    }
    throw new CrosstalkError(
      "ERR_CHANNEL_NOT_FOUND",
      `No channel named "${handle}" (run "crosstalk channel list", or "crosstalk channel create ${
        JSON.stringify(handle)
      }")`,
    );
  }

  /**
   * Creates a channel with a unique name.
   *
   * @throws {CrosstalkError} `ERR_CHANNEL_INVALID`, `ERR_CHANNEL_EXISTS`, `ERR_CHANNEL_NOT_FOUND`
   */
  createChannel(name: string, parent?: string): Promise<Channel> {
    // One at a time: the check that a name is free and the creation are two steps, and requests
    // racing through one engine must not both pass the check.
    const creating = this.#creating.then(async () => {
      checkChannelName(name);
      await this.#refuseTakenName(name);
      const parentChannel = parent === undefined ? undefined : await this.resolveChannel(parent);
      return await this.transport.createChannel({
        name,
        created: this.#now().toISOString(),
        ...(parentChannel ? { parent: parentChannel.id } : {}),
      });
    });
    this.#creating = creating.catch(() => {});
    return creating;
  }

  #creating: Promise<unknown> = Promise.resolve();

  /** Renames a channel. @throws {CrosstalkError} `ERR_CHANNEL_INVALID`, `ERR_CHANNEL_EXISTS` */
  async renameChannel(handle: string, name: string): Promise<Channel> {
    checkChannelName(name);
    const channel = await this.resolveChannel(handle);
    if (channel.name === name) return channel;
    await this.#refuseTakenName(name);
    return await this.transport.updateChannel({ ...channel, name });
  }

  /**
   * Deletes a channel and its messages. A channel with children is refused.
   *
   * @throws {CrosstalkError} `ERR_CHANNEL_NOT_FOUND`, `ERR_CHANNEL_INVALID` (has children)
   */
  async deleteChannel(handle: string): Promise<Channel> {
    const channel = await this.resolveChannel(handle);
    const children = (await this.transport.listChannels()).filter((c) => c.parent === channel.id);
    if (children.length > 0) {
      throw new CrosstalkError(
        "ERR_CHANNEL_INVALID",
        `Cannot delete channel "${channel.name}": it is the parent of ${
          children.map((c) => `"${c.name}"`).join(", ")
        } (delete those first)`,
      );
    }
    await this.transport.deleteChannel(channel.id);
    return channel;
  }

  /**
   * Writes a new message after checking every field.
   *
   * @throws {CrosstalkError} `ERR_ADDRESS_INVALID`, `ERR_UNKNOWN_MODEL`, `ERR_AMBIGUOUS_MODEL`,
   *   `ERR_CHANNEL_NOT_FOUND`, `ERR_MESSAGE_NOT_FOUND` (a `re` that does not exist),
   *   `ERR_MESSAGE_TOO_LARGE`, `ERR_MESSAGE_INVALID`
   */
  async send(options: SendOptions): Promise<Message> {
    const sending = this.#send(options);
    this.#inFlight.add(sending);
    try {
      return await sending;
    } finally {
      this.#inFlight.delete(sending);
      for (const settled of this.#settled) settled(sending);
    }
  }

  /**
   * Resolves when the sends in flight now have finished, failed or not (by then each one that
   * succeeded has told the {@linkcode onSent} listeners), when `enough` says so (asked as each
   * one finishes), or after `maxMs`, whichever is first.
   */
  async sendsInFlight(maxMs: number, enough: () => boolean = () => false): Promise<void> {
    const waiting = new Set(this.#inFlight);
    if (waiting.size === 0 || enough()) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    const settled = (sending: Promise<Message>) => {
      waiting.delete(sending);
      if (waiting.size === 0 || enough()) resolve();
    };
    this.#settled.add(settled);
    const timer = setTimeout(resolve, maxMs);
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      this.#settled.delete(settled);
    }
  }

  /**
   * `to` as given, or when it names nobody, the body's @mentions. A mentioned `provider/model`
   * that is no model of the transport is text (an npm scope: `@types/node`), not an addressee.
   *
   * @throws {CrosstalkError} `ERR_USAGE` when there is no addressee
   */
  #addressees(options: SendOptions): string[] {
    const to = splitAddresses(options.to ?? []);
    if (to.length > 0) return to;
    // A workflow's text names the models of its steps: never its addressee.
    if (options.type === "workflow") {
      throw new CrosstalkError(
        "ERR_USAGE",
        'A workflow request needs "to": "workflow", or the one model that plans it',
      );
    }
    const mentioned = mentionsOf(options.body);
    const addressees = mentioned.filter((a) => !namesProvider(a) || this.#isModel(a));
    if (addressees.length > 0) return addressees;
    const ignored = mentioned.length === 0
      ? ""
      : `; ${mentioned.map((m) => `"@${m}"`).join(", ")} ${
        mentioned.length === 1 ? "is no model" : "are no models"
      } of this transport`;
    throw new CrosstalkError(
      "ERR_USAGE",
      'No addressee: name them with "to" (--to) or an @mention in the text, like "@bob" ' +
        `(to reach every live agent: "@here")${ignored}`,
    );
  }

  #isModel(address: string): boolean {
    try {
      return resolveAddress(address, this.config).kind === "model";
    } catch {
      return false;
    }
  }

  async #checkActor(as: string): Promise<void> {
    parseAddress(as);
    if (!(await exists(join(this.location.root, "local", "actors", `${as}.md`)))) {
      throw new CrosstalkError(
        "ERR_MESSAGE_INVALID",
        `No actor "${as}": "local/actors/${as}.md" does not exist`,
      );
    }
  }

  /**
   * The channel a message goes to; with `create`, a new one by that name when there is none
   * (after every check of the message that could still refuse it, so a refused message leaves
   * no channel behind).
   */
  async #sendChannel(
    handle: string,
    { create, bodyBytes }: { create: boolean; bodyBytes: number },
  ): Promise<Channel> {
    try {
      return await this.resolveChannel(handle);
    } catch (error) {
      if (!create || !(error instanceof CrosstalkError && error.code === "ERR_CHANNEL_NOT_FOUND")) {
        throw error;
      }
    }
    if (bodyBytes > this.config.limits.message_bytes) {
      throw new CrosstalkError(
        "ERR_MESSAGE_TOO_LARGE",
        `Cannot send a message of ${bodyBytes} bytes: the limit is ${this.config.limits.message_bytes} (limits.message_bytes)`,
      );
    }
    try {
      return await this.createChannel(handle);
    } catch (error) {
      // Another sender made it a moment ago.
      if (error instanceof CrosstalkError && error.code === "ERR_CHANNEL_EXISTS") {
        return await this.resolveChannel(handle);
      }
      throw error;
    }
  }

  async #send(options: SendOptions): Promise<Message> {
    const to = this.#addressees(options);
    for (const address of to) resolveAddress(address, this.config);
    const exclude = splitAddresses(options.exclude ?? []);
    checkExclude(exclude);
    if (options.type === "workflow") checkWorkflowAddress(to, this.config);
    const from = options.from ?? defaultSender(this.#env);
    parseAddress(from);
    if (options.body.trim() === "") {
      throw new CrosstalkError("ERR_MESSAGE_INVALID", "Cannot send an empty message");
    }
    if (options.as !== undefined) await this.#checkActor(options.as);
    const re = options.re ?? [];
    const channel = await this.#sendChannel(options.channel ?? DEFAULT_CHANNEL, {
      create: options.createChannel === true && re.length === 0,
      bodyBytes: new TextEncoder().encode(options.body).length,
    });
    for (const id of re) {
      parseMessageId(id);
      if (!(await this.transport.hasMessage(channel.id, id))) {
        throw new CrosstalkError(
          "ERR_MESSAGE_NOT_FOUND",
          `Cannot reply to "${id}": no such message in channel "${channel.name}"`,
        );
      }
    }
    const fields: MessageFields = {
      from,
      to,
      timestamp: this.#now().toISOString(),
      body: options.body,
    };
    if (exclude.length > 0) fields.exclude = exclude;
    if (re.length > 0) fields.re = re;
    if (options.as !== undefined) fields.as = options.as;
    if (options.extra) fields.extra = options.extra;
    if (options.type) fields.type = options.type;
    if (options.failed) {
      fields.failed = true;
      fields.error = options.failed.error;
    }
    const message = await this.transport.writeMessage(channel.id, fields, {
      maxBodyBytes: this.config.limits.message_bytes,
      ...(options.id === undefined ? {} : { id: options.id }),
    });
    for (const listener of this.#sent) listener(message);
    return message;
  }

  /**
   * Calls `listener` with every message this Bus writes through {@linkcode send}, once it is on
   * the bus (an engine hands its own API's sends to its feed without reading them back). Returns
   * the function that stops it.
   */
  onSent(listener: (message: Message) => void): () => void {
    this.#sent.add(listener);
    return () => this.#sent.delete(listener);
  }

  /**
   * A channel's messages in order, after `since` and before `before` (both exclusive), at most
   * `limit` (with `before`, the last `limit` before it). When the page was full, `next` is the
   * last id listed, or with `before`, `previous` the first (files that cannot be read are
   * skipped, and do not end the paging early).
   */
  async listMessages(
    channelHandle: string | undefined,
    options: {
      since?: string | undefined;
      before?: string | undefined;
      limit?: number | undefined;
    } = {},
  ): Promise<
    { channel: Channel; messages: Message[]; skipped: number; next?: string; previous?: string }
  > {
    const channel = await this.resolveChannel(channelHandle ?? DEFAULT_CHANNEL);
    const ids = await this.transport.listMessageIds(channel.id, {
      ...(options.since === undefined ? {} : { since: options.since }),
      ...(options.before === undefined ? {} : { before: options.before }),
      ...(options.limit === undefined ? {} : { limit: options.limit }),
    });
    const { messages, skipped } = await this.#readMany(channel.id, ids);
    const full = options.limit !== undefined && ids.length === options.limit;
    const cursor = !full
      ? {}
      : options.before === undefined
      ? { next: ids.at(-1)! }
      : { previous: ids[0]! };
    return { channel, messages, skipped, ...cursor };
  }

  /** A new message id, by this Bus's clock: for a send that records its id before it writes. */
  newMessageId(): string {
    return newMessageId(this.#now());
  }

  /**
   * Finds one message by id (searching every channel when none is given), `<channel>/<id>`, or
   * `data/channels/<channel>/<id>`.
   *
   * @throws {CrosstalkError} `ERR_ID_INVALID`, `ERR_MESSAGE_NOT_FOUND`, `ERR_MESSAGE_AMBIGUOUS`
   */
  async findMessage(ref: string, channelHandle?: string): Promise<Message> {
    const handle = parseMessageHandle(ref);
    if (handle.channel !== undefined || channelHandle !== undefined) {
      const channel = handle.channel ?? (await this.resolveChannel(channelHandle!)).id;
      return await this.transport.readMessage(channel, handle.id);
    }
    const channels = await this.transport.listChannels();
    const found: string[] = [];
    for (const channel of channels) {
      if (await this.transport.hasMessage(channel.id, handle.id)) found.push(channel.id);
    }
    if (found.length === 0) {
      throw new CrosstalkError("ERR_MESSAGE_NOT_FOUND", `No message "${handle.id}" in any channel`);
    }
    if (found.length > 1) {
      throw new CrosstalkError(
        "ERR_MESSAGE_AMBIGUOUS",
        `Message id "${handle.id}" is in ${found.length} channels: name one with --channel`,
      );
    }
    return await this.transport.readMessage(found[0]!, handle.id);
  }

  /** The replies to `message` so far: messages in its channel whose `re` names it. */
  async replies(message: Message): Promise<Message[]> {
    const since = idBefore(message.id);
    const ids = await this.transport.listMessageIds(message.channel, { since });
    const { messages } = await this.#readMany(
      message.channel,
      ids.filter((id) => id !== message.id),
      [message.id],
    );
    return messages.filter((m) => m.re?.includes(message.id));
  }

  /**
   * Waits until every message in `messages` has at least one reply, or the time is up; returns
   * the replies found (possibly none). Works with or without an engine: it watches the files,
   * and reads each new file once.
   */
  async waitForReplies(
    messages: Message[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Message[]> {
    const targets = new Set(messages.map((m) => `${m.channel}/${m.id}`));
    const replies = new Map<string, Message>();
    const read = new Set<string>();
    const answered = new Set<string>();
    const channels = new Map<string, string>();
    for (const m of messages) {
      const since = idBefore(m.id);
      const current = channels.get(m.channel);
      if (current === undefined || since < current) channels.set(m.channel, since);
    }
    const collect = async () => {
      for (const [channel, since] of channels) {
        const ids = await this.transport.listMessageIds(channel, { since });
        const fresh = ids.filter((id) => !read.has(`${channel}/${id}`));
        const wanted = messages.filter((m) => m.channel === channel).map((m) => m.id);
        const { messages: found, unsettled } = await this.#readMany(channel, fresh, wanted);
        // What could not be read yet is read again at the next change.
        const retry = new Set(unsettled);
        for (const id of fresh) if (!retry.has(id)) read.add(`${channel}/${id}`);
        for (const m of found) {
          const hits = (m.re ?? []).filter((id) => targets.has(`${channel}/${id}`));
          if (hits.length === 0) continue;
          replies.set(`${channel}/${m.id}`, m);
          for (const id of hits) answered.add(`${channel}/${id}`);
        }
      }
    };
    const done = () => answered.size === targets.size;
    const sorted = () =>
      [...replies.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    await collect();
    if (done() || timeoutMs <= 0) return sorted();
    const mode = this.config.engine.watch === "auto"
      ? await detectWatchMode(this.transport.channelsDir)
      : this.config.engine.watch;
    const { promise, resolve } = Promise.withResolvers<void>();
    const watcher = new BusWatcher(this.transport.channelsDir, async () => {
      await collect();
      if (done()) resolve();
    }, { mode, pollIntervalMs: mode === "poll" ? this.config.engine.poll_interval_ms : 0 });
    watcher.start();
    // A reply may have landed between the first look and the watcher's start.
    watcher.rescan();
    const timer = setTimeout(resolve, timeoutMs);
    // Stopping the engine ends the wait early, with what has arrived so far.
    signal?.addEventListener("abort", () => resolve(), { once: true });
    if (signal?.aborted) resolve();
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      await watcher.close();
    }
    return sorted();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.transport[Symbol.asyncDispose]();
  }

  /**
   * Reads messages in parallel. With `mentioning`, a file whose raw text names none of those ids
   * is skipped before its YAML is parsed (the parse is most of the cost of a read).
   */
  async #readMany(
    channel: string,
    ids: string[],
    mentioning?: string[],
  ): Promise<{ messages: Message[]; skipped: number; unsettled: string[] }> {
    const messages: (Message | undefined)[] = new Array(ids.length);
    let skipped = 0;
    // Empty or unreadable files may be mid-write: git writes the files a pull brings in place.
    const unsettled: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const index = next++;
        try {
          if (mentioning) {
            const path = this.transport.messagePath({ channel, id: ids[index]! });
            // The same checks as every read of a message file (never a FIFO, a symlink or a
            // file over the limit), so that a file in the way cannot stall the scan.
            const text = await readTextFile(
              path,
              MAX_MESSAGE_FILE_BYTES,
              "ERR_MESSAGE_INVALID",
              path,
            )
              .catch(() => "");
            if (text === "") unsettled.push(ids[index]!);
            if (!mentioning.some((id) => text.includes(id))) continue;
          }
          messages[index] = await this.transport.readMessage(channel, ids[index]!);
        } catch (error) {
          if (!(error instanceof CrosstalkError)) throw error;
          skipped++;
          unsettled.push(ids[index]!);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, ids.length) }, worker));
    return {
      messages: messages.filter((m): m is Message => m !== undefined),
      skipped,
      unsettled,
    };
  }

  async #refuseTakenName(name: string): Promise<void> {
    const taken = (await this.transport.listChannels()).find((c) => c.name === name);
    if (taken) {
      throw new CrosstalkError(
        "ERR_CHANNEL_EXISTS",
        `A channel named "${name}" already exists (${taken.id})`,
      );
    }
  }
}

/** A workflow request goes to `workflow`, or to the one model that plans it. */
/** Addresses as given, one per entry or comma-separated in one, without blanks. */
function splitAddresses(list: string[]): string[] {
  return list.flatMap((t) => t.split(",")).map((t) => t.trim()).filter((t) => t !== "");
}

function checkWorkflowAddress(to: string[], config: Config): void {
  const kind = to.length === 1 ? resolveAddress(to[0]!, config).kind : undefined;
  if (kind === "workflow" || kind === "model") return;
  throw new CrosstalkError(
    "ERR_ADDRESS_INVALID",
    `A workflow goes to "workflow" or to the one model that plans it, not to ${
      to.map((t) => `"${t}"`).join(", ")
    }`,
  );
}

/** An id that sorts before every message a replier could have written after `id` (clock skew). */
function idBefore(id: string): string {
  const time = tryParseMessageId(id)?.time.getTime() ?? 0;
  return formatMessageId({ time: new Date(Math.max(0, time - CLOCK_SKEW_MS)), random: "00000000" });
}

/** The address of the person running a command: `$USER`, or `human`. */
export function defaultSender(env: Env): string {
  const user = env.CROSSTALK_FROM ?? env.USER ?? env.LOGNAME ?? env.USERNAME ?? "human";
  const clean = user.replace(/[^A-Za-z0-9._-]/g, "").replace(/^[._-]+/, "");
  return clean === "" ? "human" : clean.slice(0, 64);
}

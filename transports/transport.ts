/**
 * The `Transport` interface: everything the engine may do to the bus. `local.ts` implements it on
 * a directory; the git transport adds commits and sync on top of the same files.
 */
import type { Channel } from "./channel.ts";
import type { Message, MessageFields } from "./message.ts";
import type { Problem } from "../schema/errors.ts";

/** The kinds of transport named by `transport:` in `data/crosstalk.yaml`. */
export type TransportKind = "git" | "local";

/** The files a channel folder may hold beside `CHANNEL.md` (workflow child channels only). */
export type ChannelFileName = "PLAN.json" | "COMPLETE";

/** A message's address on the bus: its channel and its id inside the channel. */
export interface MessageRef {
  channel: string;
  id: string;
}

/** Options for listing a channel's messages. */
export interface ListOptions {
  /** Only ids after this one (exclusive), in id order. */
  since?: string;
  /** Only ids before this one (exclusive); with `limit`, the last `limit` of them. */
  before?: string;
  /** At most this many ids. */
  limit?: number;
}

/** A file under `data/channels` that could not be read as what its place says it is. */
export interface BadFile extends Problem {
  /** The message or channel this file would be, when its name says so. */
  ref?: MessageRef;
}

/** The bus, as the engine sees it. Every write is atomic; every read validates. */
export interface Transport extends AsyncDisposable {
  /** Which transport this is. */
  readonly kind: TransportKind;
  /** The absolute path of the transport directory. */
  readonly root: string;

  /** Every readable channel, sorted by id; unreadable `CHANNEL.md` files go to `bad`. */
  listChannels(bad?: BadFile[]): Promise<Channel[]>;
  /** One channel. @throws {CrosstalkError} `ERR_CHANNEL_NOT_FOUND` */
  getChannel(id: string): Promise<Channel>;
  /** Writes a new channel folder with its `CHANNEL.md`. */
  createChannel(channel: Omit<Channel, "id"> & { id?: string }): Promise<Channel>;
  /** Rewrites a channel's `CHANNEL.md` (rename, reparent). */
  updateChannel(channel: Channel): Promise<Channel>;
  /** Removes a channel folder and every message in it. */
  deleteChannel(id: string): Promise<void>;
  /**
   * Writes (or replaces) one of the files a channel folder may hold beside `CHANNEL.md`: a
   * workflow's `PLAN.json` and `COMPLETE`. @throws {CrosstalkError} `ERR_CHANNEL_NOT_FOUND`
   */
  writeChannelFile(channel: string, name: ChannelFileName, text: string): Promise<void>;
  /** Reads such a file; undefined when the channel has none. */
  readChannelFile(channel: string, name: ChannelFileName): Promise<string | undefined>;

  /** Writes a new message atomically and returns it with its id. */
  writeMessage(
    channel: string,
    fields: MessageFields,
    options?: WriteMessageOptions,
  ): Promise<Message>;
  /** The ids of a channel's messages, in id (= time) order. */
  listMessageIds(channel: string, options?: ListOptions): Promise<string[]>;
  /** Reads and validates one message. @throws {CrosstalkError} `ERR_MESSAGE_NOT_FOUND`, `ERR_MESSAGE_INVALID` */
  readMessage(channel: string, id: string): Promise<Message>;
  /** True when the message file exists (it may still be invalid). */
  hasMessage(channel: string, id: string): Promise<boolean>;
  /** The absolute path of a message file. */
  messagePath(ref: MessageRef): string;
  /** The absolute path of the folder that holds every channel. */
  readonly channelsDir: string;
  /**
   * Told by a feed whose OS watch sees every change under `channelsDir` (on) or no longer does
   * (off): while on, a channel read before is trusted until {@linkcode channelChanged} says it
   * changed, instead of being checked on disk at each use.
   */
  watchingChannels?(on: boolean): void;
  /** A channel's folder or `CHANNEL.md` changed (every channel, without an id). */
  channelChanged?(id?: string): void;
}

/** Options for {@linkcode Transport.writeMessage}. */
export interface WriteMessageOptions {
  /** The id to write under; by default a fresh one from the message's timestamp. */
  id?: string;
  /** Largest body accepted, in UTF-8 bytes. */
  maxBodyBytes?: number;
  /**
   * A change that goes with the message (closing the claims a reply answers): made once the
   * message is written and, on a git transport, in the same commit.
   */
  with?: AttachedChange;
}

/** Files changed together with a message write (paths relative to the transport root). */
export interface AttachedChange {
  paths: string[];
  message: string;
  apply: () => Promise<void>;
}

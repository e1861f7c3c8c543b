/**
 * Searching the bus: the messages whose text, sender or addressees contain the words asked for,
 * newest first. There is no index (the bus is files); a search reads messages from the newest
 * back, and stops at a budget of files, saying so.
 */
import { CrosstalkError } from "../schema/errors.ts";
import { AFTER_EVERY_ID, type Message } from "../transports/mod.ts";
import type { Bus } from "./bus.ts";

/** Options for {@linkcode searchMessages}. */
export interface SearchOptions {
  /** One channel (name, uuid or prefix); every channel when undefined. */
  channel?: string | undefined;
  /** Most messages found; default 50. */
  limit?: number;
  /** Most message files read; default 20,000. */
  budget?: number;
}

/** What a search found. */
export interface SearchResult {
  messages: Message[];
  /** Message files read. */
  scanned: number;
  /** False when the budget ran out before every message was read. */
  complete: boolean;
}

const PAGE = 200;

/**
 * The messages that contain every word of `query` (case-insensitive) in their body, sender or
 * addressees, newest first.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID` for an empty query, `ERR_CHANNEL_NOT_FOUND`
 */
export async function searchMessages(
  bus: Bus,
  query: string,
  options: SearchOptions = {},
): Promise<SearchResult> {
  const words = query.toLowerCase().split(/\s+/).filter((w) => w !== "");
  if (words.length === 0) {
    throw new CrosstalkError("ERR_BODY_INVALID", "A search needs at least one word (q)");
  }
  const limit = options.limit ?? 50;
  const budget = options.budget ?? 20_000;
  const channels = options.channel === undefined
    ? await bus.listChannels()
    : [await bus.resolveChannel(options.channel)];
  const found: Message[] = [];
  let scanned = 0;
  let complete = true;
  for (const channel of channels) {
    // Each channel from its newest message back, until it has given `limit` matches: no older
    // match of it could make the newest `limit` overall.
    let before = AFTER_EVERY_ID;
    let matched = 0;
    while (matched < limit) {
      const ids = await bus.transport.listMessageIds(channel.id, { limit: PAGE, before });
      if (ids.length === 0) break;
      for (const id of ids.toReversed()) {
        if (scanned >= budget) {
          complete = false;
          break;
        }
        scanned++;
        let message: Message;
        try {
          message = await bus.transport.readMessage(channel.id, id);
        } catch (error) {
          if (!(error instanceof CrosstalkError)) throw error;
          continue;
        }
        const text = `${message.body}\n${message.from}\n${message.to.join(" ")}`.toLowerCase();
        if (words.every((w) => text.includes(w))) {
          found.push(message);
          if (++matched >= limit) break;
        }
      }
      if (!complete || ids.length < PAGE) break;
      before = ids[0]!;
    }
    if (!complete) break;
  }
  found.sort((a, b) => b.timestamp.localeCompare(a.timestamp) || (a.id < b.id ? 1 : -1));
  return { messages: found.slice(0, limit), scanned, complete };
}

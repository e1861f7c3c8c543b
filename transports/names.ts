/**
 * Names on the bus: channel uuids, message file names (= message ids), addresses.
 * Every function here is pure, so the parsers can be property-tested.
 */
import { CrosstalkError } from "../schema/errors.ts";

/** The protocol version this engine speaks (the transport's CROSSTALK-VERSION). */
export const PROTOCOL_VERSION = "8";

const CHANNEL_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MESSAGE_ID_RE =
  /^(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})(\d{2})(\d{2})(\d{3})Z-([0-9a-f]{8})\.md$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CHANNEL_NAME_RE = /^[\p{L}\p{N}][\p{L}\p{N} ._#+-]{0,99}$/u;

/** True when `value` is a channel folder name (a lowercase uuid). */
export function isChannelId(value: string): boolean {
  return CHANNEL_ID_RE.test(value);
}

/** A new random channel id. */
export function newChannelId(): string {
  return crypto.randomUUID();
}

/**
 * Checks a channel's human name.
 *
 * @throws {CrosstalkError} `ERR_CHANNEL_INVALID` naming what is wrong
 */
export function checkChannelName(name: string): string {
  if (name.includes("/") || name.includes("\\") || name.includes("..")) {
    throw new CrosstalkError(
      "ERR_CHANNEL_INVALID",
      `Invalid channel name ${JSON.stringify(name)}: it must not contain "/", "\\" or ".."`,
    );
  }
  if (isChannelId(name.toLowerCase())) {
    throw new CrosstalkError(
      "ERR_CHANNEL_INVALID",
      `Invalid channel name ${JSON.stringify(name)}: a name must not look like a channel id`,
    );
  }
  if (!CHANNEL_NAME_RE.test(name)) {
    throw new CrosstalkError(
      "ERR_CHANNEL_INVALID",
      `Invalid channel name ${
        JSON.stringify(name)
      }: use 1 to 100 letters, digits, spaces and . _ # + -, starting with a letter or digit`,
    );
  }
  return name;
}

/** The parts of a message id. */
export interface MessageIdParts {
  /** The sender's UTC time, to the millisecond. */
  time: Date;
  /** Eight lowercase hex digits. */
  random: string;
}

/** Formats a message id: `YYYY/MM/DD/HHMMSSmmmZ-<8 hex>.md` from the UTC time. */
export function formatMessageId(parts: MessageIdParts): string {
  const t = parts.time;
  if (Number.isNaN(t.getTime()) || t.getUTCFullYear() < 1000 || t.getUTCFullYear() > 9999) {
    throw new RangeError(`Cannot name a message at time ${String(t)}: year must be 1000-9999`);
  }
  if (!/^[0-9a-f]{8}$/.test(parts.random)) {
    throw new RangeError(`Cannot name a message with random part ${JSON.stringify(parts.random)}`);
  }
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${t.getUTCFullYear()}/${p(t.getUTCMonth() + 1)}/${p(t.getUTCDate())}/` +
    `${p(t.getUTCHours())}${p(t.getUTCMinutes())}${p(t.getUTCSeconds())}` +
    `${p(t.getUTCMilliseconds(), 3)}Z-${parts.random}.md`;
}

/** A fresh id for a message sent at `time`. */
export function newMessageId(time: Date): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return formatMessageId({ time, random });
}

/** Parses a message id, or returns undefined when `id` is not one (never throws). */
export function tryParseMessageId(id: string): MessageIdParts | undefined {
  const m = MESSAGE_ID_RE.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, ms, random] = m as unknown as string[];
  if (+y! < 1000) return undefined;
  const time = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!, +ms!));
  // Reject dates that JavaScript would roll over (2026/02/31 -> March 3rd, 25:00 -> the next
  // day): each part must come back as it was written. (Compared as numbers: ids are checked on
  // every path of a message, and formatting one again to compare cost a string per part.)
  const same = time.getUTCFullYear() === +y! && time.getUTCMonth() === +mo! - 1 &&
    time.getUTCDate() === +d! && time.getUTCHours() === +h! && time.getUTCMinutes() === +mi! &&
    time.getUTCSeconds() === +s! && time.getUTCMilliseconds() === +ms!;
  return same ? { time, random: random! } : undefined;
}

/**
 * An id after every id a message can have: listing `before` it pages back from a channel's
 * newest message.
 */
export const AFTER_EVERY_ID = "9999/12/31/235959999Z-ffffffff.md";

/**
 * Parses a message id.
 *
 * @throws {CrosstalkError} `ERR_ID_INVALID` when `id` is not `YYYY/MM/DD/HHMMSSmmmZ-<8 hex>.md`
 */
export function parseMessageId(id: string): MessageIdParts {
  const parts = tryParseMessageId(id);
  if (!parts) {
    throw new CrosstalkError(
      "ERR_ID_INVALID",
      `Invalid message id ${
        JSON.stringify(id)
      }: expected a path inside a channel like "2026/11/22/031522123Z-9f3a01bc.md"`,
    );
  }
  return parts;
}

/** True when `name` is a model, provider, alias, actor or user name. */
export function isName(name: string): boolean {
  return NAME_RE.test(name);
}

/** A parsed bus address: `[provider/]name[@alias]`. */
export interface Address {
  provider?: string;
  name: string;
  alias?: string;
}

/** Parses an address, or returns undefined when it is not one. */
export function tryParseAddress(value: string): Address | undefined {
  const at = value.split("@");
  if (at.length > 2) return undefined;
  const [target, alias] = at as [string, string | undefined];
  if (alias !== undefined && !isName(alias)) return undefined;
  const slash = target.split("/");
  if (slash.length > 2) return undefined;
  const [first, second] = slash as [string, string | undefined];
  if (!isName(first) || (second !== undefined && !isName(second))) return undefined;
  const address: Address = second === undefined
    ? { name: first }
    : { provider: first, name: second };
  if (alias !== undefined) address.alias = alias;
  return address;
}

/**
 * Parses an address.
 *
 * @throws {CrosstalkError} `ERR_ADDRESS_INVALID`
 */
export function parseAddress(value: string): Address {
  const address = tryParseAddress(value);
  if (!address) {
    throw new CrosstalkError(
      "ERR_ADDRESS_INVALID",
      `Invalid address ${
        JSON.stringify(value)
      }: expected name, provider/model or either with @alias (names: letters, digits, . _ -)`,
    );
  }
  return address;
}

/** Formats an address back into `[provider/]name[@alias]`. */
export function formatAddress(address: Address): string {
  const target = address.provider ? `${address.provider}/${address.name}` : address.name;
  return address.alias ? `${target}@${address.alias}` : target;
}

/** A reference to a message as a user types it, before it is looked up. */
export interface MessageHandle {
  channel?: string;
  id: string;
}

/**
 * Parses what a user typed to name a message.
 *
 * @throws {CrosstalkError} `ERR_ID_INVALID` for anything that is not a message id, notably any
 *   path that would leave its channel
 */
export function parseMessageHandle(ref: string): MessageHandle {
  const trimmed = ref.trim().replace(/^data\/channels\//, "");
  const parts = trimmed.split("/");
  if (parts.length === 5 && isChannelId(parts[0]!)) {
    const id = parts.slice(1).join("/");
    parseMessageId(id);
    return { channel: parts[0]!, id };
  }
  parseMessageId(trimmed);
  return { id: trimmed };
}

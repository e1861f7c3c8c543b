/**
 * The wire format of one message: markdown with YAML frontmatter (DESIGN.md §3).
 */
import { CrosstalkError, InvalidDocumentError, type Problem } from "../schema/errors.ts";
import { parseYaml, stringifyYaml, type YamlDocument } from "../schema/yaml.ts";
import { fastFrontmatter } from "./_frontmatter.ts";
import { isName, tryParseAddress, tryParseMessageId } from "./names.ts";

/** The keys crosstalk gives a meaning to; every other frontmatter key is kept as it is. */
const KNOWN_KEYS = [
  "from",
  "to",
  "exclude",
  "timestamp",
  "re",
  "as",
  "type",
  "failed",
  "error",
] as const;

/** The fields of a message, as written by a sender. */
export interface MessageFields {
  from: string;
  /** Always a list here; a single address is written as a plain string. */
  to: string[];
  /**
   * Who this message must not wake, whatever `to` says (`to: all` with a few left out). A
   * crosstalk extension: a Crosstalk 8 engine ignores it (docs/PROTOCOL.md).
   */
  exclude?: string[];
  /** ISO 8601 time of the sender. */
  timestamp: string;
  /** Ids of the messages (in the same channel) this one replies to. */
  re?: string[];
  /** The actor persona the addressee should take. */
  as?: string;
  type?: "workflow";
  failed?: boolean;
  error?: string;
  /** Frontmatter keys crosstalk does not interpret, kept for round trips. */
  extra?: Record<string, unknown>;
  /** The markdown body, without trailing whitespace. */
  body: string;
}

/** A message as stored: its fields plus where it lives. */
export interface Message extends MessageFields {
  /** The channel uuid. */
  channel: string;
  /** The path inside the channel: `YYYY/MM/DD/HHMMSSmmmZ-<8 hex>.md`. */
  id: string;
}

/** Options for {@linkcode parseMessage}. */
export interface ParseMessageOptions {
  /** The file name used in error messages. */
  file: string;
}

/**
 * Parses a message file.
 *
 * @throws {InvalidDocumentError} `ERR_MESSAGE_INVALID` naming every problem, with positions
 */
export function parseMessage(text: string, options: ParseMessageOptions): MessageFields {
  const file = options.file;
  const fail = (line: number, column: number, path: string, message: string): never => {
    throw new InvalidDocumentError("ERR_MESSAGE_INVALID", `"${file}"`, [
      { file, line, column, path, message },
    ]);
  };
  const normalized = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const open = /^---[ \t]*\r?\n/.exec(normalized);
  if (!open) fail(1, 1, "", "must start with a '---' frontmatter line");
  const rest = normalized.slice(open![0].length);
  const close = closingFence(rest);
  if (!close) fail(1, 1, "", "has no closing '---' frontmatter line");
  const yamlText = rest.slice(0, close!.index);
  // deno-lint-ignore no-control-regex
  const control = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.exec(yamlText);
  if (control) {
    const before = yamlText.slice(0, control.index);
    const line = before.split("\n").length + 1;
    const column = control.index - before.lastIndexOf("\n");
    const code = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    fail(line, column, "", `frontmatter contains the control character U+${code}`);
  }
  // The simple shape crosstalk writes skips the YAML parser; positions for errors still come
  // from it, parsed only when there is an error to place.
  let doc: YamlDocument | undefined;
  const slow =
    () => (doc ??= parseYaml(yamlText, { file, code: "ERR_MESSAGE_INVALID", lineOffset: 1 }));
  const data = fastFrontmatter(yamlText) ?? slow().value;
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    fail(2, 1, "", "frontmatter must be a mapping of keys to values");
  }
  const record = data as Record<string, unknown>;
  const problems: Problem[] = [];
  const problem = (key: string, message: string) => {
    const pos = slow().positionOf(key in record ? [key] : [], false);
    problems.push({ file, line: pos.line, column: pos.column, path: key, message });
  };

  const from = record.from;
  if (from === undefined) problem("from", "is required");
  else if (typeof from !== "string" || !tryParseAddress(from)) {
    problem("from", "must be an address such as steve, sonnet or anthropic/sonnet@laptop");
  }
  const to = asStringList(record.to);
  if (record.to === undefined) problem("to", "is required");
  else if (!to || to.length === 0 || !to.every((t) => tryParseAddress(t))) {
    problem("to", "must be an address or a non-empty list of addresses");
  }
  const exclude = asStringList(record.exclude);
  if (
    record.exclude !== undefined &&
    (!exclude || exclude.length === 0 || !exclude.every((t) => tryParseAddress(t)))
  ) {
    problem("exclude", "must be an address or a non-empty list of addresses");
  }
  const timestamp = record.timestamp;
  if (timestamp === undefined) problem("timestamp", "is required");
  else if (typeof timestamp !== "string" || Number.isNaN(Date.parse(timestamp))) {
    problem("timestamp", "must be an ISO 8601 time such as 2026-11-22T03:15:22.123Z");
  }
  const re = asStringList(record.re);
  if (record.re !== undefined && (!re || !re.every((id) => tryParseMessageId(id)))) {
    problem("re", "must be a message id or a list of message ids in this channel");
  }
  if (record.as !== undefined && (typeof record.as !== "string" || !isName(record.as))) {
    problem("as", "must be an actor name (letters, digits, . _ -)");
  }
  if (record.type !== undefined && record.type !== "workflow") {
    const shown = typeof record.type === "string"
      ? JSON.stringify(record.type)
      : `a ${typeof record.type}`;
    problem("type", `must be "workflow" when present, not ${shown}`);
  }
  if (record.failed !== undefined && typeof record.failed !== "boolean") {
    problem("failed", "must be true or false");
  }
  if (record.error !== undefined && typeof record.error !== "string") {
    problem("error", "must be a string");
  }
  if (problems.length > 0) {
    throw new InvalidDocumentError("ERR_MESSAGE_INVALID", `"${file}"`, problems);
  }

  let body = rest.slice(close!.index + close!.length);
  if (body.startsWith("\r\n")) body = body.slice(2);
  else if (body.startsWith("\n")) body = body.slice(1);
  const fields: MessageFields = {
    from: from as string,
    to: to!,
    timestamp: timestamp as string,
    body: body.trimEnd(),
  };
  if (exclude) fields.exclude = exclude;
  if (re) fields.re = re;
  if (typeof record.as === "string") fields.as = record.as;
  if (record.type === "workflow") fields.type = "workflow";
  if (typeof record.failed === "boolean") fields.failed = record.failed;
  if (typeof record.error === "string") fields.error = record.error;
  const extra = Object.fromEntries(
    Object.entries(record).filter(([k]) => !(KNOWN_KEYS as readonly string[]).includes(k)),
  );
  if (Object.keys(extra).length > 0) fields.extra = extra;
  return fields;
}

/**
 * Renders a message file: frontmatter (known keys first, in a fixed order), a blank line, the body.
 *
 * @throws {CrosstalkError} `ERR_MESSAGE_INVALID` when a known field is malformed
 */
export function formatMessage(fields: MessageFields): string {
  if (!tryParseAddress(fields.from)) {
    throw new CrosstalkError(
      "ERR_ADDRESS_INVALID",
      `Invalid sender ${JSON.stringify(fields.from)}`,
    );
  }
  if (fields.to.length === 0) {
    throw new CrosstalkError("ERR_ADDRESS_INVALID", "A message needs at least one addressee");
  }
  const head: Record<string, unknown> = {
    from: fields.from,
    to: fields.to.length === 1 ? fields.to[0] : fields.to,
  };
  if (fields.exclude && fields.exclude.length > 0) {
    head.exclude = fields.exclude.length === 1 ? fields.exclude[0] : fields.exclude;
  }
  head.timestamp = fields.timestamp;
  if (fields.re && fields.re.length > 0) {
    head.re = fields.re.length === 1 ? fields.re[0] : fields.re;
  }
  if (fields.as !== undefined) head.as = fields.as;
  if (fields.type !== undefined) head.type = fields.type;
  if (fields.failed !== undefined) head.failed = fields.failed;
  if (fields.error !== undefined) head.error = fields.error;
  for (const [key, value] of Object.entries(fields.extra ?? {})) {
    if (!Object.hasOwn(head, key) && !(KNOWN_KEYS as readonly string[]).includes(key)) {
      Object.defineProperty(head, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return `---\n${stringifyYaml(head)}---\n\n${fields.body.trimEnd()}\n`;
}

/**
 * Finds the closing `---` line: only `\n` ends a line here (the `m` flag of a RegExp would also
 * end lines at U+2028, which YAML writes unescaped inside values).
 */
export function closingFence(text: string): { index: number; length: number } | undefined {
  let start = 0;
  while (start <= text.length) {
    const end = text.indexOf("\n", start);
    const line = end < 0 ? text.slice(start) : text.slice(start, end);
    if (/^---[ \t]*\r?$/.test(line)) {
      return { index: start, length: line.length + (end < 0 ? 0 : 1) };
    }
    if (end < 0) return undefined;
    start = end + 1;
  }
  return undefined;
}

function asStringList(value: unknown): string[] | undefined {
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  return undefined;
}

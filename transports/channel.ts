/**
 * `CHANNEL.md`: a channel's name and parent, as frontmatter (DESIGN.md §3).
 */
import { InvalidDocumentError, type Problem } from "../schema/errors.ts";
import { parseYaml, stringifyYaml } from "../schema/yaml.ts";
import { closingFence } from "./message.ts";
import { isChannelId } from "./names.ts";

/** A channel: its folder (uuid), name and optional parent. */
export interface Channel {
  /** The channel folder name, a lowercase uuid. */
  id: string;
  name: string;
  /** The parent channel's uuid. */
  parent?: string;
  /** When the channel was created (ISO 8601), when known. */
  created?: string;
  /** Other frontmatter keys, kept for round trips. */
  extra?: Record<string, unknown>;
}

/**
 * Parses a `CHANNEL.md` file.
 *
 * @throws {InvalidDocumentError} `ERR_CHANNEL_INVALID`
 */
export function parseChannelFile(id: string, text: string, file: string): Channel {
  const fail = (problem: Omit<Problem, "file">): never => {
    throw new InvalidDocumentError("ERR_CHANNEL_INVALID", `"${file}"`, [{ file, ...problem }]);
  };
  const open = /^---[ \t]*\r?\n/.exec(text);
  const rest = open ? text.slice(open[0].length) : "";
  const close = open ? closingFence(rest) : undefined;
  if (!open || !close) {
    fail({
      line: 1,
      column: 1,
      path: "",
      message: "must start with '---' frontmatter and close it",
    });
  }
  const doc = parseYaml(rest.slice(0, close!.index), {
    file,
    code: "ERR_CHANNEL_INVALID",
    lineOffset: 1,
  });
  const data = doc.value as Record<string, unknown> | null;
  if (!data || typeof data !== "object" || Array.isArray(data)) {
    return fail({ line: 2, column: 1, path: "", message: "frontmatter must be a mapping" });
  }
  if (typeof data.name !== "string" || data.name.trim() === "") {
    const pos = doc.positionOf("name" in data ? ["name"] : []);
    fail({ ...posOf(pos), path: "name", message: "must be a non-empty string" });
  }
  if (data.parent !== undefined && data.parent !== null) {
    if (typeof data.parent !== "string" || !isChannelId(data.parent)) {
      fail({
        ...posOf(doc.positionOf(["parent"])),
        path: "parent",
        message: "must be a channel uuid",
      });
    }
  }
  const channel: Channel = { id, name: data.name as string };
  if (typeof data.parent === "string") channel.parent = data.parent;
  if (typeof data.created === "string") channel.created = data.created;
  const extra = Object.fromEntries(
    Object.entries(data).filter(([k]) => !["name", "parent", "created"].includes(k)),
  );
  if (Object.keys(extra).length > 0) channel.extra = extra;
  return channel;
}

/** Renders a `CHANNEL.md` file. */
export function formatChannelFile(channel: Channel): string {
  const head: Record<string, unknown> = { name: channel.name };
  if (channel.parent) head.parent = channel.parent;
  if (channel.created) head.created = channel.created;
  for (const [k, v] of Object.entries(channel.extra ?? {})) {
    if (!Object.hasOwn(head, k)) {
      Object.defineProperty(head, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return `---\n${stringifyYaml(head)}---\n`;
}

function posOf(pos: { line: number; column: number }) {
  return { line: pos.line, column: pos.column };
}

/**
 * `checkTransport`: every problem on a transport that a reader would otherwise skip quietly —
 * invalid messages and channels, stray files, dangling references, a broken config.
 */
import { join } from "../transports/path.ts";
import { CrosstalkError, InvalidDocumentError } from "../schema/errors.ts";
import {
  type BadFile,
  badFilesOf,
  checkTransportDir,
  isChannelId,
  LocalTransport,
  MESSAGE_TEMP_DIR,
  parseChannelFile,
  PROTOCOL_VERSION,
  tryParseMessageId,
  VERSION_FILE,
} from "../transports/mod.ts";
import { readDirNames } from "../transports/_fs.ts";
import { loadConfig } from "./config.ts";
import type { Env } from "./paths.ts";

/** One finding of `transport check`. */
export interface Finding extends BadFile {
  severity: "error" | "warning";
}

/** The result of {@linkcode checkTransport}. */
export interface CheckReport {
  findings: Finding[];
  channels: number;
  messages: number;
}

const STALE_TEMP_MS = 60 * 60 * 1000;

/** Looks at every file of the transport at `root` and reports what is wrong. */
export async function checkTransport(root: string, env: Env): Promise<CheckReport> {
  await checkTransportDir(root);
  const findings: Finding[] = [];
  const error = (bad: BadFile) => findings.push({ severity: "error", ...bad });
  const warn = (file: string, message: string) =>
    findings.push({ severity: "warning", file, line: 0, column: 0, path: "", message });

  const version = (await Deno.readTextFile(join(root, VERSION_FILE)).catch(() => "")).trim();
  if (version !== PROTOCOL_VERSION) {
    warn(
      VERSION_FILE,
      `says protocol ${JSON.stringify(version)}; this engine speaks ${PROTOCOL_VERSION}`,
    );
  }
  try {
    const config = await loadConfig(root, { env });
    for (const p of config.problems) findings.push({ ...p });
  } catch (e) {
    if (!(e instanceof CrosstalkError)) throw e;
    for (const bad of badFilesOf(e, "data/crosstalk.yaml")) error(bad);
  }

  const channelsDir = join(root, "data", "channels");
  const ids = new Set<string>();
  const names = new Map<string, string[]>();
  const parents: [string, string][] = [];
  let messages = 0;
  for (const entry of await readDirNames(channelsDir)) {
    const rel = `data/channels/${entry.name}`;
    if (entry.name.startsWith(TEMP_OR_HIDDEN)) {
      await staleTemp(join(channelsDir, entry.name), rel, warn);
      continue;
    }
    if (!entry.isDirectory || !isChannelId(entry.name)) {
      warn(rel, "is not a channel folder (channel folders are lowercase uuids)");
      continue;
    }
    ids.add(entry.name);
    const channelFile = join(channelsDir, entry.name, "CHANNEL.md");
    try {
      const channel = parseChannelFile(
        entry.name,
        await Deno.readTextFile(channelFile),
        `${rel}/CHANNEL.md`,
      );
      names.set(channel.name, [...(names.get(channel.name) ?? []), channel.id]);
      if (channel.parent) parents.push([channel.id, channel.parent]);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        error({ file: `${rel}/CHANNEL.md`, line: 0, column: 0, path: "", message: "is missing" });
      } else if (e instanceof InvalidDocumentError) {
        for (const p of e.problems) error(p);
      } else throw e;
    }
    messages += await checkChannelFiles(root, entry.name, error, warn);
  }
  for (const [child, parent] of parents) {
    if (!ids.has(parent)) {
      warn(`data/channels/${child}/CHANNEL.md`, `names parent "${parent}", which does not exist`);
    }
  }
  for (const [name, list] of names) {
    if (list.length > 1) {
      warn(
        "data/channels",
        `the name "${name}" is used by ${list.length} channels: ${list.join(", ")}`,
      );
    }
  }
  // Message writes go through a temp file here before they are linked into their channel.
  for (const entry of await readDirNames(join(root, MESSAGE_TEMP_DIR))) {
    await staleTemp(
      join(root, MESSAGE_TEMP_DIR, entry.name),
      `${MESSAGE_TEMP_DIR}/${entry.name}`,
      warn,
    );
  }
  findings.sort((a, b) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column
  );
  return { findings, channels: ids.size, messages };
}

const TEMP_OR_HIDDEN = ".";

async function checkChannelFiles(
  root: string,
  channel: string,
  error: (bad: BadFile) => void,
  warn: (file: string, message: string) => void,
): Promise<number> {
  const transport = new LocalTransport(root);
  const base = join(root, "data", "channels", channel);
  let count = 0;
  const ids = new Set<string>();
  const replies: [string, string[]][] = [];
  const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
    for (const entry of (await readDirNames(dir)).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rel = prefix + entry.name;
      const file = `data/channels/${channel}/${rel}`;
      if (entry.name.startsWith(TEMP_OR_HIDDEN)) {
        await staleTemp(join(dir, entry.name), file, warn);
        continue;
      }
      if (
        depth === 0 &&
        (entry.name === "CHANNEL.md" || entry.name === "PLAN.json" || entry.name === "COMPLETE")
      ) {
        continue;
      }
      if (depth < 3 && entry.isDirectory && /^\d+$/.test(entry.name)) {
        await walk(join(dir, entry.name), `${rel}/`, depth + 1);
        continue;
      }
      if (depth === 3 && entry.isFile && tryParseMessageId(rel)) {
        count++;
        ids.add(rel);
        try {
          const message = await transport.readMessage(channel, rel);
          if (message.re) replies.push([rel, message.re]);
        } catch (e) {
          if (!(e instanceof CrosstalkError)) throw e;
          for (const bad of badFilesOf(e, file, { channel, id: rel })) error(bad);
        }
        continue;
      }
      if (entry.name.endsWith(".md")) {
        error({
          file,
          line: 0,
          column: 0,
          path: "",
          message: "is a .md file that is not a message; reference engines would try to read it",
        });
      } else warn(file, "is not a message file (expected YYYY/MM/DD/HHMMSSmmmZ-<8 hex>.md)");
    }
  };
  await walk(base, "", 0);
  for (const [id, re] of replies) {
    for (const target of re) {
      if (!ids.has(target)) {
        warn(
          `data/channels/${channel}/${id}`,
          `replies to "${target}", which is not in this channel`,
        );
      }
    }
  }
  return count;
}

async function staleTemp(
  path: string,
  rel: string,
  warn: (file: string, message: string) => void,
): Promise<void> {
  const name = rel.split("/").at(-1)!;
  if (name === ".gitkeep") return;
  if (!name.startsWith(".crosstalk-tmp-")) return;
  const info = await Deno.stat(path).catch(() => undefined);
  if (info && Date.now() - (info.mtime?.getTime() ?? 0) > STALE_TEMP_MS) {
    warn(rel, "is a temp file left by an interrupted write; it is safe to delete");
  }
}

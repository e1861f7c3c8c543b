/**
 * The dispatcher registry, `data/dispatchers/<alias>.yaml` (Crosstalk 8's name for it): which
 * engines serve a transport and which models each claims. Written at start, removed at a clean
 * stop. On a shared folder its mtime is the heartbeat, so a crashed engine's entry shows stale;
 * on a git transport the entry is committed (once per start and stop) and liveness comes from
 * the engines' presence refs instead, so that no heartbeat is ever committed.
 */
import { basename, join, relative } from "../transports/path.ts";
import { parseYaml, stringifyYaml } from "../schema/yaml.ts";
import { writeFileAtomic } from "../transports/mod.ts";
import { readDirNames } from "../transports/_fs.ts";
import { isProcessAlive } from "./_process.ts";

/** One engine's entry. */
export interface DispatcherEntry {
  alias: string;
  models: string[];
  version: string;
  host: string;
  pid: number;
  started: string;
  heartbeat_seconds: number;
  /** The engine process's random id (a restarted engine has a new one). */
  instance?: string;
  /** Where its HTTP API listens, for nudges from other engines. */
  api?: string;
  /** The public half of its key: nudges from it are checked with this. */
  key?: Record<string, string>;
  /** Its live agents, on a shared folder (a git transport publishes them with presence). */
  live?: Record<string, unknown>[];
  /** The usernames of its API, on a shared folder. */
  users?: string[];
}

/**
 * How often an engine proves it is alive (registry mtime, status file): an entry is stale after
 * three periods without a sign.
 */
export const HEARTBEAT_SECONDS = 10;

/** Commits a change of the registry (git transports); without it, files are enough. */
export type RegistryCommit = (
  paths: string[],
  message: string,
  apply?: () => Promise<void>,
) => Promise<void>;

/** Liveness from presence refs (git transports): alias → when its presence last changed. */
export type PresenceAges = ReadonlyMap<string, { seenAt: number; instance: string }>;

/** An entry as read back, with its liveness. */
export interface DispatcherStatus extends DispatcherEntry {
  /** When it last showed a sign of life (ms since epoch). */
  seenAt: number;
  /** True when its heartbeat is older than three periods, or its process is gone. */
  stale: boolean;
}

/** The registry file of `alias`. */
export function registryPath(root: string, alias: string): string {
  return join(root, "data", "dispatchers", `${alias}.yaml`);
}

/** Writes (or rewrites) this engine's entry. */
export async function writeRegistry(
  root: string,
  entry: DispatcherEntry,
  commit?: RegistryCommit,
): Promise<void> {
  const path = registryPath(root, entry.alias);
  const write = async () => void await writeFileAtomic(path, stringifyYaml(entry));
  if (!commit) return await write();
  await commit([relative(root, path)], `crosstalk: engine ${entry.alias} started`, write);
}

/** Marks this engine alive now. */
export async function touchRegistry(root: string, alias: string): Promise<void> {
  const now = new Date();
  await Deno.utime(registryPath(root, alias), now, now).catch(() => {});
}

/** Removes this engine's entry (a clean stop). */
export async function removeRegistry(
  root: string,
  alias: string,
  commit?: RegistryCommit,
): Promise<void> {
  const path = registryPath(root, alias);
  const remove = () => Deno.remove(path).catch(() => {});
  if (!commit) return await remove();
  await commit([relative(root, path)], `crosstalk: engine ${alias} stopped`, remove);
}

/** One engine's entry as written, or undefined when it has none (or it cannot be read). */
export function readRegistry(
  root: string,
  alias: string,
): Promise<Partial<DispatcherEntry> | undefined> {
  return parseEntry(registryPath(root, alias)).catch(() => undefined);
}

/**
 * The entries parsed last, by path, with the text they were parsed from. An engine's entry with
 * its live agents is a few KB of YAML that takes the `yaml` package milliseconds to parse (4 ms
 * for 30 agents on our 2-core machines, 11 ms cold), and the registry is read every heartbeat and
 * whenever a sender is not known yet, mostly unchanged.
 */
const parsed = new Map<string, { text: string; value: Partial<DispatcherEntry> }>();
const MAX_PARSED = 256;

async function parseEntry(path: string): Promise<Partial<DispatcherEntry>> {
  const text = await Deno.readTextFile(path);
  const cached = parsed.get(path);
  // A copy: what a caller does with its entry must not change the next caller's.
  if (cached?.text === text) return structuredClone(cached.value);
  const file = `data/dispatchers/${basename(path)}`;
  const value = parseYaml(text, { file, code: "ERR_TRANSPORT_INVALID" })
    .value as Partial<DispatcherEntry>;
  if (parsed.size >= MAX_PARSED) parsed.clear();
  parsed.set(path, { text, value: structuredClone(value) });
  return value;
}

/**
 * Every entry, with its liveness: from `presence` when given (git: stale once an engine's
 * presence stopped changing for `presenceTimeoutMs`, or belongs to another instance), else
 * from the file's mtime.
 */
export async function listRegistry(
  root: string,
  now = Date.now(),
  presence?: { ages: PresenceAges; timeoutMs: number },
): Promise<DispatcherStatus[]> {
  const dir = join(root, "data", "dispatchers");
  const out: DispatcherStatus[] = [];
  for (const entry of await readDirNames(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".yaml")) continue;
    const path = join(dir, entry.name);
    try {
      const [value, info] = await Promise.all([parseEntry(path), Deno.stat(path)]);
      const alias = value.alias ?? entry.name.slice(0, -5);
      const period = (value.heartbeat_seconds ?? 10) * 1000;
      const sameHostDead = value.host === Deno.hostname() && typeof value.pid === "number" &&
        !isProcessAlive(value.pid);
      let seenAt = info.mtime?.getTime() ?? 0;
      let stale = now - seenAt > 3 * period;
      if (presence) {
        const seen = presence.ages.get(alias);
        seenAt = seen?.seenAt ?? 0;
        stale = !seen || now - seen.seenAt > presence.timeoutMs ||
          (value.instance !== undefined && seen.instance !== value.instance);
      }
      out.push({
        ...(value.instance ? { instance: String(value.instance) } : {}),
        ...(value.api ? { api: String(value.api) } : {}),
        ...(value.key && typeof value.key === "object" ? { key: value.key } : {}),
        alias,
        models: Array.isArray(value.models) ? value.models.map(String) : [],
        version: String(value.version ?? "unknown"),
        host: String(value.host ?? "unknown"),
        pid: Number(value.pid ?? 0),
        started: String(value.started ?? ""),
        heartbeat_seconds: value.heartbeat_seconds ?? 10,
        // On a shared folder the entry is where an engine's live agents and users are seen.
        ...(Array.isArray(value.live)
          ? { live: value.live.filter((a: unknown) => a !== null && typeof a === "object") }
          : {}),
        ...(Array.isArray(value.users) ? { users: value.users.map(String) } : {}),
        seenAt,
        stale: sameHostDead || stale,
      });
    } catch {
      // A Crosstalk 8 entry or a damaged one: list what the name says.
      out.push({
        alias: entry.name.slice(0, -5),
        models: [],
        version: "unknown",
        host: "unknown",
        pid: 0,
        started: "",
        heartbeat_seconds: 10,
        seenAt: 0,
        stale: true,
      });
    }
  }
  return out.sort((a, b) => a.alias.localeCompare(b.alias));
}

/**
 * The dispatcher registry, `data/dispatchers/<alias>.yaml` (Crosstalk 8's name for it): which
 * engines serve a transport and which models each claims. Written at start, removed at a clean
 * stop; its mtime is the heartbeat on a shared folder, so a crashed engine's entry shows stale.
 */
import { join } from "node:path";
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
}

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
export async function writeRegistry(root: string, entry: DispatcherEntry): Promise<void> {
  await writeFileAtomic(registryPath(root, entry.alias), stringifyYaml(entry));
}

/** Marks this engine alive now. */
export async function touchRegistry(root: string, alias: string): Promise<void> {
  const now = new Date();
  await Deno.utime(registryPath(root, alias), now, now).catch(() => {});
}

/** Removes this engine's entry (a clean stop). */
export async function removeRegistry(root: string, alias: string): Promise<void> {
  await Deno.remove(registryPath(root, alias)).catch(() => {});
}

/** Every entry, with its liveness. */
export async function listRegistry(root: string, now = Date.now()): Promise<DispatcherStatus[]> {
  const dir = join(root, "data", "dispatchers");
  const out: DispatcherStatus[] = [];
  for (const entry of await readDirNames(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".yaml")) continue;
    const path = join(dir, entry.name);
    try {
      const [text, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
      const value = parseYaml(text, {
        file: `data/dispatchers/${entry.name}`,
        code: "ERR_TRANSPORT_INVALID",
      })
        .value as Partial<DispatcherEntry>;
      const seenAt = info.mtime?.getTime() ?? 0;
      const period = (value.heartbeat_seconds ?? 10) * 1000;
      const sameHostDead = value.host === Deno.hostname() && typeof value.pid === "number" &&
        !isProcessAlive(value.pid);
      out.push({
        alias: value.alias ?? entry.name.slice(0, -5),
        models: Array.isArray(value.models) ? value.models.map(String) : [],
        version: String(value.version ?? "unknown"),
        host: String(value.host ?? "unknown"),
        pid: Number(value.pid ?? 0),
        started: String(value.started ?? ""),
        heartbeat_seconds: value.heartbeat_seconds ?? 10,
        seenAt,
        stale: sameHostDead || now - seenAt > 3 * period,
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

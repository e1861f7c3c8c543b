/**
 * Creating, listing and removing transports in their places on this machine.
 */
import { dirname, join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import {
  checkTransportDir,
  exists,
  GitSync,
  GitTransport,
  type ScaffoldResult,
  scaffoldTransport,
  type TransportKind,
} from "../transports/mod.ts";
import { loadConfig } from "./config.ts";
import { type Env, storageBase, type TransportLocation } from "./paths.ts";

/** Options for {@linkcode initTransport}. */
export interface InitOptions {
  kind: TransportKind;
  remote?: string;
}

/**
 * Scaffolds a transport at `location` and makes its state dir.
 *
 * @throws {CrosstalkError} `ERR_TRANSPORT_EXISTS`, `ERR_GIT_FAILED`
 */
export async function initTransport(
  location: TransportLocation,
  options: InitOptions,
): Promise<ScaffoldResult & { pushError?: string }> {
  const result = await scaffoldTransport(location.root, options);
  await Deno.mkdir(location.stateDir, { recursive: true, mode: 0o700 });
  if (options.kind === "git" && options.remote && !result.cloned) {
    // The first machine on an empty remote publishes the transport at once: a second machine
    // that joined before the first push would otherwise write a transport of its own (its own
    // "general" channel among them) instead of cloning this one.
    try {
      const sync = await GitSync.open(new GitTransport(location.root), {});
      if (sync && !(await sync.pushOnly())) {
        return { ...result, pushError: "the remote got commits meanwhile" };
      }
    } catch (error) {
      return { ...result, pushError: error instanceof Error ? error.message : String(error) };
    }
  }
  return result;
}

/** A named transport in the default storage. */
export interface TransportSummary {
  name: string;
  root: string;
  kind: TransportKind | "unknown";
}

/** The named transports under the default storage, sorted by name. */
export async function listTransports(env: Env): Promise<TransportSummary[]> {
  const base = storageBase(env);
  const out: TransportSummary[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(base));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const entry of entries) {
    const root = join(base, entry.name, "transport");
    if (!entry.isDirectory || !(await exists(join(root, "CROSSTALK-VERSION")))) continue;
    let kind: TransportSummary["kind"] = "unknown";
    try {
      kind = (await loadConfig(root, { env })).transport;
    } catch (error) {
      if (!(error instanceof CrosstalkError)) throw error;
    }
    out.push({ name: entry.name, root, kind });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Removes a named transport and its state. Returns the folders removed.
 *
 * @throws {CrosstalkError} `ERR_TRANSPORT_NOT_FOUND`, `ERR_TRANSPORT_INVALID`
 */
export async function removeTransport(location: TransportLocation): Promise<string[]> {
  await checkTransportDir(location.root);
  const removed: string[] = [];
  await Deno.remove(location.root, { recursive: true });
  removed.push(location.root);
  // Only the state dir of the default layout: a --state or CROSSTALK_STATE_DIR folder is the
  // user's, never ours to delete.
  const container = dirname(location.root);
  const state = join(container, "crosstalk-state");
  if (await exists(state)) {
    await Deno.remove(state, { recursive: true });
    removed.push(state);
  }
  await Deno.remove(container).catch(() => {});
  return removed;
}

/**
 * Loads a transport's config exactly as the engine does at start, and stops.
 *
 * @throws {CrosstalkError} `ERR_TRANSPORT_NOT_FOUND`, `ERR_TRANSPORT_INVALID`,
 *   `ERR_CONFIG_MISSING`, `ERR_CONFIG_INVALID`
 */
export async function validateTransportConfig(location: TransportLocation, env: Env) {
  await checkTransportDir(location.root);
  return await loadConfig(location.root, { env });
}

/**
 * A git transport's remote, set, shown or removed after the transport was made (`crosstalk
 * transport remote`): the clone's `origin` changes, what the clone holds is pushed, and the
 * running engine of the state dir is told at once (SIGHUP, its reload) to follow. An engine that
 * is not told follows at its next heartbeat all the same (engine.ts, `checkRemote`).
 */
import { join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import {
  currentBranch,
  exists,
  probeRemote,
  pushOrigin,
  redactUrl,
  remoteUrl,
  removeOrigin,
  setOrigin,
  upstreamOf,
} from "../transports/mod.ts";
import { livePid, readStatus } from "./background.ts";
import type { Config } from "./config.ts";
import type { Env, TransportLocation } from "./paths.ts";
import { HEARTBEAT_SECONDS } from "./registry.ts";
import { validateTransportConfig } from "./setup.ts";

/** How long a command waits for the running engine to say it follows the new remote. */
const FOLLOW_MS = 10_000;
/** How often it looks at the engine's status file meanwhile. */
const POLL_MS = 20;

/** How the running engine of the state dir took a change of the remote. */
export type EngineFollow =
  /** No engine runs with this state dir: the next one to start uses the remote as it is. */
  | { state: "none" }
  /** The engine's status says it syncs with the remote now (or, after a removal, with none). */
  | { state: "following"; pid: number }
  /** It could not be told, or did not say so in time: it follows at its next heartbeat. */
  | { state: "later"; pid: number; reason: string };

/** What `crosstalk transport remote show` reports. */
export interface RemoteReport {
  root: string;
  branch: string;
  /** The clone's `origin`, a password in it masked; absent when it has none. */
  origin?: string;
  /** The branch's upstream (`origin/main`), once it is set and known. */
  upstream?: string;
  /** The engine running with this state dir, and the remote it syncs with (none: absent). */
  engine?: { pid: number; syncing?: string };
}

/** What `crosstalk transport remote set` did. */
export interface SetRemoteResult {
  root: string;
  branch: string;
  origin: string;
  /** The URL `origin` had before, when it had one. */
  previous?: string;
  /**
   * `pushed`: the remote has everything the clone has; `behind`: the remote has commits the
   * clone lacks, which the engine merges before it pushes; `failed`: the push did not go
   * through (`pushError` says why), and the engine pushes when it can.
   */
  push: "pushed" | "behind" | "failed";
  pushError?: string;
  engine: EngineFollow;
}

/** What `crosstalk transport remote rm` did. */
export interface RemoveRemoteResult {
  root: string;
  /** The URL that was removed; absent when the clone had no `origin` (nothing changed). */
  removed?: string;
  engine: EngineFollow;
}

/**
 * The clone's remote and what the running engine syncs with.
 *
 * @throws {CrosstalkError} `ERR_USAGE` on a local transport, and the errors of opening it
 */
export async function remoteReport(location: TransportLocation, env: Env): Promise<RemoteReport> {
  await gitClone(location, env);
  const root = location.root;
  const branch = await currentBranch(root);
  const origin = await remoteUrl(root);
  const upstream = origin === undefined ? undefined : await upstreamOf(root, branch);
  const engine = await runningEngine(location.stateDir);
  return {
    root,
    branch,
    ...(origin === undefined ? {} : { origin: redactUrl(origin) }),
    ...(upstream === undefined ? {} : { upstream }),
    ...(engine
      ? { engine: { pid: engine.pid, ...(engine.syncing ? { syncing: engine.syncing } : {}) } }
      : {}),
  };
}

/**
 * Makes `url` the clone's `origin`, pushes the clone's branch to it with the branch's upstream
 * set, and tells the running engine to follow. The remote is looked at first: it must be
 * reachable, and either empty or hold this transport's history; otherwise nothing changes.
 *
 * @throws {CrosstalkError} `ERR_USAGE` for a malformed URL or a local transport,
 *   `ERR_GIT_FAILED` when the remote cannot be reached, `ERR_REMOTE_CONFLICT` when it holds
 *   something else
 */
export async function setRemote(
  location: TransportLocation,
  url: string,
  options: { env: Env },
): Promise<SetRemoteResult> {
  checkRemoteUrl(url);
  const config = await gitClone(location, options.env);
  const root = location.root;
  const branch = await currentBranch(root);
  const timeoutMs = config.git.network_timeout_seconds * 1000;
  const shown = redactUrl(url);
  const fit = await probeRemote(root, url, { branch, timeoutMs });
  if (fit.kind === "unrelated") {
    throw new CrosstalkError(
      "ERR_REMOTE_CONFLICT",
      `The remote "${shown}" has a branch ${branch} with a history of its own, not this transport's: nothing changed (to join the transport it holds, clone it with "crosstalk transport init --remote URL"; to publish this one, use an empty repository)`,
    );
  }
  if (fit.kind === "foreign") {
    throw new CrosstalkError(
      "ERR_REMOTE_CONFLICT",
      `The remote "${shown}" has branches (${
        fit.branches.join(", ")
      }) but no ${branch}: it does not hold this transport, and nothing changed (use an empty repository)`,
    );
  }
  const head = fit.kind === "empty" ? undefined : fit.head;
  const previous = await setOrigin(root, url, { branch, head });
  let push: SetRemoteResult["push"] = "behind";
  let pushError: string | undefined;
  if (fit.kind !== "ahead") {
    try {
      push = await pushOrigin(root, { branch, expected: head, timeoutMs });
    } catch (error) {
      if (!(error instanceof CrosstalkError)) throw error;
      push = "failed";
      pushError = error.message;
    }
  }
  const engine = await tellEngine(location.stateDir, shown);
  return {
    root,
    branch,
    origin: shown,
    ...(previous === undefined ? {} : { previous: redactUrl(previous) }),
    push,
    ...(pushError === undefined ? {} : { pushError }),
    engine,
  };
}

/**
 * Removes the clone's `origin` (its messages stay on this machine from then on) and tells the
 * running engine to stop syncing. A clone without one is left as it is.
 *
 * @throws {CrosstalkError} `ERR_USAGE` on a local transport, and the errors of opening it
 */
export async function removeRemote(
  location: TransportLocation,
  options: { env: Env },
): Promise<RemoveRemoteResult> {
  await gitClone(location, options.env);
  const removed = await removeOrigin(location.root);
  if (removed === undefined) return { root: location.root, engine: { state: "none" } };
  return {
    root: location.root,
    removed: redactUrl(removed),
    engine: await tellEngine(location.stateDir, undefined),
  };
}

/**
 * A remote URL git can be given as an argument: not empty, not an option, one line.
 *
 * @throws {CrosstalkError} `ERR_USAGE`
 */
function checkRemoteUrl(url: string): void {
  if (url.trim() === "") {
    throw new CrosstalkError("ERR_USAGE", "The remote URL is empty");
  }
  if (url.startsWith("-")) {
    throw new CrosstalkError(
      "ERR_USAGE",
      `"${url}" is not a remote URL: it starts with "-" (write a path that starts with one as ./${url})`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(url)) {
    throw new CrosstalkError(
      "ERR_USAGE",
      `${JSON.stringify(url)} is not a remote URL: it has a control character (a line break?)`,
    );
  }
}

/**
 * The config of a git transport whose folder is a clone.
 *
 * @throws {CrosstalkError} `ERR_USAGE` on a local transport, `ERR_TRANSPORT_INVALID` when the
 *   folder is no clone, and the errors of {@linkcode validateTransportConfig}
 */
async function gitClone(location: TransportLocation, env: Env): Promise<Config> {
  const config = await validateTransportConfig(location, env);
  if (config.transport !== "git") {
    throw new CrosstalkError(
      "ERR_USAGE",
      `The transport at "${location.root}" is a local transport (transport: ${config.transport} in data/crosstalk.yaml), and only a git transport has a remote: machines share a local one through a network mount (docs/MACHINES.md)`,
    );
  }
  if (!(await exists(join(location.root, ".git")))) {
    throw new CrosstalkError(
      "ERR_TRANSPORT_INVALID",
      `The transport at "${location.root}" says transport: git, but it is not a git clone (no .git folder)`,
    );
  }
  return config;
}

/** The engine running with `stateDir`, by its pid file and the status file it wrote. */
async function runningEngine(
  stateDir: string,
): Promise<{ pid: number; syncing?: string; fresh: boolean } | undefined> {
  const pid = await livePid(stateDir);
  if (pid === undefined) return undefined;
  const status = await readStatus(stateDir);
  // A status file of this process, written at its last heartbeat: the pid is the engine's.
  const fresh = status !== undefined && status.pid === pid && !status.stopped &&
    Date.now() - Date.parse(status.heartbeat) <= 3 * HEARTBEAT_SECONDS * 1000;
  return {
    pid,
    fresh,
    ...(status?.pid === pid && status.sync ? { syncing: status.sync.url } : {}),
  };
}

/**
 * Asks the running engine to look at the remote now (SIGHUP, its reload) and waits, bounded,
 * until its status file says it syncs with `expected` (undefined: with none).
 */
async function tellEngine(stateDir: string, expected: string | undefined): Promise<EngineFollow> {
  const engine = await runningEngine(stateDir);
  if (!engine) return { state: "none" };
  const { pid } = engine;
  const later = (reason: string): EngineFollow => ({ state: "later", pid, reason });
  if (!engine.fresh) return later("it is starting, or its heartbeat is late");
  if (Deno.build.os === "windows") return later("Windows has no SIGHUP to tell it at once");
  try {
    Deno.kill(pid, "SIGHUP");
  } catch (error) {
    return later(`it cannot be signalled (${error instanceof Error ? error.message : error})`);
  }
  const deadline = Date.now() + FOLLOW_MS;
  while (Date.now() < deadline) {
    const status = await readStatus(stateDir);
    if (status?.pid === pid && status.sync?.url === expected) return { state: "following", pid };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return later(`it did not say so within ${FOLLOW_MS / 1000} s`);
}

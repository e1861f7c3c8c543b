/**
 * Where transports and machine-local state live. The default storage follows the reference
 * engine: `<XDG data>/crosstalk/<name>/transport`, with state in `<name>/crosstalk-state` beside
 * it, never inside the transport.
 */
import { basename, dirname, join, resolve } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { isName } from "../transports/names.ts";

/** The name of the built-in default transport. */
export const DEFAULT_TRANSPORT_NAME = "crosstalk";

/** How a command names its transport: `--path`, `--containername`, or neither. */
export interface TransportSelector {
  path?: string | undefined;
  containername?: string | undefined;
  /** `--state DIR`: where machine-local state goes (wins over `CROSSTALK_STATE_DIR`). */
  state?: string | undefined;
}

/** A transport's place on this machine. */
export interface TransportLocation {
  /** The transport directory. */
  root: string;
  /** Its name: the container name, or the folder name for `--path`. */
  name: string;
  /** Machine-local state: cursor, claims, heartbeat, logs. */
  stateDir: string;
  /** True for the built-in default transport (no `--path`, no `--containername`). */
  isDefault: boolean;
}

/** The environment the paths are computed from (a parameter, so tests never touch $HOME). */
export type Env = Readonly<Record<string, string | undefined>>;

/** `<data home>/crosstalk`: where named transports live. */
export function storageBase(env: Env): string {
  return join(dataHome(env), "crosstalk");
}

/**
 * Finds where a command's transport and state are.
 *
 * @throws {CrosstalkError} `ERR_USAGE` when both `--path` and `--containername` are given or
 *   the name is not a valid name
 */
export function locateTransport(selector: TransportSelector, env: Env): TransportLocation {
  if (selector.path !== undefined && selector.containername !== undefined) {
    throw new CrosstalkError("ERR_USAGE", "Use either --path or --containername, not both");
  }
  let location: TransportLocation;
  if (selector.path !== undefined) {
    if (selector.path.trim() === "") {
      throw new CrosstalkError("ERR_USAGE", "--path must not be empty");
    }
    const root = resolve(selector.path);
    const name = basename(root) === "transport" ? basename(dirname(root)) : basename(root);
    const stateDir = basename(root) === "transport"
      ? join(dirname(root), "crosstalk-state")
      : join(stateHome(env), "crosstalk", "by-path", `${safe(name)}-${hash(root)}`);
    location = { root, name, stateDir, isDefault: false };
  } else {
    const name = selector.containername ?? DEFAULT_TRANSPORT_NAME;
    if (!isName(name)) {
      throw new CrosstalkError(
        "ERR_USAGE",
        `Invalid --containername ${JSON.stringify(name)}: use letters, digits, . _ - (at most 64)`,
      );
    }
    const dir = join(storageBase(env), name);
    location = {
      root: join(dir, "transport"),
      name,
      stateDir: join(dir, "crosstalk-state"),
      isDefault: selector.containername === undefined,
    };
  }
  const stateOverride = selector.state ?? env.CROSSTALK_STATE_DIR;
  if (stateOverride) location.stateDir = resolve(stateOverride);
  return location;
}

function home(env: Env): string {
  const h = env.HOME ?? env.USERPROFILE;
  if (!h) {
    throw new CrosstalkError("ERR_USAGE", "Cannot find the home folder: set HOME or use --path");
  }
  return h;
}

function dataHome(env: Env): string {
  if (env.XDG_DATA_HOME) return env.XDG_DATA_HOME;
  if (Deno.build.os === "darwin") return join(home(env), "Library", "Application Support");
  if (Deno.build.os === "windows" && env.LOCALAPPDATA) return env.LOCALAPPDATA;
  return join(home(env), ".local", "share");
}

function stateHome(env: Env): string {
  if (env.XDG_STATE_HOME) return env.XDG_STATE_HOME;
  if (Deno.build.os === "darwin") return join(home(env), "Library", "Application Support");
  if (Deno.build.os === "windows" && env.LOCALAPPDATA) return env.LOCALAPPDATA;
  return join(home(env), ".local", "state");
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 40) || "transport";
}

/** A short stable hash (FNV-1a, 32 bits) of a path, to keep per-path state dirs apart. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

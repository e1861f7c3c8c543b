/**
 * User mode and system mode, and where each keeps things. User mode is the XDG layout of
 * `engine/paths.ts` (transports under `~/.local/share/crosstalk/<name>`). System mode is the
 * layout of a machine-wide service run by systemd or launchd as the `crosstalk` user:
 * `/var/lib/crosstalk/<name>/transport` with its state beside it, `/etc/crosstalk/<name>.env`
 * for settings and secrets, `/var/log/crosstalk/<name>.log` for the service's output.
 */
import { join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { isName } from "../transports/names.ts";
import { DEFAULT_TRANSPORT_NAME, type Env, type TransportLocation } from "./paths.ts";

/** Who runs the engine: the logged-in user, or the machine's service manager. */
export type ServiceMode = "user" | "system";

/** The account a system-mode engine runs as. */
export const SERVICE_USER = "crosstalk";

/** The fixed directories of system mode. */
export const SYSTEM_DIRS = {
  /** The service user's home; one folder per transport below it. */
  data: "/var/lib/crosstalk",
  /** `<name>.env` files: settings and provider secrets for each transport's service. */
  config: "/etc/crosstalk",
  /** `<name>.log` files: what each service prints. */
  logs: "/var/log/crosstalk",
} as const;

/** The facts the mode is decided from (parameters, so tests never depend on who runs them). */
export interface ModeFacts {
  env: Env;
  /** The effective user id; null where the OS has none (Windows). */
  uid: number | null;
}

/** `--user` / `--system` as a command was given them. */
export interface ModeFlags {
  user?: boolean | undefined;
  system?: boolean | undefined;
}

/**
 * Decides the mode: `--system` or `--user` when given; else user mode when
 * `CROSSTALK_USER_MODE=1`; else system mode for the `crosstalk` user and for root; else user mode.
 *
 * @throws {CrosstalkError} `ERR_USAGE` when both `--user` and `--system` are given
 */
export function detectMode(flags: ModeFlags, facts: ModeFacts): ServiceMode {
  if (flags.user && flags.system) {
    throw new CrosstalkError("ERR_USAGE", "Use either --user or --system, not both");
  }
  if (flags.system) return "system";
  if (flags.user) return "user";
  const userMode = facts.env.CROSSTALK_USER_MODE;
  if (userMode === "1" || userMode === "true") return "user";
  const login = facts.env.USER ?? facts.env.LOGNAME;
  if (login === SERVICE_USER) return "system";
  return facts.uid === 0 ? "system" : "user";
}

/**
 * True when this process runs as the `crosstalk` service user (and `CROSSTALK_USER_MODE=1` does
 * not say otherwise): its commands work on the system transports.
 */
export function isServiceUser(env: Env): boolean {
  const userMode = env.CROSSTALK_USER_MODE;
  if (userMode === "1" || userMode === "true") return false;
  return (env.USER ?? env.LOGNAME) === SERVICE_USER;
}

/** The facts of this process. */
export function currentFacts(env: Env): ModeFacts {
  return { env, uid: Deno.build.os === "windows" ? null : Deno.uid() };
}

/**
 * Where a system-mode transport lives: `/var/lib/crosstalk/<name>/transport`, state in
 * `/var/lib/crosstalk/<name>/crosstalk-state`.
 *
 * @throws {CrosstalkError} `ERR_USAGE` for an invalid name
 */
export function systemLocation(name: string = DEFAULT_TRANSPORT_NAME): TransportLocation {
  checkName(name);
  const dir = join(SYSTEM_DIRS.data, name);
  return {
    root: join(dir, "transport"),
    name,
    stateDir: join(dir, "crosstalk-state"),
    isDefault: false,
  };
}

/** The systemd instance of a system-mode transport: `crosstalk@<name>.service`. */
export function systemdInstance(name: string): string {
  checkName(name);
  return `crosstalk@${name}.service`;
}

/** The environment file of a system-mode transport's service. */
export function systemEnvFile(name: string): string {
  return join(SYSTEM_DIRS.config, `${name}.env`);
}

/** The output file of a system-mode transport's service. */
export function systemLogFile(name: string): string {
  return join(SYSTEM_DIRS.logs, `${name}.log`);
}

function checkName(name: string): void {
  if (!isName(name)) {
    throw new CrosstalkError(
      "ERR_USAGE",
      `Invalid transport name ${JSON.stringify(name)}: use letters, digits, . _ - (at most 64)`,
    );
  }
}

// What every command gets: its environment and output streams, and shared option helpers.
import { Command, Option } from "./_command.ts";
import type { Bus } from "../engine/bus.ts";
import { type Env, locateTransport, type TransportLocation } from "../engine/paths.ts";
import { isServiceUser, systemLocation } from "../engine/system_paths.ts";
import { CrosstalkError } from "../schema/errors.ts";

export { Command, Option };

/** The world a command runs in; tests pass their own. */
export interface CliContext {
  env: Env;
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Reads all of standard input, or undefined when it is a terminal. */
  readStdin(): Promise<string | undefined>;
  /** The exit code the command asks for (0 unless set). */
  exitCode: number;
  /** Global options: `--server URL`, `--profile NAME`. */
  globals: { server?: string; profile?: string };
}

/** Options every transport command accepts. */
export interface TransportFlags {
  path?: string;
  containername?: string;
  state?: string;
  json?: boolean;
}

/** Adds `--path`, `--containername` and `--state` to a command. */
export function withTransportOptions(command: Command): Command {
  return command
    .option("--path <dir>", "the transport directory")
    .option("--containername <name>", "a named transport in the default storage")
    .option(
      "--state <dir>",
      "machine-local state dir (default beside the transport; env CROSSTALK_STATE_DIR)",
    );
}

/** Adds `--json` to a command that reads. */
export function withJson(command: Command): Command {
  return command.option("--json", "print JSON instead of text");
}

/** True when the global `--server` or `--profile` names another engine, to ask through its API. */
export function namesAnEngine(ctx: CliContext): boolean {
  return ctx.globals.server !== undefined || ctx.globals.profile !== undefined;
}

/** Where the command's transport is. */
export function locationOf(flags: TransportFlags, ctx: CliContext): TransportLocation {
  // The service user works on the machine's system transports: `--containername` and the
  // default name resolve under /var/lib/crosstalk, where its units keep them.
  if (flags.path === undefined && isServiceUser(ctx.env)) {
    const location = systemLocation(flags.containername);
    const state = flags.state ?? ctx.env.CROSSTALK_STATE_DIR;
    return state === undefined ? location : { ...location, stateDir: state };
  }
  return locateTransport({
    path: flags.path,
    containername: flags.containername,
    state: flags.state,
  }, ctx.env);
}

/** Opens the command's transport. */
export async function openBus(flags: TransportFlags, ctx: CliContext): Promise<Bus> {
  // Loaded on demand: commands that talk to an engine never pay for the bus's modules.
  const { Bus } = await import("../engine/bus.ts");
  return await Bus.open(locationOf(flags, ctx), { env: ctx.env });
}

/** Prints a value as indented JSON. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as an aligned table with a header. */
export function printTable(ctx: CliContext, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  ctx.out(`${[line(header), ...rows.map(line)].join("\n")}\n`);
}

/**
 * A message as `task list` and the task commands print it, `<first 8 of its channel>/<id>`, which
 * every command that takes a message id takes back.
 */
export function shortRef(m: { channel: string; id: string }): string {
  return `${m.channel.slice(0, 8)}/${m.id}`;
}

/**
 * A parser of the option `flag`'s whole number (its range is checked where it is used).
 *
 * @throws {CrosstalkError} `ERR_USAGE` for anything but digits
 */
export function wholeNumber(flag: string): (value: string) => number {
  return (value) => {
    if (!/^\d{1,9}$/.test(value)) {
      throw new CrosstalkError(
        "ERR_USAGE",
        `Invalid ${flag} ${JSON.stringify(value)}: a whole number`,
      );
    }
    return Number(value);
  };
}

/** Parses a `--timeout` in seconds. @throws {CrosstalkError} `ERR_USAGE` */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new CrosstalkError(
      "ERR_USAGE",
      `Invalid timeout ${JSON.stringify(value)}: use seconds, e.g. 30`,
    );
  }
  return n;
}

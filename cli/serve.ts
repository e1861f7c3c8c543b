// `crosstalk serve` and `crosstalk daemon dispatch`: run the engine in the foreground.
import { type CliContext, Command, type TransportFlags, withTransportOptions } from "./_context.ts";

/** The options of `serve` and `daemon dispatch`. */
export interface ServeFlags extends TransportFlags {
  alias?: string;
  port?: number;
}

/** The `serve` command. */
export function serveCommand(ctx: CliContext): Command {
  return engineCommand(new Command("serve"), ctx)
    .description("run the engine in the foreground: watch the bus, run agent CLIs, write replies");
}

/** The `daemon` noun: `daemon dispatch` is `serve` under the reference engine's name. */
export function daemonCommand(ctx: CliContext): Command {
  const daemon = new Command("daemon").description("the engine loop under Crosstalk 8's names");
  engineCommand(daemon.command("dispatch"), ctx).description("the dispatch loop (same as serve)");
  return daemon;
}

/** The options and action shared by `serve` and `daemon dispatch`. */
function engineCommand(command: Command, ctx: CliContext): Command {
  return withTransportOptions(command)
    .option("--alias <name>", "this machine's name on the bus (default: the transport name)")
    .option(
      "--port <port>",
      "the HTTP API's port (default 7000, or 7001+ for named transports)",
      Number,
    )
    .action(async (flags: ServeFlags) => (await import("./_serve_run.ts")).runEngine(flags, ctx));
}

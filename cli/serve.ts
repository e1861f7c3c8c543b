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

/**
 * The `daemon` noun, the engine under Crosstalk 8's names: `daemon dispatch` is `serve`,
 * `daemon init DIR` is `transport init --path DIR`, `daemon stop` is `server stop`.
 */
export function daemonCommand(ctx: CliContext): Command {
  const daemon = new Command("daemon").description("the engine loop under Crosstalk 8's names");
  engineCommand(daemon.command("dispatch"), ctx).description("the dispatch loop (same as serve)");
  daemon.command("init")
    .description("scaffold a transport into DIR (same as transport init --path DIR)")
    .argument("<dir>", "the new transport's folder")
    .option("--transport <kind>", "git (default) or local")
    .action(async (dir: string, flags: { transport?: string }) => {
      const { transportCommand } = await import("./transport.ts");
      const args = ["init", "--path", dir];
      if (flags.transport !== undefined) args.push("--transport", flags.transport);
      await transportCommand(ctx).parseAsync(args, { from: "user" });
    });
  withTransportOptions(daemon.command("stop"))
    .description("stop the engine of this transport (same as server stop)")
    .action(async (flags: TransportFlags) => {
      const { serverCommand } = await import("./server.ts");
      const args = ["stop"];
      if (flags.path !== undefined) args.push("--path", flags.path);
      if (flags.containername !== undefined) args.push("--containername", flags.containername);
      if (flags.state !== undefined) args.push("--state", flags.state);
      await serverCommand(ctx).parseAsync(args, { from: "user" });
    });
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

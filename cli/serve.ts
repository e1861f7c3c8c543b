// `crosstalk serve` and `crosstalk daemon dispatch`: run the engine in the foreground.
import { Engine } from "../engine/engine.ts";
import { formatRecord, type LogSink } from "../engine/log.ts";
import {
  type CliContext,
  Command,
  locationOf,
  type TransportFlags,
  withTransportOptions,
} from "./_context.ts";

interface ServeFlags extends TransportFlags {
  alias?: string;
}

/** The `serve` command. */
export function serveCommand(ctx: CliContext): Command {
  return withTransportOptions(new Command("serve"))
    .description("run the engine in the foreground: watch the bus, run agent CLIs, write replies")
    .option("--alias <name>", "this machine's name on the bus (default: the transport name)")
    .action((flags: ServeFlags) => runEngine(flags, ctx));
}

/** The `daemon` noun: `daemon dispatch` is `serve` under the reference engine's name. */
export function daemonCommand(ctx: CliContext): Command {
  const daemon = new Command("daemon").description("the engine loop under Crosstalk 8's names");
  withTransportOptions(daemon.command("dispatch"))
    .description("the dispatch loop (same as serve)")
    .option("--alias <name>", "this machine's name on the bus (default: the transport name)")
    .action((flags: ServeFlags) => runEngine(flags, ctx));
  return daemon;
}

async function runEngine(flags: ServeFlags, ctx: CliContext): Promise<void> {
  const location = locationOf(flags, ctx);
  // Listen before starting, so that a signal during start-up still means a clean stop.
  let engine: Engine | undefined;
  let signals = 0;
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const onStop = () => {
    signals++;
    if (!engine) return;
    // The first signal drains (running CLIs get the grace period); a second one forces.
    if (signals === 1) engine.stop().then(stop, stop);
    else engine.dispatcher.abortRuns();
  };
  const onReload = () => void engine?.reload();
  const stopSignals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of stopSignals) Deno.addSignalListener(signal, onStop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", onReload);
  try {
    engine = await Engine.start(location, {
      env: ctx.env,
      alias: flags.alias,
      createIfMissing: location.isDefault,
      sinks: [stderrSink(ctx)],
    });
    if (signals > 0) engine.stop().then(stop, stop);
    await stopped;
  } finally {
    for (const signal of stopSignals) Deno.removeSignalListener(signal, onStop);
    if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", onReload);
  }
}

function stderrSink(ctx: CliContext): LogSink {
  const pretty = Deno.stderr.isTerminal() && !ctx.env.CROSSTALK_LOG_JSON;
  return {
    write: (record) =>
      ctx.err(`${pretty ? formatRecord(record) : JSON.stringify(record, errorsAsText)}\n`),
  };
}

function errorsAsText(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}

// `crosstalk serve`: run the engine in the foreground until SIGINT or SIGTERM.
import { Engine, type EngineEvent } from "../engine/engine.ts";
import { formatProblem } from "../schema/errors.ts";
import {
  type CliContext,
  Command,
  locationOf,
  type TransportFlags,
  withTransportOptions,
} from "./_context.ts";

/** The `serve` command. */
export function serveCommand(ctx: CliContext): Command {
  return withTransportOptions(new Command("serve"))
    .description("run the engine in the foreground: watch the bus and report every new message")
    .option("--alias <name>", "this machine's name on the bus (default: the transport name)")
    .action(async (flags: TransportFlags & { alias?: string }) => {
      const location = locationOf(flags, ctx);
      const alias = flags.alias ?? location.name;
      const engine = await Engine.start(location, {
        env: ctx.env,
        createIfMissing: location.isDefault,
        onEvent: (event) => ctx.err(`${formatEvent(event, alias)}\n`),
      });
      const { promise, resolve } = Promise.withResolvers<void>();
      const signals: Deno.Signal[] = Deno.build.os === "windows"
        ? ["SIGINT"]
        : ["SIGINT", "SIGTERM"];
      for (const signal of signals) Deno.addSignalListener(signal, resolve);
      try {
        await promise;
      } finally {
        for (const signal of signals) Deno.removeSignalListener(signal, resolve);
        await engine.close();
        ctx.err(`${stamp()} stopped\n`);
      }
    });
}

function formatEvent(event: EngineEvent, alias: string): string {
  switch (event.type) {
    case "ready":
      return `${stamp()} ready: ${event.root} as "${alias}" (${event.channels} channels, watching by ${event.watch}; state in ${event.stateDir})`;
    case "message": {
      const m = event.message;
      const re = m.re?.length ? ` re ${m.re.join(",")}` : "";
      const first = (m.body.split("\n")[0] ?? "").slice(0, 80);
      return `${stamp()} message #${event.channelName} ${m.id} ${m.from} -> ${
        m.to.join(",")
      }${re}: ${first}`;
    }
    case "bad-file":
      return `${stamp()} skipped invalid file ${formatProblem(event.bad)}`;
    case "warning":
      return `${stamp()} ${event.message}`;
    case "error":
      return `${stamp()} error: ${
        event.error instanceof Error ? event.error.message : String(event.error)
      }`;
  }
}

function stamp(): string {
  return new Date().toISOString();
}

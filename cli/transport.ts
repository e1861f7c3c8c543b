// `crosstalk transport init | rm | check | list`: create, remove and inspect transports.
import { CrosstalkError, formatProblem } from "../schema/errors.ts";
import {
  type CliContext,
  Command,
  locationOf,
  Option,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The `transport` noun. */
export function transportCommand(ctx: CliContext): Command {
  const transport = new Command("transport").description(
    "create, remove and check transports (the bus directories)",
  );

  withTransportOptions(transport.command("init"))
    .description("scaffold a new transport (refuses to overwrite an existing one)")
    .addOption(
      new Option("--transport <kind>", "how the bus travels").choices(["git", "local"]).default(
        "git",
      ),
    )
    .option("--remote <url>", "git: the origin URL (an existing remote is cloned)")
    .action(async (flags: TransportFlags & { transport: "git" | "local"; remote?: string }) => {
      if (flags.remote !== undefined && flags.transport !== "git") {
        throw new CrosstalkError("ERR_USAGE", "--remote needs --transport git");
      }
      const location = locationOf(flags, ctx);
      const { initTransport } = await import("../engine/setup.ts");
      const result = await initTransport(location, {
        kind: flags.transport,
        ...(flags.remote === undefined ? {} : { remote: flags.remote }),
      });
      const how = result.cloned
        ? `Cloned ${flags.remote} into`
        : `Created a ${result.kind} transport at`;
      ctx.out(`${how} ${result.root}\n`);
      if (result.pushError) {
        ctx.err(
          `warning: not pushed to ${flags.remote} yet (${result.pushError}); other machines must not join until it is: the first engine here pushes it\n`,
        );
      } else if (flags.remote !== undefined && !result.cloned) {
        ctx.out(`Pushed it to ${flags.remote}: other machines can join with the same --remote\n`);
      }
      ctx.out(`Machine-local state: ${location.stateDir}\n`);
      ctx.out(
        `Next: edit ${result.root}/data/crosstalk.yaml, then run "crosstalk serve${
          selectorHint(flags)
        }"\n`,
      );
    });

  withJson(transport.command("list"))
    .description("list the named transports in the default storage")
    .action(async (flags: { json?: boolean }) => {
      const { listTransports } = await import("../engine/setup.ts");
      const list = await listTransports(ctx.env);
      if (flags.json) return printJson(ctx, list);
      if (list.length === 0) return ctx.out('No transports yet: run "crosstalk transport init"\n');
      printTable(ctx, ["NAME", "KIND", "PATH"], list.map((t) => [t.name, t.kind, t.root]));
    });

  transport.command("rm")
    .description("remove a named transport and its machine-local state")
    .argument("<name>", "the container name")
    .option("--yes", "do not ask for confirmation")
    .action(async (name: string, flags: { yes?: boolean }) => {
      const location = locationOf({ containername: name }, ctx);
      if (!flags.yes) {
        throw new CrosstalkError(
          "ERR_USAGE",
          `Removing "${location.root}" deletes every message in it that is not on a remote; add --yes to confirm`,
        );
      }
      const { removeTransport } = await import("../engine/setup.ts");
      const removed = await removeTransport(location);
      ctx.out(`Removed ${removed.join(" and ")}\n`);
    });

  withJson(withTransportOptions(transport.command("check")))
    .description("list invalid messages, stray files and other problems")
    .action(async (flags: TransportFlags) => {
      const location = locationOf(flags, ctx);
      const { checkTransport } = await import("../engine/check.ts");
      const report = await checkTransport(location.root, ctx.env);
      const errors = report.findings.filter((f) => f.severity === "error").length;
      if (flags.json) printJson(ctx, report);
      else {
        for (const f of report.findings) ctx.out(`${f.severity}: ${formatProblem(f)}\n`);
        ctx.out(
          `${report.channels} channels, ${report.messages} messages, ${errors} errors, ${
            report.findings.length - errors
          } warnings\n`,
        );
      }
      if (errors > 0) ctx.exitCode = 1;
    });
  return transport;
}

function selectorHint(flags: TransportFlags): string {
  if (flags.path) return ` --path ${flags.path}`;
  if (flags.containername) return ` --containername ${flags.containername}`;
  return "";
}

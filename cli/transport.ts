// `crosstalk transport init | rm | check | list | remote`: create, remove and inspect transports,
// and give a git transport its remote after the fact.
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
import type { EngineFollow } from "../engine/remote.ts";

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
  transport.addCommand(remoteCommand(ctx));
  return transport;
}

/** `transport remote set | show | rm`: a git transport's origin, after the fact. */
function remoteCommand(ctx: CliContext): Command {
  const remote = new Command("remote").description(
    "set, show or remove a git transport's remote (origin); a running engine follows at once",
  );

  withJson(withTransportOptions(remote.command("set")))
    .description(
      "make URL the origin (added or replaced), push the clone to it with upstream, and have the running engine sync with it",
    )
    .argument("<url>", "the remote: an empty repository, or one that holds this transport")
    .action(async (url: string, flags: TransportFlags) => {
      const { setRemote } = await import("../engine/remote.ts");
      const result = await setRemote(locationOf(flags, ctx), url, { env: ctx.env });
      if (flags.json) return printJson(ctx, result);
      ctx.out(
        result.previous === undefined
          ? `Added the remote origin ${result.origin}\n`
          : result.previous === result.origin
          ? `The remote origin is ${result.origin} already\n`
          : `Changed the remote origin from ${result.previous} to ${result.origin}\n`,
      );
      if (result.push === "pushed") {
        ctx.out(
          `Pushed ${result.branch} to it (its upstream): other machines can join with "crosstalk transport init --transport git --remote ${result.origin}"\n`,
        );
      } else if (result.push === "behind") {
        ctx.out(
          `It has commits this clone lacks: the engine merges them, then pushes ${result.branch}\n`,
        );
      } else {
        ctx.err(
          `warning: not pushed yet (${result.pushError}); the engine pushes when it can reach it\n`,
        );
      }
      ctx.out(`${followText(result.engine, `syncs with ${result.origin} now`)}\n`);
    });

  withJson(withTransportOptions(remote.command("show")))
    .description("the origin, the branch's upstream, and what the running engine syncs with")
    .action(async (flags: TransportFlags) => {
      const { remoteReport } = await import("../engine/remote.ts");
      const report = await remoteReport(locationOf(flags, ctx), ctx.env);
      if (flags.json) return printJson(ctx, report);
      const lines = [
        `origin:   ${report.origin ?? "none (messages stay on this machine)"}`,
        `branch:   ${report.branch}${report.upstream ? ` (upstream ${report.upstream})` : ""}`,
        `engine:   ${
          report.engine
            ? `pid ${report.engine.pid}, ${
              report.engine.syncing ? `syncing with ${report.engine.syncing}` : "not syncing"
            }`
            : "not running"
        }`,
      ];
      ctx.out(`${lines.join("\n")}\n`);
    });

  withJson(withTransportOptions(remote.command("rm")))
    .description(
      "remove the origin: messages stay on this machine; the running engine stops syncing",
    )
    .action(async (flags: TransportFlags) => {
      const { removeRemote } = await import("../engine/remote.ts");
      const result = await removeRemote(locationOf(flags, ctx), { env: ctx.env });
      if (flags.json) return printJson(ctx, result);
      if (result.removed === undefined) {
        return ctx.out(`The transport at ${result.root} has no remote: nothing to remove\n`);
      }
      ctx.out(`Removed the remote origin ${result.removed}\n`);
      ctx.out(`${followText(result.engine, "stopped syncing")}\n`);
    });
  return remote;
}

/** What the running engine did about a change of the remote, as a line for people. */
function followText(engine: EngineFollow, done: string): string {
  if (engine.state === "none") return "No engine is running here: the next one started uses it";
  if (engine.state === "following") return `The running engine (pid ${engine.pid}) ${done}`;
  return `The running engine (pid ${engine.pid}) follows within 10 s: ${engine.reason}`;
}

function selectorHint(flags: TransportFlags): string {
  if (flags.path) return ` --path ${flags.path}`;
  if (flags.containername) return ` --containername ${flags.containername}`;
  return "";
}

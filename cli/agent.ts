// `crosstalk agent list | echo`: agent CLIs here, and the built-in echo agent.
import { echoReply } from "../engine/echo.ts";
import {
  type CliContext,
  Command,
  openBus,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The `agent` noun. */
export function agentCommand(ctx: CliContext): Command {
  const agent = new Command("agent").description("agent CLIs");

  withJson(withTransportOptions(agent.command("list")))
    .description("installed agent CLIs, the models in the yaml, and which this machine claims")
    .action(async (flags: TransportFlags) => {
      await using bus = await openBus(flags, ctx);
      const { agentReport } = await import("../engine/status.ts");
      const report = await agentReport(bus, ctx.env);
      if (flags.json) return printJson(ctx, report);
      ctx.out(
        `Installed agent CLIs: ${
          report.installed.length > 0
            ? report.installed.map((i) => `${i.name} (${i.path})`).join(", ")
            : "none"
        }\n\n`,
      );
      printTable(
        ctx,
        ["MODEL", "CLAIMED", "CLI", "COMMAND"],
        report.models.map((
          m,
        ) => [m.model, m.claimed ? "yes" : "no", m.path ?? `not found: ${m.reason}`, m.command]),
      );
    });

  agent.command("echo")
    .description("the built-in echo agent: replies with the text of the message it was sent")
    .argument("[prompt...]", "the prompt (as a dispatched CLI gets it); otherwise standard input")
    .action(async (words: string[]) => {
      const prompt = words.length > 0 ? words.join(" ") : (await ctx.readStdin()) ?? "";
      ctx.out(`${echoReply(prompt)}\n`);
    });
  return agent;
}

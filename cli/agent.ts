// `crosstalk agent list | echo | install | uninstall`: agent CLIs here, the built-in echo agent,
// and the crosstalk MCP server in an agent CLI's own configuration.
import { echoReply } from "../engine/echo.ts";
import { CrosstalkError } from "../schema/errors.ts";
import type { AgentCli, AgentInstallResult, InstallScope } from "../engine/agent_install.ts";
import {
  type CliContext,
  Command,
  openBus,
  Option,
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

  const scope = () =>
    new Option(
      "--scope <scope>",
      "project: this folder's configuration (default; Codex has none); user: your own",
    ).choices(["project", "user"]);

  agent.command("install")
    .description("adds the crosstalk MCP server (crosstalk mcp) to an agent CLI's configuration")
    .argument("<cli>", "claude, codex or gemini")
    .option("--name <name>", "the agent's name on the bus (default: <cli>-<folder>)")
    .addOption(scope())
    .option("--force", "replace a crosstalk entry that differs")
    .option("--dry-run", "print the file and its new content; write nothing")
    .action(async (cli: string, flags: InstallFlags) => {
      const agentCli = await agentCliOf(cli);
      if (flags.name !== undefined) {
        const { isName } = await import("../transports/mod.ts");
        if (!isName(flags.name)) {
          throw new CrosstalkError(
            "ERR_ADDRESS_INVALID",
            `Invalid --name ${JSON.stringify(flags.name)}: use letters, digits, . _ - (at most 64)`,
          );
        }
      }
      const { currentProgram } = await import("../engine/service.ts");
      const { installAgent, mcpServerEntry } = await import("../engine/agent_install.ts");
      const entry = mcpServerEntry(agentCli, {
        program: currentProgram(),
        name: flags.name,
        server: ctx.globals.server,
        profile: ctx.globals.profile,
      });
      const result = await installAgent(agentCli, entry, {
        scope: flags.scope,
        env: ctx.env,
        cwd: Deno.cwd(),
        force: flags.force ?? false,
        dryRun: flags.dryRun ?? false,
      });
      if (printDryRun(ctx, result, flags)) return;
      const where = `${result.file.path} (${result.file.scope} scope)`;
      ctx.out(
        result.action === "unchanged"
          ? `crosstalk is already installed in ${where}\n`
          : `${
            result.action === "replace" ? "Replaced" : "Installed"
          } the crosstalk MCP server in ${where}\n`,
      );
      ctx.out(startHint(agentCli, result));
    });

  agent.command("uninstall")
    .description("removes the crosstalk MCP server from an agent CLI's configuration")
    .argument("<cli>", "claude, codex or gemini")
    .addOption(scope())
    .option("--dry-run", "print the file and its new content; write nothing")
    .action(async (cli: string, flags: InstallFlags) => {
      const agentCli = await agentCliOf(cli);
      const { uninstallAgent } = await import("../engine/agent_install.ts");
      const result = await uninstallAgent(agentCli, {
        scope: flags.scope,
        env: ctx.env,
        cwd: Deno.cwd(),
        dryRun: flags.dryRun ?? false,
      });
      if (printDryRun(ctx, result, flags)) return;
      ctx.out(
        result.action === "absent"
          ? `crosstalk is not installed in ${result.file.path}\n`
          : `Removed the crosstalk MCP server from ${result.file.path}\n`,
      );
    });
  return agent;
}

interface InstallFlags {
  name?: string;
  scope?: InstallScope;
  force?: boolean;
  dryRun?: boolean;
}

async function agentCliOf(cli: string): Promise<AgentCli> {
  const { AGENT_CLIS } = await import("../engine/agent_install.ts");
  if ((AGENT_CLIS as readonly string[]).includes(cli)) return cli as AgentCli;
  throw new CrosstalkError(
    "ERR_USAGE",
    `Unknown agent CLI ${JSON.stringify(cli)}: use claude, codex or gemini`,
  );
}

/** With --dry-run, prints the file and what it would hold; true when it did. */
function printDryRun(ctx: CliContext, result: AgentInstallResult, flags: InstallFlags): boolean {
  if (!flags.dryRun || result.action === "unchanged" || result.action === "absent") return false;
  const text = result.text ?? "";
  ctx.out(`Would write ${result.file.path}:\n${text}${text.endsWith("\n") ? "" : "\n"}`);
  return true;
}

/** How to start the agent so that it loads the server just installed. */
function startHint(agent: AgentCli, result: AgentInstallResult): string {
  const here = result.file.scope === "project" ? " in this folder" : "";
  switch (agent) {
    case "claude":
      return `Start Claude Code${here} with new messages pushed into the session:\n` +
        `  claude --dangerously-load-development-channels server:crosstalk\n` +
        `(plain \`claude\` works too: the session then reads and waits for messages with its tools)\n`;
    case "codex":
      return `Start Codex${here}:\n  codex\n`;
    case "gemini":
      return `Start Gemini CLI${here}:\n  gemini\n`;
  }
}

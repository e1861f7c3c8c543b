// `crosstalk chat claude|codex|opencode [-- ARGS…]`: an interactive agent session that is on the bus.
import { CrosstalkError } from "../schema/errors.ts";
import { isName } from "../transports/names.ts";
import { openApi } from "./_client.ts";
import { type CliContext, Command, type TransportFlags, withTransportOptions } from "./_context.ts";

interface ChatFlags extends TransportFlags {
  name?: string;
  /** `--no-start`: never start an engine. */
  noStart?: boolean;
}

/** The `chat` command. */
export function chatCommand(ctx: CliContext): Command {
  return withTransportOptions(new Command("chat"))
    .description(
      "start an agent CLI (claude, codex or opencode) in this terminal as a live agent on the bus, with the crosstalk MCP server for this session only",
    )
    .argument("<cli>", "claude, codex or opencode")
    .argument("[args...]", "after --: more arguments for the agent CLI")
    .option("--name <name>", "the agent's name on the bus (default: <cli>-<folder>)")
    .option("--no-start", "with no engine running, fail instead of starting one in the background")
    .action(async (cli: string, args: string[], flags: ChatFlags) => {
      const { AGENT_CLIS, mcpServerEntry } = await import("../engine/agent_install.ts");
      if (!(AGENT_CLIS as readonly string[]).includes(cli)) {
        throw new CrosstalkError(
          "ERR_USAGE",
          `Unknown agent CLI ${JSON.stringify(cli)}: use claude, codex or opencode`,
        );
      }
      if (flags.name !== undefined && !isName(flags.name)) {
        throw new CrosstalkError(
          "ERR_ADDRESS_INVALID",
          `Invalid --name ${JSON.stringify(flags.name)}: use letters, digits, . _ - (at most 64)`,
        );
      }
      const { currentProgram } = await import("../engine/service.ts");
      const { chatLaunch } = await import("../engine/agent_chat.ts");
      const agent = cli as typeof AGENT_CLIS[number];
      const entry = mcpServerEntry(agent, {
        program: currentProgram(),
        name: flags.name,
        server: ctx.globals.server,
        profile: ctx.globals.profile,
      });
      // The server finds the same transport as this command did.
      if (flags.path !== undefined) entry.args.push("--path", flags.path);
      if (flags.containername !== undefined) {
        entry.args.push("--containername", flags.containername);
      }
      // Before any engine starts: a CLI that cannot be started this way says so at once.
      const launch = chatLaunch(agent, entry, { args, env: ctx.env });
      // The session's MCP server relays to an engine: without one, the agent would start with
      // a server that fails at once. Asked now, so that the user hears why.
      const api = flags.noStart
        ? await openApi(flags, ctx)
        : await (await import("./server.ts")).apiStartingEngine(flags, ctx);
      await api.call("GET", "/api/whoami");
      const [program, ...rest] = launch.argv;
      let child: Deno.ChildProcess;
      try {
        child = new Deno.Command(program!, {
          args: rest,
          env: launch.env,
          stdin: "inherit",
          stdout: "inherit",
          stderr: "inherit",
        }).spawn();
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          throw new CrosstalkError(
            "ERR_AGENT_NOT_FOUND",
            `Cannot start ${program}: it is not on PATH (install it first)`,
          );
        }
        throw error;
      }
      // Ctrl-C belongs to the agent (the terminal sends it to both): this process waits for it.
      const ignore = () => {};
      Deno.addSignalListener("SIGINT", ignore);
      try {
        const status = await child.status;
        ctx.exitCode = status.code;
      } finally {
        Deno.removeSignalListener("SIGINT", ignore);
      }
    });
}

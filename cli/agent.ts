// `crosstalk agent echo`: the built-in agent that needs no agent CLI installed.
import { echoReply } from "../engine/echo.ts";
import { type CliContext, Command } from "./_context.ts";

/** The `agent` noun. */
export function agentCommand(ctx: CliContext): Command {
  const agent = new Command("agent").description("agent CLIs");
  agent.command("echo")
    .description("the built-in echo agent: replies with the text of the message it was sent")
    .argument("[prompt...]", "the prompt (as a dispatched CLI gets it); otherwise standard input")
    .action(async (words: string[]) => {
      const prompt = words.length > 0 ? words.join(" ") : (await ctx.readStdin()) ?? "";
      ctx.out(`${echoReply(prompt)}\n`);
    });
  return agent;
}

// `crosstalk task list`: the tasks on the bus across channels.
import { openClient } from "./_client.ts";
import {
  type CliContext,
  Command,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The `task` noun (tasks are flagged, claimed and resolved by live agents and the API). */
export function taskCommand(ctx: CliContext): Command {
  const task = new Command("task").description("tasks on messages (see docs/LIVE.md)");
  withJson(withTransportOptions(task.command("list")))
    .description("tasks across channels, newest first: open and claimed ones, or --all")
    .option("--all", "resolved ones too")
    .action(async (flags: TransportFlags & { all?: boolean }) => {
      await using bus = await openClient(flags, ctx);
      const tasks = await bus.listTasks(flags.all ?? false);
      if (flags.json) return printJson(ctx, tasks);
      if (tasks.length === 0) return ctx.err(flags.all ? "No tasks\n" : "No open tasks\n");
      printTable(
        ctx,
        ["MESSAGE", "STATE", "BY", "FOR", "TITLE"],
        tasks.map((t) => [
          `${t.channel.slice(0, 8)}/${t.id}`,
          t.state,
          t.claimedBy ?? t.flaggedBy,
          [t.role, t.cwd].filter(Boolean).join(" ") || "anyone",
          t.title.length > 60 ? `${t.title.slice(0, 57)}...` : t.title,
        ]),
      );
    });
  return task;
}

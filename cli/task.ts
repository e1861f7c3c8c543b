// `crosstalk task list | flag | claim | resolve`: the tasks on the bus, and the task flow on one
// message through the engine's API (docs/LIVE.md, "Tasks and badges").
import { resolve } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import type { TaskState } from "../engine/tasks.ts";
import type { Message } from "../transports/mod.ts";
import { type HttpClient, openApi, openClient } from "./_client.ts";
import { readFileOption } from "./_body.ts";
import { ACT_FROM_HELP, postAs, senderOptions } from "./_sender.ts";
import {
  type CliContext,
  Command,
  printJson,
  printTable,
  shortRef,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The most a `--file` result may weigh: the engine takes 65,536 characters, each up to 4 bytes. */
const MAX_RESULT_BYTES = 4 * 64 * 1024;

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
          shortRef(t),
          t.state,
          t.claimedBy ?? t.flaggedBy,
          [t.role, t.cwd].filter(Boolean).join(" ") || "anyone",
          t.title.length > 60 ? `${t.title.slice(0, 57)}...` : t.title,
        ]),
      );
    });

  withJson(withTransportOptions(task.command("flag")))
    .description("make a message a task, for anyone or only for a role or a folder")
    .argument("<id>", "the message: its id, or <channel>/<id> as task list prints it")
    .option("--channel <channel>", "the channel to look in (default: search all)")
    .option("--role <role>", "only agents with this role may claim it")
    .option("--cwd <dir>", "only agents working in this folder (or below) may claim it")
    .option("--from <name>", ACT_FROM_HELP)
    .action(async (id: string, flags: TaskFlags & { role?: string; cwd?: string }) => {
      const { api, message, path } = await taskMessage(id, flags, ctx);
      const state = await postAs<TaskState>(api, {
        path,
        body: {
          ...(flags.role === undefined ? {} : { role: flags.role }),
          ...(flags.cwd === undefined ? {} : { cwd: resolve(flags.cwd) }),
        },
        ...senderOptions(flags, ctx),
      });
      if (flags.json) return printJson(ctx, state);
      const scope = [
        state.role && `for role ${state.role}`,
        state.cwd && `for agents in ${state.cwd}`,
      ].filter(Boolean).join(", ");
      ctx.out(`Flagged ${shortRef(message)} as a task${scope ? ` ${scope}` : ""}\n`);
    });

  withJson(withTransportOptions(task.command("claim")))
    .description("claim a task: exactly one claimant wins (exit 75 for the others)")
    .argument("<id>", "the message: its id, or <channel>/<id> as task list prints it")
    .option("--channel <channel>", "the channel to look in (default: search all)")
    .option("--from <name>", ACT_FROM_HELP)
    .action(async (id: string, flags: TaskFlags) => {
      const { api, message, path } = await taskMessage(id, flags, ctx);
      const state = await postAs<TaskState>(api, {
        path: `${path}/claim`,
        body: {},
        ...senderOptions(flags, ctx),
      });
      if (flags.json) return printJson(ctx, state);
      ctx.out(`Claimed ${shortRef(message)}\n`);
    });

  withJson(withTransportOptions(task.command("resolve")))
    .description(
      "resolve a task you claimed with its result, which is also sent as a reply to the " +
        "flagger",
    )
    .argument("<id>", "the message: its id, or <channel>/<id> as task list prints it")
    .option("--channel <channel>", "the channel to look in (default: search all)")
    .option("--result <text>", "the result")
    .option("--file <path>", "read the result from a file")
    .option("--failed", "the task failed (the result says why)")
    .option("--from <name>", ACT_FROM_HELP)
    .action(
      async (
        id: string,
        flags: TaskFlags & { result?: string; file?: string; failed?: boolean },
      ) => {
        if ((flags.result === undefined) === (flags.file === undefined)) {
          throw new CrosstalkError(
            "ERR_USAGE",
            "Give the result with --result TEXT or --file F (one of them)",
          );
        }
        const result = flags.result ?? await readFileOption(flags.file!, MAX_RESULT_BYTES);
        const { api, message, path } = await taskMessage(id, flags, ctx);
        const state = await postAs<TaskState>(api, {
          path: `${path}/resolve`,
          body: { status: flags.failed ? "failed" : "completed", result },
          ...senderOptions(flags, ctx),
        });
        if (flags.json) return printJson(ctx, state);
        ctx.out(
          `Resolved ${shortRef(message)}: ${state.state}${
            state.reply ? `; the result is the reply ${state.reply}` : ""
          }\n`,
        );
      },
    );
  return task;
}

/** The options every task verb on one message takes. */
interface TaskFlags extends TransportFlags {
  channel?: string;
  from?: string;
}

/**
 * The engine's API and the message `id` names, with the path of its task route. The task flow is
 * the engine's (a claim is decided by its sync), so it needs one, as the tmux agents do.
 */
export async function taskMessage(
  id: string,
  flags: TaskFlags,
  ctx: CliContext,
): Promise<{ api: HttpClient; message: Message; path: string }> {
  const api = await openApi(flags, ctx);
  const message = await api.findMessage(id, flags.channel);
  return { api, message, path: `/api/messages/${message.channel}/${message.id}/task` };
}

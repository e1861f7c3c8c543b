// `crosstalk message send | list | search | show | status | badge | replies`.
import { readFileOption } from "./_body.ts";
import type { Message } from "../transports/mod.ts";
import { AFTER_EVERY_ID } from "../transports/names.ts";
import { CrosstalkError } from "../schema/errors.ts";
import type { deliveryStatus } from "../engine/status.ts";
import type { Badge, TaskState } from "../engine/tasks.ts";
import { HttpClient, openApi, openClient } from "./_client.ts";
import { ACT_FROM_HELP, explainRefusal, postAs, senderOf, senderOptions } from "./_sender.ts";
import { livePid } from "../engine/background.ts";
import {
  type CliContext,
  Command,
  locationOf,
  parseSeconds,
  printJson,
  shortRef,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

interface SendFlags extends TransportFlags {
  to?: string[];
  exclude?: string[];
  channel?: string;
  from?: string;
  as?: string;
  re?: string[];
  file?: string;
  create?: boolean;
}

/** The `message` noun. */
export function messageCommand(ctx: CliContext): Command {
  const message = new Command("message").description("send and read messages");

  withJson(withTransportOptions(message.command("send")))
    .description("send a message; prints its id")
    .option(
      "--to <refs>",
      "addressees: model, provider/model, either @alias, all, a username (comma-separated or " +
        "repeated); default: the @mentions in the body (@bob, @here)",
      collect,
    )
    .option(
      "--exclude <refs>",
      "wake none of these, whatever --to says: --to all --exclude bob (comma-separated or repeated)",
      collect,
    )
    .option("--channel <channel>", "channel name, uuid or unique prefix (default: general)")
    .option(
      "--from <address>",
      "sender (default: $CROSSTALK_FROM, else the live session whose agent CLI runs this, else " +
        "this tmux pane's agent, else you; see whoami)",
    )
    .option("--as <actor>", "actor persona from local/actors/<actor>.md")
    .option("--re <id>", "the message id this replies to (repeatable)", collect)
    .option("--create", "create the --channel (a name) when there is none by that name")
    .option("--file <path>", "read the body from a file")
    .option("--wait", "then wait for the reply and print it")
    .option(
      "--timeout <seconds>",
      "with --wait: give up after this long (default 600)",
      parseSeconds,
    )
    .argument("[body...]", "the body; otherwise --file or standard input")
    .action(async (words: string[], flags: SendFlags & { wait?: boolean; timeout?: number }) => {
      await using bus = await openClient(flags, ctx);
      const body = await readBody(words, flags.file, ctx, bus.maxBodyBytes);
      // Through an engine: --from, the run's token, $CROSSTALK_FROM, the live session whose agent
      // CLI runs this, this pane's tmux agent, the credential (cli/_sender.ts). Written directly:
      // --from, else $CROSSTALK_FROM, else $USER.
      const sender = bus instanceof HttpClient
        ? await senderOf(bus, senderOptions(flags, ctx))
        : undefined;
      const sent = await bus.send({
        to: flags.to,
        exclude: flags.exclude,
        body,
        channel: flags.channel,
        from: sender ? sender.from : flags.from,
        as: flags.as,
        re: flags.re,
        createChannel: flags.create === true,
      }).catch(async (error: unknown) => {
        throw sender && bus instanceof HttpClient
          ? await explainRefusal(bus, sender, error)
          : error;
      });
      // The engine's word on addressees nobody answers to (a typo, most often).
      for (const warning of (sent as { warnings?: string[] }).warnings ?? []) {
        ctx.err(`warning: ${warning}\n`);
      }
      if (!flags.wait) {
        if (flags.json) return printJson(ctx, sent);
        return ctx.out(`${sent.id}\n`);
      }
      const timeout = flags.timeout ?? 600;
      // Written to the folder with no engine of this machine running: say so before the wait.
      if (!(bus instanceof HttpClient) && !(await livePid(locationOf(flags, ctx).stateDir))) {
        ctx.err(
          "warning: no engine of this transport runs on this machine, so a reply can come only " +
            'from one on another machine (start one here with "crosstalk server start")\n',
        );
      }
      const replies = await bus.waitForReplies([sent], timeout * 1000);
      if (flags.json) printJson(ctx, { message: sent, replies });
      else {
        ctx.out(`${sent.id}\n`);
        for (const r of replies) ctx.out(`\n${render(r)}\n`);
      }
      if (replies.length === 0) {
        ctx.err(`No reply within ${timeout}s (see "crosstalk message status ${sent.id}")\n`);
        ctx.exitCode = 75;
      }
    });

  withJson(withTransportOptions(message.command("list")))
    .description("list a channel's messages in order")
    .option("--channel <channel>", "channel name, uuid or unique prefix (default: general)")
    .option("--since <id>", "only messages after this id")
    .option("--limit <n>", "at most this many", parseCount)
    .option("--last <n>", "only the newest n (still oldest first)", parseCount)
    .option("--full", "each message whole, as message show prints it, instead of one line")
    .action(
      async (
        flags: TransportFlags & {
          channel?: string;
          since?: string;
          limit?: number;
          last?: number;
          full?: boolean;
        },
      ) => {
        if (flags.last !== undefined && (flags.since !== undefined || flags.limit !== undefined)) {
          throw new CrosstalkError("ERR_USAGE", "--last goes without --since and --limit");
        }
        await using bus = await openClient(flags, ctx);
        const { channel, messages, skipped } = await bus.listMessages(
          flags.channel,
          flags.last === undefined
            ? { since: flags.since, limit: flags.limit }
            : { before: AFTER_EVERY_ID, limit: flags.last },
        );
        if (flags.json) return printJson(ctx, messages);
        // Whole, they are printed as message replies prints several: a blank line after each.
        for (const m of messages) ctx.out(flags.full ? `${render(m)}\n\n` : `${summary(m)}\n`);
        if (skipped > 0) {
          ctx.err(
            `warning: ${skipped} invalid message files skipped (run "crosstalk transport check")\n`,
          );
        }
        if (messages.length === 0) ctx.err(`No messages in "${channel.name}"\n`);
      },
    );

  withJson(withTransportOptions(message.command("search")))
    .description("messages containing every word given (body, sender, addressees), newest first")
    .argument("<words...>", "what to look for (case-insensitive)")
    .option("--channel <channel>", "only this channel (default: every channel)")
    .option("--limit <n>", "at most this many (default 50)", parseCount)
    .action(
      async (words: string[], flags: TransportFlags & { channel?: string; limit?: number }) => {
        await using bus = await openClient(flags, ctx);
        const found = await bus.search(words.join(" "), {
          ...(flags.channel === undefined ? {} : { channel: flags.channel }),
          ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        });
        if (flags.json) return printJson(ctx, found);
        for (const m of found.messages) ctx.out(`${m.channel.slice(0, 8)}/${summary(m)}\n`);
        if (!found.complete) {
          ctx.err(
            `warning: stopped after reading ${found.scanned} messages; narrow it with --channel\n`,
          );
        }
        if (found.messages.length === 0) ctx.err("Nothing found\n");
      },
    );

  withJson(withTransportOptions(message.command("show")))
    .description("show one message")
    .argument("<id>", "message id (YYYY/MM/DD/…md), optionally <channel-uuid>/<id>")
    .option("--channel <channel>", "the channel to look in (default: search all)")
    .action(async (id: string, flags: TransportFlags & { channel?: string }) => {
      await using bus = await openClient(flags, ctx);
      const found = await bus.findMessage(id, flags.channel);
      const { task, badges } = await bus.annotations(found);
      if (flags.json) return printJson(ctx, { ...found, task, badges });
      const notes = [
        ...(task ? [`task:      ${taskLine(task)}`] : []),
        ...(badges.length > 0 ? [`badges:    ${badgesLine(badges)}`] : []),
      ];
      ctx.out(`${render(found, notes)}\n`);
    });

  withJson(withTransportOptions(message.command("status")))
    .description("where a message is: written, claimed by whom, running, replied or failed")
    .argument("<id>", "message id")
    .option("--channel <channel>", "the channel to look in (default: search all)")
    .action(async (id: string, flags: TransportFlags & { channel?: string }) => {
      await using bus = await openClient(flags, ctx);
      const found = await bus.findMessage(id, flags.channel);
      const status = await bus.deliveryStatus(found) as Awaited<ReturnType<typeof deliveryStatus>>;
      if (flags.json) return printJson(ctx, status);
      ctx.out(`${found.id}  written ${found.timestamp} by ${found.from}\n`);
      for (const d of status.deliveries) {
        const parts = [d.to.padEnd(24), d.state];
        if (d.by) parts.push(`by ${d.by}`);
        if (d.attempt && d.attempt > 1) parts.push(`attempt ${d.attempt}`);
        if (d.reply) parts.push(`reply ${d.reply}`);
        if (d.detail) parts.push(`(${d.detail})`);
        ctx.out(`  ${parts.join("  ")}\n`);
      }
      const { task, badges = [] } = status;
      if (task) ctx.out(`  task: ${taskLine(task)}\n`);
      if (badges.length > 0) ctx.out(`  badges: ${badgesLine(badges)}\n`);
    });

  withJson(withTransportOptions(message.command("badge")))
    .description("add a badge to a message: a type (importance, question, commit, …) and a value")
    .argument("<id>", "message id, optionally <channel>/<id>")
    .argument("<type>", "1 to 32 lowercase letters, digits, _ or -")
    .argument("[value]", "a short value (at most 200 characters)")
    .option("--channel <channel>", "the channel to look in (default: search all)")
    .option("--from <name>", ACT_FROM_HELP)
    .action(
      async (
        id: string,
        type: string,
        value: string | undefined,
        flags: TransportFlags & { channel?: string; from?: string },
      ) => {
        // Badges are recorded through the engine's sync, as tasks are: through its API only.
        const api = await openApi(flags, ctx);
        const found = await api.findMessage(id, flags.channel);
        const badge = await postAs<Badge>(api, {
          path: `/api/messages/${found.channel}/${found.id}/badges`,
          body: { type, ...(value === undefined ? {} : { value }) },
          ...senderOptions(flags, ctx),
        });
        if (flags.json) return printJson(ctx, badge);
        ctx.out(
          `Added the badge ${badge.type}${badge.value ? `=${badge.value}` : ""} to ${
            shortRef(found)
          }\n`,
        );
      },
    );

  withJson(withTransportOptions(message.command("replies")))
    .description("show the replies to messages; --wait blocks until each has one")
    .argument("<ids...>", "message ids")
    .option("--channel <channel>", "the channel to look in (default: search all)")
    .option("--wait", "wait until every message has a reply")
    .option(
      "--timeout <seconds>",
      "with --wait: give up after this long (default 600)",
      parseSeconds,
    )
    .action(
      async (
        ids: string[],
        flags: TransportFlags & { channel?: string; wait?: boolean; timeout?: number },
      ) => {
        await using bus = await openClient(flags, ctx);
        const targets = await Promise.all(ids.map((id) => bus.findMessage(id, flags.channel)));
        const replies = flags.wait
          ? await bus.waitForReplies(targets, (flags.timeout ?? 600) * 1000)
          : (await Promise.all(targets.map((t) => bus.replies(t)))).flat();
        const unanswered = targets.filter((t) => !replies.some((r) => r.re?.includes(t.id)));
        if (flags.json) printJson(ctx, replies);
        else for (const r of replies) ctx.out(`${render(r)}\n\n`);
        if (flags.wait && unanswered.length > 0) {
          ctx.err(
            `No reply within ${flags.timeout ?? 600}s to ${
              unanswered.map((t) => t.id).join(", ")
            }\n`,
          );
          ctx.exitCode = 75;
        }
      },
    );
  return message;
}

async function readBody(
  words: string[],
  file: string | undefined,
  ctx: CliContext,
  limit: number,
): Promise<string> {
  if (words.length > 0 && file !== undefined) {
    throw new CrosstalkError("ERR_USAGE", "Give the body as arguments or with --file, not both");
  }
  if (words.length > 0) return words.join(" ");
  if (file !== undefined) return await readFileOption(file, limit);
  const stdin = await ctx.readStdin();
  if (stdin === undefined) {
    throw new CrosstalkError(
      "ERR_USAGE",
      "No message body: give it as an argument, with --file, or on standard input",
    );
  }
  return stdin;
}

function summary(m: Message): string {
  const re = m.re?.length ? ` re ${m.re.join(",")}` : "";
  const failed = m.failed ? " FAILED" : "";
  const text = firstLine(m.body);
  const not = m.exclude?.length ? ` (not ${m.exclude.join(",")})` : "";
  return `${m.id}  ${m.from} -> ${m.to.join(",")}${not}${re}${failed}  ${text}`;
}

/** The first line of a text, cut at 80 characters. */
function firstLine(text: string): string {
  const first = text.split("\n")[0] ?? "";
  return first.length > 80 ? `${first.slice(0, 77)}...` : first;
}

/** A task in one line: `claimed, flagged by boss, for role dev, claimed by coder`. */
function taskLine(task: TaskState): string {
  const parts = [task.state, `flagged by ${task.flaggedBy}`];
  if (task.role) parts.push(`for role ${task.role}`);
  if (task.cwd) parts.push(`in ${task.cwd}`);
  if (task.claimedBy) parts.push(`claimed by ${task.claimedBy}`);
  if (task.result !== undefined) parts.push(`result: ${firstLine(task.result)}`);
  return parts.join(", ");
}

/** Badges in one line: `importance=high (boss), question (ann)`. */
function badgesLine(badges: readonly Badge[]): string {
  return badges.map((b) => `${b.type}${b.value ? `=${b.value}` : ""} (${b.by})`).join(", ");
}

/** A message whole: its header lines (then `notes`, more of them), a blank line, its body. */
function render(m: Message, notes: readonly string[] = []): string {
  const head = [
    `id:        ${m.id}`,
    `channel:   ${m.channel}`,
    `from:      ${m.from}`,
    `to:        ${m.to.join(", ")}`,
  ];
  if (m.exclude?.length) head.push(`exclude:   ${m.exclude.join(", ")}`);
  head.push(`timestamp: ${m.timestamp}`);
  if (m.re?.length) head.push(`re:        ${m.re.join(", ")}`);
  if (m.as) head.push(`as:        ${m.as}`);
  if (typeof m.extra?.model === "string") head.push(`model:     ${m.extra.model}`);
  if (m.type) head.push(`type:      ${m.type}`);
  if (m.failed) head.push(`failed:    true${m.error ? ` (${m.error})` : ""}`);
  head.push(...notes);
  return `${head.join("\n")}\n\n${m.body}`;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(",").map((v) => v.trim()).filter((v) => v !== "")];
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new CrosstalkError(
      "ERR_USAGE",
      `Invalid count ${JSON.stringify(value)}: use a positive integer`,
    );
  }
  return n;
}

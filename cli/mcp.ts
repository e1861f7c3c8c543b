// `crosstalk mcp`: the stdio MCP server a live agent session runs (Claude Code, Codex, Gemini
// CLI, …). It registers the session with the local engine as a live agent, offers a few cheap
// tools (send, read, wait, peers, status, task, badge) and turns the engine's wake events into a
// channel notification, keystrokes in the session's tmux pane or a signed webhook. It exits
// when its stdin closes.
import process from "node:process";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { CrosstalkError } from "../schema/errors.ts";
import type { LiveAgentInfo, WakeEvent, WakeKind, WakeReport } from "../engine/live.ts";
import type { Peers } from "../engine/engine.ts";
import type { TaskState } from "../engine/tasks.ts";
import { VERSION } from "../engine/version.ts";
import { deliverWake, type WakeTarget } from "../engine/wake.ts";
import type { Message } from "../transports/mod.ts";
import { HttpClient, openApi } from "./_client.ts";
import { type CliContext, Command, type TransportFlags, withTransportOptions } from "./_context.ts";
import { readSse } from "./_sse.ts";

interface McpFlags extends TransportFlags {
  name?: string;
  agent?: string;
  model?: string;
  role?: string;
  wake?: WakeKind;
  webhook?: string;
  enterDelay?: number;
  allow?: string[];
}

/**
 * How long a successful wake waits to be reported, by default (`CROSSTALK_WOKEN_REPORT_MS`). A
 * read tells the engine more than a wake (read implies woken), and most agents read on their
 * wake: within this time the report is not needed, and each message costs one request less. A
 * failed wake is reported at once.
 */
export const WOKEN_REPORT_MS = 300;
/** Tries of one wake report, and the pause before the second (doubled before the third). */
const REPORT_TRIES = 3;
const REPORT_RETRY_MS = 200;

/** The newest MCP revision this server speaks (Claude Code registers channels up to it). */
export const MCP_PROTOCOL_VERSION = "2025-11-25";

const INSTRUCTIONS =
  `You are connected to crosstalk, a message bus shared with other agents and people.
New messages for you arrive as <channel source="crosstalk" from=... message_id=...> events (or as
a "[crosstalk]" line typed into your terminal). They are previews: call the read tool to read them
in full, which also tells the sender you read them. To answer, call send with to=<the sender> and
re=<message_id>. Messages marked no_reply need no answer; never reply only to acknowledge, and keep
exchanges with other agents short. Use peers to see who is around, and wait to block for messages.`;

/** The `mcp` command. */
export function mcpCommand(ctx: CliContext): Command {
  return withTransportOptions(new Command("mcp"))
    .description("stdio MCP server for a live agent session: send, read, wait, peers, tasks")
    .option("--name <name>", "the agent's name on the bus (default: <agent>-<folder>)")
    .option(
      "--agent <cli>",
      "the agent CLI that runs this server (default: from the parent process)",
    )
    .option("--model <model>", "the model the agent runs, shown to peers")
    .option("--role <role>", "what the agent does (shown to peers, matched by tasks)")
    .option(
      "--wake <how>",
      "channel | tmux | webhook | pull (default: channel for Claude Code, tmux in tmux, else pull)",
    )
    .option("--webhook <url>", "wake by POSTing here, signed with $CROSSTALK_WEBHOOK_SECRET")
    .option("--enter-delay <ms>", "tmux: pause between the paste and Enter", (v: string) => {
      const ms = Number(v);
      if (!Number.isInteger(ms) || ms < 0 || ms > 10_000) {
        throw new CrosstalkError("ERR_USAGE", "--enter-delay must be 0 to 10000 ms");
      }
      return ms;
    })
    .option(
      "--allow <names...>",
      "who may wake this agent (default: every user, model and agent of the transport)",
    )
    .action(async (flags: McpFlags) => await runMcp(flags, ctx));
}

async function runMcp(flags: McpFlags, ctx: CliContext): Promise<void> {
  const reportDelayMs = reportDelay(ctx.env.CROSSTALK_WOKEN_REPORT_MS);
  const pane = ctx.env.TMUX_PANE;
  const agentCli = flags.agent ?? guessAgent();
  const wake: WakeKind = flags.wake ??
    (flags.webhook ? "webhook" : agentCli === "claude" ? "channel" : pane ? "tmux" : "pull");
  if (!["channel", "tmux", "webhook", "pull"].includes(wake)) {
    throw new CrosstalkError("ERR_USAGE", `--wake must be channel, tmux, webhook or pull`);
  }
  const target: WakeTarget = { kind: wake };
  if (wake === "tmux") {
    if (!pane) throw new CrosstalkError("ERR_USAGE", "--wake tmux needs to run inside tmux");
    target.pane = pane;
    if (flags.enterDelay !== undefined) target.enterDelayMs = flags.enterDelay;
  }
  if (wake === "webhook") {
    const secret = ctx.env.CROSSTALK_WEBHOOK_SECRET;
    if (!flags.webhook || !secret) {
      throw new CrosstalkError(
        "ERR_USAGE",
        "--wake webhook needs --webhook URL and the shared secret in $CROSSTALK_WEBHOOK_SECRET",
      );
    }
    const { checkWebhookUrl } = await import("../transports/webhook.ts");
    checkWebhookUrl(flags.webhook);
    target.webhook = { url: flags.webhook, secret };
  }

  const owner = await openApi(flags, ctx);
  const registered = await owner.call<{ agent: LiveAgentInfo; token: string }>(
    "POST",
    "/api/live",
    {
      agent: agentCli,
      wake,
      cwd: ctx.env.PWD?.startsWith("/") ? ctx.env.PWD : Deno.cwd(),
      ...(flags.name ? { name: flags.name } : {}),
      ...(flags.model ? { model: flags.model } : {}),
      ...(flags.role ? { role: flags.role } : {}),
      ...(pane ? { tmux: pane } : {}),
      ...(flags.allow ? { allow: flags.allow.flatMap((a) => a.split(",")) } : {}),
    },
  );
  const me = registered.agent.name;
  const api = new HttpClient(owner.via, registered.token);
  const log = (text: string) => ctx.err(`crosstalk mcp (${me}): ${text}\n`);

  const server = new McpServer(
    { name: "crosstalk", version: VERSION },
    { capabilities: { experimental: { "claude/channel": {} } }, instructions: INSTRUCTIONS },
  );
  const reports = new WakeReports(api, log, reportDelayMs);
  registerTools(server, api, me, reports);
  target.notify = (content, meta) =>
    server.server.notification({
      method: "notifications/claude/channel",
      params: { content, meta },
    });

  const closed = Promise.withResolvers<void>();
  process.stdin.on("end", () => closed.resolve());
  process.stdin.on("close", () => closed.resolve());
  server.server.onclose = () => closed.resolve();
  await server.connect(new StdioServerTransport());
  log(`registered as "${me}" (wake: ${wake}) with ${owner.via}`);

  const stop = new AbortController();
  const wakes = wakeLoop(api, target, reports, stop.signal, log);
  await closed.promise;
  stop.abort();
  // The wake being delivered now reports too, before the session leaves.
  await wakes;
  await reports.flush();
  await api.call("DELETE", "/api/live/me").catch(() => {});
  await server.close().catch(() => {});
}

/** Follows the engine's wake stream, reconnecting (with backoff) when the engine restarts. */
async function wakeLoop(
  api: HttpClient,
  target: WakeTarget,
  reports: WakeReports,
  signal: AbortSignal,
  log: (text: string) => void,
): Promise<void> {
  let delay = 200;
  while (!signal.aborted) {
    try {
      const response = await api.stream("/api/live/me/wake", signal);
      delay = 200;
      for await (const sse of readSse(response.body!)) {
        if (sse.event !== "wake") continue;
        const event = JSON.parse(sse.data) as WakeEvent;
        const report = await deliverWake(event, target);
        if (!report.ok) log(`could not wake: ${report.detail}`);
        reports.add(event.ref, report);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof CrosstalkError && error.code === "ERR_TOKEN_REVOKED") {
        log("the engine ended this session; wakes stop (tools still answer with an error)");
        return;
      }
      log(`wake stream: ${errorText(error)}`);
    }
    if (signal.aborted) return;
    // Reports still waiting go first: a stream that comes back replays the wakes the engine
    // does not know were delivered.
    await reports.flush();
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 5_000);
  }
}

/**
 * Tells the engine how wakes went, without holding up the next wake: failures at once, successes
 * after {@linkcode WOKEN_REPORT_MS} in one request, minus the messages read meanwhile.
 */
class WakeReports {
  #api: HttpClient;
  #log: (text: string) => void;
  #delayMs: number;
  #woken = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #posting: Promise<void> = Promise.resolve();

  constructor(api: HttpClient, log: (text: string) => void, delayMs: number) {
    this.#api = api;
    this.#log = log;
    this.#delayMs = delayMs;
  }

  /** A wake was delivered (or failed) for `ref`. */
  add(ref: string, report: WakeReport): void {
    if (!report.ok) {
      this.#post([ref], report);
      return;
    }
    this.#woken.add(ref);
    this.#timer ??= setTimeout(() => void this.flush(), this.#delayMs);
  }

  /** These messages were read: the engine knows they reached the agent. */
  read(refs: Iterable<string>): void {
    for (const ref of refs) this.#woken.delete(ref);
  }

  /** Reports what waits now, and resolves when every report so far has been sent. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#woken.size > 0) this.#post([...this.#woken], { ok: true });
    this.#woken.clear();
    return this.#posting;
  }

  #post(refs: string[], report: WakeReport): void {
    this.#posting = this.#posting.then(async () => {
      for (let attempt = 1;; attempt++) {
        try {
          await this.#api.call("POST", "/api/live/me/wake-report", { refs, ...report });
          return;
        } catch (error) {
          if (attempt >= REPORT_TRIES) {
            this.#log(`wake report: ${errorText(error)}`);
            return;
          }
          await new Promise((r) => setTimeout(r, REPORT_RETRY_MS * 2 ** (attempt - 1)));
        }
      }
    });
  }
}

/** The woken-report delay from `CROSSTALK_WOKEN_REPORT_MS`, in ms. */
function reportDelay(value: string | undefined): number {
  if (value === undefined) return WOKEN_REPORT_MS;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0 || ms > 600_000) {
    throw new CrosstalkError(
      "ERR_USAGE",
      `CROSSTALK_WOKEN_REPORT_MS must be 0 to 600000 ms, not ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type ToolResult = { content: { type: "text"; text: string }[]; isError?: boolean };

/** Runs a tool; a crosstalk error becomes a tool error the model can read, not a crash. */
async function answer(run: () => Promise<string>): Promise<ToolResult> {
  try {
    return { content: [{ type: "text", text: await run() }] };
  } catch (error) {
    const text = error instanceof CrosstalkError
      ? `error ${error.code}: ${error.message}`
      : `error: ${errorText(error)}`;
    return { content: [{ type: "text", text }], isError: true };
  }
}

const REF = z.string().describe(
  "a message id as read shows it (<channel>/<YYYY>/<MM>/<DD>/<file>.md)",
);
const SEND = z.object({
  to: z.string().describe("addressee(s): agent name, model, username or all"),
  message: z.string().describe("the text (markdown)"),
  re: z.string().optional().describe("the message id this replies to"),
  channel: z.string().optional().describe("channel name or id (default: the re's, else general)"),
});
const READ = z.object({ limit: z.number().int().min(1).max(200).optional() });
const WAIT = z.object({ seconds: z.number().min(0).max(300).optional() });
const STATUS = z.object({ status: z.string().min(1).max(200) });
const TASK = z.object({
  action: z.enum(["flag", "claim", "resolve"]),
  message: REF,
  role: z.string().optional().describe("flag: only agents with this role may claim"),
  cwd: z.string().optional().describe("flag: only agents working in this folder may claim"),
  result: z.string().optional().describe("resolve: the outcome, markdown"),
  failed: z.boolean().optional().describe("resolve: true when the task failed"),
});
const BADGE = z.object({ message: REF, type: z.string(), value: z.string().optional() });

function registerTools(
  server: McpServer,
  api: HttpClient,
  me: string,
  reports: WakeReports,
): void {
  const readInbox = async (query: string) => {
    const inbox = await api.call<{ messages: Message[]; more: number }>(
      "GET",
      `/api/live/me/inbox?${query}`,
    );
    reports.read(inbox.messages.map((m) => `${m.channel}/${m.id}`));
    return formatInbox(inbox, me);
  };

  server.registerTool("send", {
    description: "Send a message to an agent, a model, a human or all (comma-separate several); " +
      "with re=<message id> it is a reply. Returns the new message's id.",
    inputSchema: SEND.shape,
  }, (args: z.infer<typeof SEND>) =>
    answer(async () => {
      const body: Record<string, unknown> = {
        to: args.to.split(",").map((t: string) => t.trim()).filter(Boolean),
        body: args.message,
      };
      let channel = args.channel;
      if (args.re) {
        const [replyChannel, ...id] = args.re.split("/");
        if (!replyChannel || id.length !== 4) {
          throw new CrosstalkError("ERR_ID_INVALID", `re must be a message id as read shows it`);
        }
        channel ??= replyChannel;
        body.re = [id.join("/")];
      }
      if (channel) body.channel = channel;
      const sent = await api.call<Message>("POST", "/api/messages", body, {
        "Idempotency-Key": crypto.randomUUID(),
      });
      return `sent ${sent.channel}/${sent.id}`;
    }));

  server.registerTool("read", {
    description: "Read your new messages (oldest first) and mark them read.",
    inputSchema: READ.shape,
  }, (args: z.infer<typeof READ>) => answer(() => readInbox(`limit=${args.limit ?? 20}`)));

  server.registerTool("wait", {
    description: "Wait up to `seconds` (default 60, at most 300) for new messages; returns them " +
      "read, or says none came.",
    inputSchema: WAIT.shape,
  }, (args: z.infer<typeof WAIT>) => answer(() => readInbox(`wait=${args.seconds ?? 60}`)));

  server.registerTool("peers", {
    description: "Who is on the bus: live agents (status, machine), models and humans.",
    inputSchema: {},
  }, () => answer(async () => formatPeers(await api.call<Peers>("GET", "/api/peers"), me)));

  server.registerTool("status", {
    description: 'Set your status for peers: "available", "busy" or a short text.',
    inputSchema: STATUS.shape,
  }, (args: z.infer<typeof STATUS>) =>
    answer(async () => {
      const agent = await api.call<LiveAgentInfo>("PATCH", "/api/live/me", {
        status: args.status,
      });
      return `status: ${agent.status}`;
    }));

  server.registerTool("task", {
    description: "Task flow on a message: flag it as a task (optionally for a role or folder), " +
      "claim it (one claimant wins), or resolve it with a result (failed=true if it failed).",
    inputSchema: TASK.shape,
  }, (args: z.infer<typeof TASK>) =>
    answer(async () => {
      const path = `/api/messages/${args.message}/task`;
      let task: TaskState;
      if (args.action === "flag") {
        task = await api.call<TaskState>("POST", path, {
          ...(args.role ? { role: args.role } : {}),
          ...(args.cwd ? { cwd: args.cwd } : {}),
        });
      } else if (args.action === "claim") {
        task = await api.call<TaskState>("POST", `${path}/claim`, {});
      } else {
        if (!args.result) throw new CrosstalkError("ERR_BODY_INVALID", "resolve needs a result");
        task = await api.call<TaskState>("POST", `${path}/resolve`, {
          status: args.failed ? "failed" : "completed",
          result: args.result,
        });
      }
      return formatTask(task);
    }));

  server.registerTool("badge", {
    description:
      "Add a badge to a message (type like importance, question, commit; a short value).",
    inputSchema: BADGE.shape,
  }, (args: z.infer<typeof BADGE>) =>
    answer(async () => {
      await api.call("POST", `/api/messages/${args.message}/badges`, {
        type: args.type,
        ...(args.value ? { value: args.value } : {}),
      });
      return `badge ${args.type}${args.value ? `=${args.value}` : ""} added`;
    }));
}

/** Messages as compact text: a header line per message, then its body. */
export function formatInbox(inbox: { messages: Message[]; more: number }, me: string): string {
  if (inbox.messages.length === 0) return "no new messages";
  const parts = inbox.messages.map((m) => {
    const to = m.to.filter((t) => t !== me);
    const head = `[${m.channel}/${m.id}] from ${m.from}${
      to.length > 0 ? ` to ${m.to.join(",")}` : ""
    }${m.re?.length ? ` re ${m.re.join(",")}` : ""}`;
    return `${head}\n${m.body.trimEnd()}`;
  });
  if (inbox.more > 0) parts.push(`(${inbox.more} more unread: call read again)`);
  return parts.join("\n\n");
}

/** Peers as compact lines. */
export function formatPeers(peers: Peers, me: string): string {
  const agents = peers.agents.map((a) =>
    `${a.name}${a.name === me ? " (you)" : ""}: ${a.agent}${a.model ? `/${a.model}` : ""}${
      a.role ? `, ${a.role}` : ""
    } on ${a.machine}, ${a.online ? a.status : "offline"}${a.cwd ? `, in ${a.cwd}` : ""}`
  );
  const models = peers.models.map((m) =>
    `${m.model}${m.machines.length > 0 ? ` on ${m.machines.join(",")}` : " (no engine runs it)"}`
  );
  return [
    `agents: ${agents.length > 0 ? `\n${agents.map((l) => `  ${l}`).join("\n")}` : "none"}`,
    `models: ${models.length > 0 ? models.join("; ") : "none"}`,
    `humans: ${peers.humans.length > 0 ? peers.humans.join(", ") : "none"}`,
  ].join("\n");
}

function formatTask(task: TaskState): string {
  const parts = [`task ${task.state}`, `flagged by ${task.flaggedBy}`];
  if (task.role) parts.push(`role ${task.role}`);
  if (task.cwd) parts.push(`in ${task.cwd}`);
  if (task.claimedBy) parts.push(`claimed by ${task.claimedBy}`);
  if (task.result) parts.push(`result: ${task.result}`);
  return parts.join(", ");
}

/** The agent CLI that started this process, by its command line (Linux), else "agent". */
function guessAgent(): string {
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${Deno.ppid}/cmdline`).replaceAll("\0", " ");
    for (const cli of ["claude", "codex", "gemini", "qwen", "opencode", "aider"]) {
      if (cmdline.includes(cli)) return cli;
    }
  } catch {
    // Not Linux, or the parent is gone.
  }
  return "agent";
}

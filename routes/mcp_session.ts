// The MCP server of one live agent session, run by the engine on the session's WebSocket (the
// route is routes/mcp.ts, which loads this module at the first session: the SDK and zod cost the
// engine's start-up nothing until then). A session's `crosstalk mcp` process only relays its stdio
// here (cli/mcp.ts), so the tools, the SDK and the Claude Code channel wakes run in the one
// process that stays warm, instead of once per session (docs/LIVE.md says what that bought).
// The tools call the API itself, in process, with the session's own token: every rule of the
// HTTP API (identity, idempotency, limits) holds for them unchanged.
import { createHash } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { type JSONRPCMessage, JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { CrosstalkError, errorFromApi, errorText } from "../schema/errors.ts";
import type { LiveAgentInfo } from "../engine/live.ts";
import type { Peers } from "../engine/engine.ts";
import type { Bus } from "../engine/bus.ts";
import {
  annotationsOf,
  type MessageAnnotations,
  type TaskEntry,
  type TaskState,
  whyNotFor,
} from "../engine/tasks.ts";
import type { Logger } from "../engine/log.ts";
import { VERSION } from "../engine/version.ts";
import {
  type ApiCaller,
  CLOSE_LEAVING,
  deliverWake,
  WakeReports,
  type WakeTarget,
} from "../engine/wake.ts";
import type { Message } from "../transports/mod.ts";
import { AFTER_EVERY_ID } from "../transports/names.ts";
import type { AppDeps } from "./_context.ts";
import type { SessionSocket } from "./mcp_pump.ts";

const encoder = new TextEncoder();

/**
 * What the agent is told at initialize. (The SDK, 1.32.2, negotiates revisions up to 2025-11-25,
 * the newest for which Claude Code registers a channel; tests/cli/mcp_test.ts holds it there.)
 */
const INSTRUCTIONS =
  `You are connected to crosstalk, a message bus shared with other agents and people.
New messages for you arrive as <channel source="crosstalk" from=... message_id=...> events (or as
a "[crosstalk]" line typed into your terminal). They are previews: call the read tool to read them
in full, which also tells the sender you read them. To answer, call send with to=<the sender> and
re=<message_id>. Messages marked no_reply need no answer; never reply only to acknowledge, and keep
exchanges with other agents short. Use peers to see who is around, history to read a channel or a
thread, and wait to block for messages.`;

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

const REF = z.string().regex(
  /^[0-9a-f-]{36}\/\d{4}\/\d{2}\/\d{2}\/\d{9}Z-[0-9a-f]{8}\.md$/,
  "a message id as read shows it: <channel>/<YYYY>/<MM>/<DD>/<file>.md",
).describe("a message id as read shows it (<channel>/<YYYY>/<MM>/<DD>/<file>.md)");
const SEND = z.object({
  to: z.string().optional().describe(
    "addressee(s): agent name, model, username, all (models and agents) or here (agents only); " +
      "left out: the @names in the message",
  ),
  exclude: z.string().optional().describe(
    "who not to wake, whatever `to` says (to: all, exclude: bob); comma-separate several",
  ),
  message: z.string().describe("the text (markdown)"),
  re: z.string().optional().describe("the message id this replies to"),
  channel: z.string().optional().describe("channel name or id (default: the re's, else general)"),
  create_channel: z.boolean().optional().describe(
    "true: make `channel` (a name) if there is none by that name, to start a topic",
  ),
  workflow: z.boolean().optional().describe(
    "true: a workflow request, to 'workflow' with a fanout/synthesize plan in a yaml block, or " +
      "to the model that plans it; its result comes back as a reply",
  ),
});
const READ = z.object({ limit: z.number().int().min(1).max(200).optional() });
const WAIT = z.object({ seconds: z.number().min(0).max(300).optional() });
const STATUS = z.object({
  status: z.string().min(1).max(200).optional().describe(
    '"available", "busy" or a short text',
  ),
  role: z.string().max(100).optional().describe(
    'what you do, shown to peers; tasks flagged for a role go to agents with it ("": none)',
  ),
  model: z.string().max(100).optional().describe('the model you run, shown to peers ("": none)'),
});
const TASK = z.object({
  action: z.enum(["flag", "claim", "resolve", "list"]),
  message: REF.optional(),
  role: z.string().optional().describe("flag: only agents with this role may claim"),
  cwd: z.string().optional().describe("flag: only agents working in this folder may claim"),
  result: z.string().optional().describe("resolve: the outcome, markdown"),
  failed: z.boolean().optional().describe("resolve: true when the task failed"),
});
const BADGE = z.object({ message: REF, type: z.string(), value: z.string().optional() });
const HISTORY = z.object({
  channel: z.string().optional().describe("channel name or id (default: general)"),
  thread: REF.optional().describe("a message id: that message and its replies instead"),
  last: z.number().int().min(1).max(100).optional().describe("how many, newest (default 20)"),
});

/** What the tools of one session work with. */
interface ToolContext {
  /** The API as the session, for the tools' calls; they end with the socket. */
  api: ApiCaller;
  /** The API as the session, for what must outlive the socket (giving messages back). */
  lasting: ApiCaller;
  /** The session's live agent name. */
  me: string;
  /** The id of the session's token: with a JSON-RPC request id, it names one tool call. */
  tokenId: string;
  reports: WakeReports;
  /** Aborted when the socket closes. */
  closed: AbortSignal;
  /** The tasks and badges of the messages a tool shows (see {@linkcode NotesOf}). */
  notes: NotesOf;
}

/**
 * The tasks and badges of a page of messages, by `<channel>/<id>`; a message with neither may be
 * left out. Never fails: what a tool shows must not be lost for want of its labels.
 */
export type NotesOf = (messages: readonly Message[]) => Promise<Map<string, MessageAnnotations>>;

/**
 * A {@linkcode NotesOf} that reads the engine's records directly: one read of each channel's
 * day folders for the whole page (engine/tasks.ts's bulk reader), not one per message. A
 * channel whose read fails calls `failed`, and its messages show without their labels.
 */
export function notesFrom(bus: Bus, failed: (error: unknown) => void): NotesOf {
  return async (messages) => {
    const notes = new Map<string, MessageAnnotations>();
    const byChannel = Map.groupBy(messages, (m) => m.channel);
    await Promise.all([...byChannel].map(async ([channel, page]) => {
      try {
        const { annotations } = await annotationsOf(bus, { channel, ids: page.map((m) => m.id) });
        for (const [id, note] of annotations) notes.set(`${channel}/${id}`, note);
      } catch (error) {
        failed(error);
      }
    }));
    return notes;
  };
}

/** A hex SHA-256 of `text`: any request id (1 and "1" apart, any length) in a header. */
function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function registerTools(
  server: McpServer,
  { api, lasting, me, tokenId, reports, closed, notes }: ToolContext,
): { cancelled: (requestId: string | number) => void } {
  // What the last reads handed out, by request: a cancel that comes after the answer means the
  // client dropped it (it ignores answers to what it cancelled), so those go back too.
  const handedOut = new Map<string | number, string[]>();
  const giveBack = async (refs: string[]) => {
    await lasting.call("POST", "/api/live/me/unread", { refs });
  };
  // A read the client cancels (the user pressed Esc during wait) ends at once and takes nothing.
  // One cancelled (or whose session closed) after the engine handed messages out gives them
  // back: the SDK drops a cancelled call's answer, and the agent would never see them.
  const readInbox = async (query: string, signal: AbortSignal, requestId: string | number) => {
    const inbox = await api.call<{ messages: Message[]; more: number }>(
      "GET",
      `/api/live/me/inbox?${query}`,
      undefined,
      {},
      signal,
    );
    const refs = inbox.messages.map((m) => `${m.channel}/${m.id}`);
    if ((signal.aborted || closed.aborted) && refs.length > 0) {
      await giveBack(refs);
      throw new CrosstalkError("ERR_TIMEOUT", "The read was cancelled; nothing was taken");
    }
    if (refs.length > 0) {
      handedOut.set(requestId, refs);
      if (handedOut.size > 32) handedOut.delete(handedOut.keys().next().value!);
    }
    reports.read(refs);
    return formatInbox(inbox, me, await notes(inbox.messages));
  };

  server.registerTool("send", {
    description: "Send a message to an agent, a model, a human or all (comma-separate several); " +
      "with re=<message id> it is a reply. Returns the new message's id.",
    inputSchema: SEND.shape,
  }, (args: z.infer<typeof SEND>, extra: { requestId: string | number }) =>
    answer(async () => {
      const body: Record<string, unknown> = { body: args.message };
      const to = (args.to ?? "").split(",").map((t: string) => t.trim()).filter(Boolean);
      if (to.length > 0) body.to = to;
      if (args.exclude) body.exclude = args.exclude.split(",").map((t) => t.trim()).filter(Boolean);
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
      if (args.create_channel) body.create_channel = true;
      if (args.workflow) body.type = "workflow";
      // The relay sends a call again, with its id, when the engine went away before answering
      // it (MCP forbids reusing a request id within a session): the key makes that retry return
      // the message the first attempt wrote, if it got that far, instead of writing a second.
      const key = `mcp-call ${tokenId} ${digest(JSON.stringify(extra.requestId))}`;
      const sent = await api.call<Message & { warnings?: string[] }>(
        "POST",
        "/api/messages",
        body,
        { "Idempotency-Key": key },
      );
      const warnings = (sent.warnings ?? []).map((w) => `\nwarning: ${w}`).join("");
      // Addressed by its @mentions: who they were, so a slip shows.
      const mentioned = body.to === undefined ? ` to ${sent.to.join(", ")}` : "";
      return `sent ${sent.channel}/${sent.id}${mentioned}${warnings}`;
    }));

  // read and wait: the same inbox call, with a count or a long-poll.
  const inboxTool = <T extends z.ZodObject>(
    name: string,
    description: string,
    schema: T,
    query: (args: z.infer<T>) => string,
  ) =>
    server.registerTool(
      name,
      { description, inputSchema: schema.shape },
      (args: z.infer<T>, extra: { signal: AbortSignal; requestId: string | number }) =>
        answer(() => readInbox(query(args), extra.signal, extra.requestId)),
    );
  inboxTool(
    "read",
    "Read your new messages (oldest first) and mark them read.",
    READ,
    (args) => `limit=${args.limit ?? 20}`,
  );
  inboxTool(
    "wait",
    "Wait up to `seconds` (default 60, at most 300) for new messages; returns them read, or " +
      "says none came.",
    WAIT,
    (args) => `wait=${args.seconds ?? 60}`,
  );

  server.registerTool("history", {
    description: "Read a channel's last messages, or one message and its replies (thread), " +
      "oldest first. Browsing: it marks nothing read.",
    inputSchema: HISTORY.shape,
  }, (args: z.infer<typeof HISTORY>) =>
    answer(async () => {
      if (args.thread) {
        const root = await api.call<Message>("GET", `/api/messages/${args.thread}`);
        const { replies } = await api.call<{ replies: Message[] }>(
          "GET",
          `/api/messages/${args.thread}/replies`,
        );
        const thread = [root, ...replies];
        return formatHistory(thread, me, await notes(thread));
      }
      const query = new URLSearchParams({
        before: AFTER_EVERY_ID,
        limit: String(args.last ?? 20),
      });
      if (args.channel) query.set("channel", args.channel);
      const page = await api.call<{ messages: Message[] }>("GET", `/api/messages?${query}`);
      return formatHistory(page.messages, me, await notes(page.messages));
    }));

  server.registerTool("peers", {
    description: "Who is on the bus: live agents (status, machine), models and humans.",
    inputSchema: {},
  }, () => answer(async () => formatPeers(await api.call<Peers>("GET", "/api/peers"), me)));

  server.registerTool("status", {
    description: 'Set your status for peers ("available", "busy" or a short text), and your ' +
      "role or model: a role decides which role-scoped tasks you may claim. Give at least one.",
    inputSchema: STATUS.shape,
  }, (args: z.infer<typeof STATUS>) =>
    answer(async () => {
      // An empty role or model takes it away (the API's null).
      const orNull = (value: string | undefined) => value === "" ? null : value;
      const change = {
        ...(args.status === undefined ? {} : { status: args.status }),
        ...(args.role === undefined ? {} : { role: orNull(args.role) }),
        ...(args.model === undefined ? {} : { model: orNull(args.model) }),
      };
      const agent = await api.call<LiveAgentInfo>("PATCH", "/api/live/me", change);
      const parts = [`status: ${agent.status}`];
      if (agent.role !== undefined || "role" in change) parts.push(`role: ${agent.role ?? "none"}`);
      if (agent.model !== undefined || "model" in change) {
        parts.push(`model: ${agent.model ?? "none"}`);
      }
      return parts.join(", ");
    }));

  server.registerTool("task", {
    description: "Task flow on a message: flag it as a task (optionally for a role or folder), " +
      "claim it (one claimant wins), or resolve it with a result (failed=true if it failed); " +
      "list: the open tasks you may claim and those you hold.",
    inputSchema: TASK.shape,
  }, (args: z.infer<typeof TASK>) =>
    answer(async () => {
      if (args.action === "list") return await listForMe(api);
      if (!args.message) {
        throw new CrosstalkError("ERR_BODY_INVALID", `${args.action} needs the message`);
      }
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

  return {
    cancelled: (requestId) => {
      const refs = handedOut.get(requestId);
      if (!refs) return;
      handedOut.delete(requestId);
      void giveBack(refs).catch(() => {});
    },
  };
}

/**
 * Prompts, which agent CLIs offer as slash commands (Claude Code: `/mcp__crosstalk__join`): a
 * person starts the session's part on the bus with one of them instead of explaining it. `webUi`
 * is the engine's web UI at the address the session reached it by, which `join` has the agent
 * tell the person, so they can watch the bus.
 */
export function registerPrompts(server: McpServer, me: string, webUi: string): void {
  const text = (value: string) => ({
    messages: [{ role: "user" as const, content: { type: "text" as const, text: value } }],
  });
  server.registerPrompt("join", {
    description: "Join the crosstalk bus: see who is here, read what waits, say hello",
    argsSchema: { about: z.string().optional().describe("what you work on, for the hello") },
  }, (args: { about?: string | undefined }) =>
    text(
      `You are "${me}" on the crosstalk bus. Call peers to see who is around, then read for ` +
        `messages waiting for you and answer the ones that need it (send with re=<their id>). ` +
        `Then send one short hello to "here" (every live agent) saying what you work on` +
        `${args.about ? `: ${args.about}` : " (your folder and task, in one line)"}. ` +
        `From then on, new messages reach you as channel events or "[crosstalk]" lines. ` +
        `Last, tell the person you work with that they can watch the bus and take part in the ` +
        `web UI at ${webUi} (they sign in with their crosstalk user).`,
    ));
  server.registerPrompt("inbox", {
    description: "Read your new crosstalk messages and answer those that need it",
  }, () =>
    text(
      "Call read for your new crosstalk messages. Answer each one that asks something of you " +
        "(send with to=<its sender> and re=<its id>); leave the rest, and never reply only to " +
        "acknowledge.",
    ));
}

/**
 * Messages as compact text: a header line per message (with its task and badges from `notes`,
 * when it has any), then its body.
 */
export function formatInbox(
  inbox: { messages: Message[]; more: number },
  me: string,
  notes: ReadonlyMap<string, MessageAnnotations> = new Map(),
): string {
  if (inbox.messages.length === 0) return "no new messages";
  const parts = inbox.messages.map((m) => {
    const to = m.to.filter((t) => t !== me);
    const head = `[${m.channel}/${m.id}] from ${m.from}${modelOf(m)}${
      to.length > 0 ? ` to ${m.to.join(",")}` : ""
    }${m.re?.length ? ` re ${m.re.join(",")}` : ""}${
      labels(notes.get(`${m.channel}/${m.id}`), me)
    }`;
    return `${head}\n${m.body.trimEnd()}`;
  });
  if (inbox.more > 0) parts.push(`(${inbox.more} more unread: call read again)`);
  return parts.join("\n\n");
}

/** Messages read back, each with its id and time, as compact as the inbox. */
export function formatHistory(
  messages: Message[],
  me: string,
  notes: ReadonlyMap<string, MessageAnnotations> = new Map(),
): string {
  if (messages.length === 0) return "no messages";
  return messages.map((m) => {
    const re = m.re?.length ? ` re ${m.re.join(",")}` : "";
    const from = m.from === me ? `${m.from} (you)` : `${m.from}${modelOf(m)}`;
    return `[${m.channel}/${m.id}] ${m.timestamp} from ${from} to ${m.to.join(",")}${re}${
      labels(notes.get(`${m.channel}/${m.id}`), me)
    }\n${m.body.trimEnd()}`;
  }).join("\n\n");
}

/**
 * A message's task and badges for its header, in the API's words (the task's `state`, a badge's
 * `type=value`): ` [task: open for role reviewer in /srv]`, ` [task: claimed by bob]`,
 * ` [task: failed by bob]`, ` [badges: importance=high, seen]`; nothing when it has neither. A
 * badge several people added shows once; a value's line breaks become spaces (one header line).
 */
function labels(note: MessageAnnotations | undefined, me: string): string {
  if (!note) return "";
  let text = "";
  const { task, badges } = note;
  if (task) {
    const parts: string[] = [task.state];
    if (task.state === "open") {
      if (task.role) parts.push(`for role ${task.role}`);
      if (task.cwd) parts.push(`in ${task.cwd}`);
    } else if (task.claimedBy) {
      // Only the claimant resolves a task: a resolved task's claimant is who resolved it.
      parts.push(`by ${task.claimedBy}${task.claimedBy === me ? " (you)" : ""}`);
    }
    text += ` [task: ${parts.join(" ")}]`;
  }
  const shown = new Set(badges.map((b) => {
    const value = b.value.replace(/\s+/g, " ").trim();
    return value ? `${b.type}=${value}` : b.type;
  }));
  if (shown.size > 0) text += ` [badges: ${[...shown].join(", ")}]`;
  return text;
}

/** ` (model)` when the message says which model wrote it, else nothing. */
function modelOf(m: Message): string {
  return typeof m.extra?.model === "string" ? ` (${m.extra.model})` : "";
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

/** The open tasks this session's agent may claim, and those it holds, one line each. */
async function listForMe(api: ApiCaller): Promise<string> {
  const me = await api.call<LiveAgentInfo>("GET", "/api/live/me");
  const { tasks } = await api.call<{ tasks: TaskEntry[] }>("GET", "/api/tasks");
  const actor = { name: me.name, role: me.role, cwd: me.cwd };
  const lines: string[] = [];
  for (const task of tasks) {
    const ref = `[${task.channel}/${task.id}]`;
    if (task.state === "claimed" && task.claimedBy === me.name) {
      lines.push(`${ref} claimed by you: ${task.title}`);
    } else if (task.state === "open" && whyNotFor(task, actor) === undefined) {
      const scope = [task.role && `role ${task.role}`, task.cwd && `in ${task.cwd}`]
        .filter(Boolean).join(", ");
      lines.push(`${ref} open, from ${task.flaggedBy}${scope ? `, ${scope}` : ""}: ${task.title}`);
    }
  }
  return lines.length > 0 ? lines.join("\n") : "no open tasks for you";
}

function formatTask(task: TaskState): string {
  const parts = [`task ${task.state}`, `flagged by ${task.flaggedBy}`];
  if (task.role) parts.push(`role ${task.role}`);
  if (task.cwd) parts.push(`in ${task.cwd}`);
  if (task.claimedBy) parts.push(`claimed by ${task.claimedBy}`);
  if (task.result) parts.push(`result: ${task.result}`);
  return parts.join(", ");
}

/** What {@linkcode serveSession} needs to know of the session and the engine. */
export interface SessionOptions {
  name: string;
  reportDelayMs: number;
  live: NonNullable<AppDeps["live"]>;
  log?: Logger;
  shutdown?: AbortSignal;
  api: (signal: AbortSignal) => ApiCaller;
  /** The id of the session's token (see {@linkcode ToolContext}). */
  tokenId: string;
  /** The bus, whose task and badge records the tools read directly. */
  bus: Bus;
  /** The engine's web UI (`<base URL>/ui/`), at the address the session reached the engine by. */
  webUi: string;
}

/**
 * Runs one session's MCP server on `socket` (the session's WebSocket, or its pumps: see
 * routes/mcp_pump.ts) until the socket closes.
 */
export function serveSession(socket: SessionSocket, options: SessionOptions): void {
  const { name, live } = options;
  const closed = new AbortController();
  const signal = options.shutdown
    ? AbortSignal.any([closed.signal, options.shutdown])
    : closed.signal;
  // The tools' calls end with the socket; what the session leaves behind (the wake reports still
  // due, its leaving) outlives it.
  const api = options.api(signal);
  const after = options.api(options.shutdown ?? new AbortController().signal);
  const log = (event: string, fields: Record<string, unknown>) =>
    options.log?.warn(event, { agent: name, ...fields });
  const reports = new WakeReports(
    after,
    (text) => log("live.wake_report_failed", { detail: text }),
    options.reportDelayMs,
  );
  const server = new McpServer(
    { name: "crosstalk", version: VERSION },
    { capabilities: { experimental: { "claude/channel": {} } }, instructions: INSTRUCTIONS },
  );
  const tools = registerTools(server, {
    api,
    lasting: after,
    me: name,
    tokenId: options.tokenId,
    reports,
    closed: signal,
    notes: notesFrom(options.bus, (error) => log("live.annotations_failed", { error })),
  });
  registerPrompts(server, name, options.webUi);
  const wake = live.live.get(name).wake;
  const target: WakeTarget = {
    // Channel or pull: a pull agent is followed for its presence only, and pushed nothing.
    kind: wake,
    notify: (content, meta) =>
      server.server.notification({
        method: "notifications/claude/channel",
        params: { content, meta },
      }),
  };
  let wakes: Promise<void> = Promise.resolve();
  const followWakes = () => {
    wakes = (async () => {
      for await (const event of live.live.connect(name, signal)) {
        const report = await deliverWake(event, target);
        // A push that found the socket closed was not delivered, and not refused either: left
        // unreported, it goes out again when the session reconnects.
        if (socket.readyState !== WebSocket.OPEN) break;
        reports.add(event.ref, report);
      }
    })().catch((error) => log("live.wake_failed", { error }));
  };
  // Wakes start once the client has initialized: a notification before its answer to
  // initialize would break the protocol. tmux and webhook wakes need the session's machine: its
  // relay follows those itself (GET /api/live/me/wake).
  if (wake === "channel" || wake === "pull") server.server.oninitialized = followWakes;
  socket.addEventListener("close", (event) => {
    closed.abort();
    void (async () => {
      await wakes;
      await reports.flush();
      await server.close().catch(() => {});
      if ((event as CloseEvent).code === CLOSE_LEAVING) {
        // Through the API with this session's token: if the agent has registered again under
        // the same name meanwhile, the old token is refused and the new session stays.
        await after.call("DELETE", "/api/live/me").catch((error) =>
          log("live.leave_failed", { error })
        );
      }
    })();
  }, { once: true });
  const transport = new SocketTransport(socket);
  transport.oncancelled = tools.cancelled;
  void server.connect(transport);
}

/** The SDK's transport over the engine's end of a session's socket. */
class SocketTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** Told of every cancellation the client sends, also of requests already answered. */
  oncancelled?: (requestId: string | number) => void;
  #socket: SessionSocket;

  constructor(socket: SessionSocket) {
    this.#socket = socket;
  }

  start(): Promise<void> {
    this.#socket.addEventListener("message", (event) => {
      const { data } = event as MessageEvent;
      let message: JSONRPCMessage;
      try {
        if (typeof data !== "string") throw new Error("a binary frame");
        message = JSONRPCMessageSchema.parse(JSON.parse(data));
      } catch (error) {
        this.onerror?.(new Error(`Not a JSON-RPC message: ${errorText(error)}`));
        return;
      }
      if ("method" in message && message.method === "notifications/cancelled") {
        const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
        if (typeof requestId === "string" || typeof requestId === "number") {
          this.oncancelled?.(requestId);
        }
      }
      this.onmessage?.(message);
    });
    this.#socket.addEventListener("close", () => this.onclose?.(), { once: true });
    return Promise.resolve();
  }

  send(message: JSONRPCMessage): Promise<void> {
    // Said, not swallowed: a wake pushed into a closed socket must not count as delivered.
    if (this.#socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("the session's socket is closed"));
    }
    const answers = "method" in message ? undefined : (message as { id?: string | number }).id;
    this.#socket.send(JSON.stringify(message), answers ?? undefined);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#socket.readyState <= WebSocket.OPEN) this.#socket.close();
    return Promise.resolve();
  }
}

/** The API called in the engine's own process, as the session's token. */
export class InProcessApi implements ApiCaller {
  #self: (request: Request) => Response | Promise<Response>;
  #token: string;
  #signal: AbortSignal;

  constructor(
    self: (request: Request) => Response | Promise<Response>,
    token: string,
    signal: AbortSignal,
  ) {
    this.#self = self;
    this.#token = token;
    this.#signal = signal;
  }

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<T> {
    // With its length stated, the body-limit middleware checks the header instead of reading the
    // body through a stream into a second Request, as it must for a body of unknown length.
    const bytes = body === undefined ? undefined : encoder.encode(JSON.stringify(body));
    const response = await this.#self(
      new Request(`http://engine${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.#token}`,
          ...(bytes === undefined
            ? {}
            : { "content-type": "application/json", "content-length": String(bytes.length) }),
          ...headers,
        },
        signal: signal ? AbortSignal.any([this.#signal, signal]) : this.#signal,
        ...(bytes === undefined ? {} : { body: bytes }),
      }),
    );
    const json = await response.json();
    if (!response.ok) throw errorFromApi(response.status, json);
    return json as T;
  }
}

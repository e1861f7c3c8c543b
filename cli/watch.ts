// `crosstalk watch [CHANNEL]`: a live feed of the bus in the terminal, from the engine's SSE
// stream: who sent what to whom, what became of it (claimed, running, replied, failed, woken,
// read), live agents coming and going on every machine, tasks and badges.
import { CrosstalkError } from "../schema/errors.ts";
import type { Peers } from "../engine/engine.ts";
import type { LiveAgentInfo } from "../engine/live.ts";
import type { Channel, Message } from "../transports/mod.ts";
import { type HttpClient, openApi } from "./_client.ts";
import {
  type CliContext,
  Command,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";
import { readSse } from "./_sse.ts";

/** How often the other machines' live agents are looked up (they come with presence). */
const PEERS_EVERY_MS = 5_000;
const PREVIEW_CHARS = 80;

/** The `watch` command. */
export function watchCommand(ctx: CliContext): Command {
  return withJson(withTransportOptions(new Command("watch")))
    .description("a live feed of the bus: messages, deliveries, live agents (Ctrl-C to stop)")
    .argument("[channel]", "only this channel (name or id)")
    .option("--room", "full screen: who is talking, listening, working; the chat below")
    .action(async (channel: string | undefined, flags: TransportFlags & { room?: boolean }) => {
      if (flags.room && flags.json) {
        throw new CrosstalkError("ERR_USAGE", "--room draws a screen: leave out --json");
      }
      if (flags.room && !Deno.stdout.isTerminal()) {
        throw new CrosstalkError(
          "ERR_USAGE",
          "--room needs a terminal (without --room, watch prints a feed that pipes)",
        );
      }
      const api = await openApi(flags, ctx);
      const only = channel === undefined
        ? undefined
        : (await api.call<Channel>("GET", `/api/channels/${encodeURIComponent(channel)}`)).id;
      if (flags.room) await watchRoom(api, ctx, only);
      else await watch(api, ctx, { only, json: flags.json ?? false });
    });
}

/** One event of the engine's stream, as `watch` shows it. */
export interface WatchEvent {
  type: string;
  data: Record<string, unknown>;
}

async function watch(
  api: HttpClient,
  ctx: CliContext,
  options: { only: string | undefined; json: boolean },
): Promise<void> {
  const print = (line: string) => ctx.out(`${line}\n`);
  const agents = new Map<string, LiveAgentInfo>();
  const showAgents = async () => {
    const peers = await api.call<Peers>("GET", "/api/peers");
    for (const line of agentChanges(agents, peers.agents)) print(line);
  };
  await follow(api, options.only, {
    start: async () => {
      await showAgents();
      if (agents.size === 0) print("(no live agents yet)");
    },
    peers: showAgents,
    event: async (event) => {
      if (options.json) return print(JSON.stringify(event));
      const line = formatEvent(event, await bodyOf(api, event));
      if (line) print(line);
    },
    unreachable: (reason) => print(`(engine unreachable: ${reason}; retrying)`),
  });
}

/** `watch --room`: the room on the terminal's alternate screen, drawn again at each change. */
async function watchRoom(api: HttpClient, ctx: CliContext, only: string | undefined) {
  const { Room } = await import("./room.ts");
  const room = new Room();
  let note = "";
  const draw = () => {
    const { columns, rows } = Deno.consoleSize();
    const lines = room.render(Date.now(), { columns, rows }, {
      title: note || api.via,
      color: !ctx.env.NO_COLOR,
    });
    // Home, each line then clear to its end, then clear below: no flicker, no scrolling.
    ctx.out(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join("\r\n")}\x1b[J`);
  };
  const showAgents = async () => {
    room.peers(await api.call<Peers>("GET", "/api/peers"));
    draw();
  };
  const resize = () => draw();
  const tick = setInterval(draw, 1_000);
  ctx.out("\x1b[?1049h\x1b[?25l");
  Deno.addSignalListener("SIGWINCH", resize);
  try {
    await follow(api, only, {
      start: showAgents,
      peers: showAgents,
      event: async (event) => {
        note = "";
        room.event(event, await bodyOf(api, event), Date.now());
        draw();
      },
      unreachable: (reason) => {
        note = `engine unreachable (${reason}); retrying`;
        draw();
      },
    });
  } finally {
    clearInterval(tick);
    Deno.removeSignalListener("SIGWINCH", resize);
    // Back to the terminal as it was, scrollback and cursor included.
    ctx.out("\x1b[?25h\x1b[?1049l");
  }
}

/** What `follow` tells its caller. */
interface Follower {
  start(): Promise<void>;
  /** The live agents may have changed (every few seconds, and at each `live` event). */
  peers(): Promise<void>;
  event(event: WatchEvent): Promise<void>;
  unreachable(reason: string): void;
}

/**
 * Follows the engine's event stream until Ctrl-C, reconnecting with the last id seen so that no
 * event is missed; only `only`'s events when a channel is chosen.
 */
async function follow(api: HttpClient, only: string | undefined, to: Follower): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  let lastId: string | undefined;
  const poll = setInterval(() => to.peers().catch(() => {}), PEERS_EVERY_MS);
  try {
    await to.start();
    while (!stop.signal.aborted) {
      try {
        const response = await api.stream("/api/events", stop.signal, lastId);
        for await (const sse of readSse(response.body!)) {
          if (sse.id) lastId = sse.id;
          if (sse.event === "hello") continue;
          const event: WatchEvent = { type: sse.event, data: JSON.parse(sse.data) };
          if (!inChannel(event, only)) continue;
          await to.event(event);
          if (event.type === "live") await to.peers().catch(() => {});
        }
      } catch (error) {
        if (stop.signal.aborted) break;
        if (error instanceof CrosstalkError && error.code !== "ERR_TIMEOUT") throw error;
        to.unreachable(error instanceof Error ? error.message : String(error));
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  } finally {
    clearInterval(poll);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

/** A message event's text (read from the engine), or undefined for other events. */
function bodyOf(api: HttpClient, event: WatchEvent): Promise<string | undefined> {
  if (event.type !== "message" || typeof event.data.ref !== "string") {
    return Promise.resolve(undefined);
  }
  return api.call<Message>("GET", `/api/messages/${event.data.ref}`).then(
    (m) => m.body,
    () => undefined,
  );
}

/** True when the event belongs to `channel` (every event when no channel is chosen). */
function inChannel(event: WatchEvent, channel: string | undefined): boolean {
  if (channel === undefined) return true;
  const ref = String(event.data.ref ?? event.data.message ?? event.data.trace ?? "");
  if (ref === "") return event.type === "live" || event.type === "engine";
  return ref.startsWith(channel) || ref.startsWith(`${channel.slice(0, 8)}/`);
}

/** Lines for agents that came, went or changed status, role or model since `known`; updates `known`. */
export function agentChanges(
  known: Map<string, LiveAgentInfo>,
  now: LiveAgentInfo[],
): string[] {
  const lines: string[] = [];
  for (const agent of now) {
    const before = known.get(agent.name);
    known.set(agent.name, agent);
    const where = `${agent.agent}${agent.model ? `/${agent.model}` : ""} on ${agent.machine}`;
    if (!before || before.online !== agent.online) {
      lines.push(
        `${clock(agent.seen)}  ● ${agent.name} ${
          agent.online ? `online (${where}, ${agent.status})` : "offline"
        }`,
      );
    } else {
      if (before.status !== agent.status) {
        lines.push(`${clock(agent.seen)}  ● ${agent.name} is ${agent.status}`);
      }
      // A role decides which tasks an agent may claim: a change is worth a line.
      if (before.role !== agent.role || before.model !== agent.model) {
        lines.push(
          `${clock(agent.seen)}  ● ${agent.name}: role ${agent.role ?? "none"}, model ${
            agent.model ?? "none"
          }`,
        );
      }
    }
  }
  return lines;
}

/** One line for an event of the stream, or undefined for events not worth a line. */
export function formatEvent(event: WatchEvent, body?: string): string | undefined {
  const d = event.data;
  const at = clock(String(d.at ?? new Date().toISOString()));
  const id = shortRef(String(d.ref ?? d.message ?? d.trace ?? ""));
  switch (event.type) {
    case "message": {
      const list = (v: unknown) => Array.isArray(v) ? v.join(", ") : String(v);
      const to = `${list(d.to)}${d.exclude === undefined ? "" : ` (not ${list(d.exclude)})`}`;
      const text = body === undefined ? "" : `  ${JSON.stringify(preview(body))}`;
      return `${at}  ${d.from} -> ${to}${d.re ? " (reply)" : ""}  [${id}]${text}`;
    }
    case "claimed":
      return `${at}    ${d.model} claimed [${id}]`;
    case "running":
      return `${at}    ${d.model} running [${id}]`;
    case "replied":
      return `${at}    ${d.model} replied [${id}]`;
    case "failed":
      return `${at}    ${d.model} failed [${id}]${d.error ? `: ${preview(String(d.error))}` : ""}`;
    case "empty":
    case "skipped":
      return `${at}    ${d.model} ${event.type} [${id}]`;
    case "woken":
      return `${at}    ${d.name} woken (${d.via}) [${id}]`;
    case "unwoken":
      return `${at}    ${d.name} not woken [${id}]: ${d.reason}`;
    case "read":
      return `${at}    ${d.name} read [${id}]`;
    case "task":
      return `${at}    task [${id}] ${d.state}${d.claimedBy ? ` by ${d.claimedBy}` : ""}`;
    case "badge":
      return `${at}    badge ${d.type}${d.value ? `=${d.value}` : ""} on [${id}] by ${d.by}`;
    case "engine":
      return `${at}  engine ${d.event ?? ""}`.trimEnd();
    case "workflow":
      return `${at}    workflow [${id}] ${workflowStep(d)}`;
    case "approval": {
      const who = d.name ?? d.agent;
      const what = `${d.tool} ${preview(JSON.stringify(d.input ?? null))}`;
      return d.state === "pending"
        ? `${at}  ${who} asks to use ${what} (crosstalk approval allow ${String(d.id).slice(0, 8)})`
        : `${at}    ${who}'s ${d.tool}: ${d.state}${d.decidedBy ? ` by ${d.decidedBy}` : ""}`;
    }
    default:
      return undefined;
  }
}

/** What a workflow event says happened (docs/WORKFLOWS.md). */
function workflowStep(d: Record<string, unknown>): string {
  switch (d.event) {
    case "workflow.started":
      return `started in channel ${String(d.child).slice(0, 8)}`;
    case "workflow.planned":
      return `planned: ${d.runs} runs${d.synthesize ? `, synthesis by ${d.synthesize}` : ""}`;
    case "workflow.phase":
      return `phase ${d.phase}`;
    case "workflow.complete":
      return "complete";
    default:
      return `failed${d.error ? `: ${preview(String(d.error))}` : ""}`;
  }
}

function preview(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > PREVIEW_CHARS ? `${line.slice(0, PREVIEW_CHARS)}…` : line;
}

/** `<channel 8>/<HHMMSS…>` of a message reference or trace. */
function shortRef(ref: string): string {
  const parts = ref.split("/");
  if (parts.length < 5) return ref;
  return `${parts[0]!.slice(0, 8)}/${parts.at(-1)!.replace(/\.md$/, "")}`;
}

function clock(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "--:--:--" : date.toISOString().slice(11, 19);
}

/**
 * What `crosstalk status`, `agent list` and `message status` show: the engine's own status
 * file, the dispatcher registry, the agent CLIs installed here, and a message's delivery state.
 */
import { join } from "../transports/path.ts";
import { DEFAULT_GIT } from "../schema/config.ts";
import {
  AnnotationStore,
  ClaimStore,
  exists,
  formatMessageId,
  type Message,
  readPresenceRefs,
  redactUrl,
  remoteUrl,
} from "../transports/mod.ts";
import type { Bus } from "./bus.ts";
import { type Badge, badgesOf, taskOf, type TaskState } from "./tasks.ts";
import type { EngineStatus } from "./engine.ts";
import { isExcluded, resolveAddress } from "./models.ts";

/** An alias no engine has: an exclude entry that pins a machine then never matches. */
const NO_MACHINE = "";
import type { Env, TransportLocation } from "./paths.ts";
import {
  type DispatcherStatus,
  HEARTBEAT_SECONDS,
  listRegistry,
  type PresenceAges,
} from "./registry.ts";
import { isProcessAlive } from "./_process.ts";
import { resolveCommand, which } from "./which.ts";

/** Agent CLIs crosstalk knows by name. */
export const KNOWN_AGENT_CLIS = [
  "claude",
  "codex",
  "gemini",
  "qwen",
  "opencode",
  "aider",
  "agy",
  "cursor-agent",
];

/** The engine as its state dir tells it. */
export interface EngineReport {
  /** `running` (pid alive, heartbeat fresh), `stopped` (clean stop), `dead` (crashed), `never`. */
  state: "running" | "stopped" | "dead" | "never";
  status?: EngineStatus;
  /** Seconds since the last heartbeat. */
  heartbeatAge?: number;
  dispatchers: DispatcherStatus[];
  /** Claims not yet finished on the transport (all engines). */
  openClaims: number;
  /**
   * Recent messages addressed to a model that no running engine can take (pinned to an alias
   * with no engine, or a model no engine claims): pending, never silently dropped.
   */
  unrouted?: UnroutedMessage[];
  /**
   * A running engine whose git sync does not match the clone's `origin` (a remote added, changed
   * or removed after it started; it follows at its next heartbeat, or at once on SIGHUP, which
   * `transport remote` sends): the origin now and the remote it syncs with, each absent when
   * there is none. Until it follows, its own entry is judged by its heartbeat: it publishes no
   * presence to that origin yet.
   */
  syncPending?: { origin?: string; syncing?: string };
}

/** A message waiting for an engine that is not running. */
export interface UnroutedMessage {
  channel: string;
  id: string;
  /** The address as written. */
  to: string;
  reason: string;
}

/** How far back `crosstalk status` looks for messages no engine can take. */
export const UNROUTED_WINDOW_MS = 24 * 3600_000;

/** Reads the engine's status file and the registry. */
export async function engineReport(
  location: TransportLocation,
  bus?: Bus,
): Promise<EngineReport> {
  let status: EngineStatus | undefined;
  try {
    status = JSON.parse(
      await Deno.readTextFile(join(location.stateDir, "status.json")),
    ) as EngineStatus;
  } catch {
    status = undefined;
  }
  // A local transport kept in a git repository of the user's own has no sync of ours.
  const git = (bus?.config.transport ?? "git") === "git" &&
    await exists(join(location.root, ".git"));
  const origin = git ? await remoteUrl(location.root) : undefined;
  let dispatchers = await listRegistry(
    location.root,
    Date.now(),
    origin === undefined
      ? undefined
      : await presenceOf(location.root, status?.sync?.presenceTimeoutMs),
  );
  const openClaims = (await new ClaimStore(location.root).listOpen()).length;
  const routes = async () => bus ? { unrouted: await unroutedMessages(bus, dispatchers) } : {};
  if (!status) return { state: "never", dispatchers, openClaims, ...await routes() };
  const heartbeatAge = (Date.now() - Date.parse(status.heartbeat)) / 1000;
  const state = status.stopped ? "stopped" : isProcessAlive(status.pid) ? "running" : "dead";
  let pending: EngineReport["syncPending"];
  const shown = origin === undefined ? undefined : redactUrl(origin);
  if (git && state === "running" && shown !== status.sync?.url) {
    pending = {
      ...(shown === undefined ? {} : { origin: shown }),
      ...(status.sync ? { syncing: status.sync.url } : {}),
    };
    const stale = heartbeatAge > 3 * HEARTBEAT_SECONDS;
    dispatchers = dispatchers.map((d) =>
      d.alias === status.alias && d.host === status.host && d.pid === status.pid
        ? { ...d, stale, seenAt: Date.parse(status.heartbeat) }
        : d
    );
  }
  return {
    state,
    status,
    heartbeatAge,
    dispatchers,
    openClaims,
    ...await routes(),
    ...(pending ? { syncPending: pending } : {}),
  };
}

/**
 * The messages of the last {@linkcode UNROUTED_WINDOW_MS} that address a model no live engine
 * can run and that nobody claimed. Replies (`re`) are left out: whether they wake a model
 * depends on whom they answer.
 */
export async function unroutedMessages(
  bus: Bus,
  dispatchers: DispatcherStatus[],
  now = Date.now(),
): Promise<UnroutedMessage[]> {
  const live = dispatchers.filter((d) => !d.stale);
  const claims = new ClaimStore(bus.location.root);
  const since = formatMessageId({ time: new Date(now - UNROUTED_WINDOW_MS), random: "00000000" });
  const out: UnroutedMessage[] = [];
  for (const channel of await bus.transport.listChannels()) {
    for (const id of await bus.transport.listMessageIds(channel.id, { since })) {
      let message: Message;
      try {
        message = await bus.transport.readMessage(channel.id, id);
      } catch {
        continue;
      }
      if (message.re?.length) continue;
      for (const to of message.to) {
        let target;
        try {
          target = resolveAddress(to, bus.config);
        } catch {
          continue;
        }
        if (target.kind !== "model") continue;
        // Left out everywhere: no engine is meant to run it.
        if (isExcluded(message.exclude, target.model, target.alias ?? NO_MACHINE)) continue;
        const model = `${target.model.provider}/${target.model.name}`;
        const able = live.filter((d) =>
          d.models.includes(model) && (target.alias === undefined || d.alias === target.alias)
        );
        if (able.length > 0) continue;
        const states = await claims.states({ channel: channel.id, id });
        if (states.some((s) => s.key.model === model)) continue;
        out.push({
          channel: channel.id,
          id,
          to,
          reason: target.alias === undefined
            ? `no running engine claims ${model}`
            : `no running engine with alias ${target.alias} claims ${model}`,
        });
      }
    }
  }
  return out;
}

/**
 * On a git transport with a remote, the engines' liveness as their presence refs tell it (as
 * last fetched into this clone); undefined when they cannot be read, and the registry files'
 * mtimes tell it.
 */
async function presenceOf(
  root: string,
  timeoutMs = DEFAULT_GIT.presence_timeout_seconds * 1000,
): Promise<{ ages: PresenceAges; timeoutMs: number } | undefined> {
  let records;
  try {
    records = await readPresenceRefs(root);
  } catch {
    return undefined;
  }
  const ages = new Map<string, { seenAt: number; instance: string }>();
  for (const r of records) {
    ages.set(r.alias, { seenAt: Date.parse(r.at) || 0, instance: r.instance });
  }
  return { ages, timeoutMs };
}

/** One model in the yaml, seen from this machine. */
export interface AgentRow {
  model: string;
  command: string;
  /** The executable found, when found. */
  path?: string;
  /** Why it cannot run here. */
  reason?: string;
  /** Claimed by this machine's running engine. */
  claimed: boolean;
}

/** Installed agent CLIs and the yaml's models, with what the running engine claims. */
export async function agentReport(
  bus: Bus,
  env: Env,
): Promise<{ installed: { name: string; path: string }[]; models: AgentRow[] }> {
  const installed: { name: string; path: string }[] = [];
  for (const name of KNOWN_AGENT_CLIS) {
    const path = await which(name, env);
    if (path) installed.push({ name, path });
  }
  const report = await engineReport(bus.location);
  const claimed = new Set(report.state === "running" ? report.status?.claimed ?? [] : []);
  const models: AgentRow[] = [];
  for (const provider of bus.config.providers.values()) {
    for (const spec of provider.models.values()) {
      const name = `${spec.provider}/${spec.name}`;
      const resolved = await resolveCommand(spec.argv, bus.location.root, env);
      models.push({
        model: name,
        command: spec.command,
        ...(resolved.found ? { path: resolved.argv[0]! } : { reason: resolved.reason }),
        claimed: claimed.has(name),
      });
    }
  }
  return { installed, models };
}

/** The delivery state of one message for one addressee. */
export interface DeliveryRow {
  /** The addressee: a model (`provider/model`) or a person or live agent. */
  to: string;
  state:
    | "written"
    | "claimed"
    | "running"
    | "stalled"
    | "replied"
    | "failed"
    | "empty"
    | "skipped"
    | "woken"
    | "unwoken"
    | "read";
  by?: string;
  attempt?: number;
  reply?: string;
  detail?: string;
}

/** Where a message is on its way: written, claimed by whom, running, replied or failed. */
export async function deliveryStatus(
  bus: Bus,
  message: Message,
): Promise<{
  message: Message;
  deliveries: DeliveryRow[];
  replies: Message[];
  task?: TaskState;
  badges: Badge[];
}> {
  const claims = new ClaimStore(bus.location.root);
  const states = await claims.states(message);
  const leaseMs = bus.config.engine.lease_seconds * 1000;
  const rows: DeliveryRow[] = [];
  const seen = new Set<string>();
  for (const s of states) {
    seen.add(s.key.model);
    const by = s.outcome?.holder ?? s.lease?.holder;
    const row: DeliveryRow = {
      to: s.key.model,
      state: "claimed",
      ...(by ? { by: `${by.alias}@${by.host}` } : {}),
      ...(s.lease ? { attempt: s.lease.generation } : {}),
    };
    if (s.outcome) {
      row.state = s.outcome.status;
      if (s.outcome.reply) row.reply = s.outcome.reply;
      if (s.outcome.detail) row.detail = s.outcome.detail;
    } else if (s.lease) {
      row.state = Date.now() - s.lease.renewedAt > leaseMs ? "stalled" : "running";
    }
    rows.push(row);
  }
  for (const address of message.to) {
    let label = address;
    try {
      const target = resolveAddress(address, bus.config);
      if (target.kind === "model") label = `${target.model.provider}/${target.model.name}`;
      if (target.kind === "all" && states.length > 0) continue;
      // Left out where it would run (an exclude entry that pins no machine, or the machine the
      // address pins): nothing is on its way.
      const party = target.kind === "model"
        ? target.model
        : target.kind === "participant"
        ? { name: target.name }
        : undefined;
      // (An address pinned to a machine is left out by an entry pinned to that machine too.)
      if (party && isExcluded(message.exclude, party, target.alias ?? NO_MACHINE)) continue;
    } catch {
      // An address that no longer resolves is shown as written.
    }
    if (!seen.has(label)) rows.push({ to: label, state: "written" });
  }
  const replies = await bus.replies(message);
  // Live agents: their receipts, the furthest step wins (read after woken after not woken).
  const annotations = new AnnotationStore(bus.location.root);
  const receipts = new Map<string, DeliveryRow>();
  const rank = { unwoken: 0, woken: 1, read: 2 } as const;
  for (const a of await annotations.list(message)) {
    if (!a.agent || !(a.kind === "woken" || a.kind === "read" || a.kind === "unwoken")) continue;
    const known = receipts.get(a.agent);
    if (known && rank[known.state as keyof typeof rank] >= rank[a.kind]) continue;
    receipts.set(a.agent, {
      to: a.agent,
      state: a.kind,
      ...(typeof a.data.detail === "string" ? { detail: a.data.detail } : {}),
    });
  }
  for (const [agent, row] of receipts) {
    const reply = replies.find((r) => r.from === agent);
    if (reply) Object.assign(row, { state: "replied", reply: reply.id });
    const index = rows.findIndex((r) => r.to === agent && r.state === "written");
    if (index >= 0) rows.splice(index, 1, row);
    else rows.push(row);
  }
  // `here` stands for the live agents: once theirs are known, its own row says nothing more.
  const here = rows.findIndex((r) => r.to === "here" && r.state === "written");
  if (here >= 0 && receipts.size > 0) rows.splice(here, 1);
  const task = await taskOf(annotations, message);
  return {
    message,
    deliveries: rows,
    replies,
    ...(task ? { task } : {}),
    badges: await badgesOf(annotations, message),
  };
}

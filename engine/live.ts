/**
 * `LiveAgents`: the agent sessions running now on this machine (Claude Code, Codex, Gemini in a
 * terminal, each with a `crosstalk mcp` server), their inboxes and how they are woken.
 *
 * The bus stays the truth: a message for a live agent is a message file like any other. This
 * engine keeps, per agent, the list of messages it has not read yet (in the state dir, so an
 * engine restart loses none), pushes a wake event to the agent's session (which turns it into a
 * Claude Code channel notification, keystrokes in a tmux pane or a webhook), and records on the
 * bus what happened: woken, not woken (and why), read. A wake is only a hint; a message counts as
 * read once the agent reads it through a tool.
 *
 * A pane agent (`kind: "pane"`) has no session of its own: a person registered a tmux pane under
 * a name (engine/tmux_agents.ts), and the engine itself types each message into it, whole. For
 * it, typing is the delivery: a message typed counts as read ({@linkcode LiveAgents.typed}).
 */
import { join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import {
  type AnnotationStore,
  isName,
  type Message,
  type MessageRef,
  writeAll,
  writeFileAtomic,
} from "../transports/mod.ts";
import type { Bus } from "./bus.ts";
import type { Logger } from "./log.ts";
import { isExcluded, resolveAddress } from "./models.ts";

/** How a live agent wants to be woken. */
export type WakeKind = "channel" | "tmux" | "webhook" | "pull";

/** A live agent as everyone may see it (also published to the other machines). */
export type LiveAgentInfo = {
  name: string;
  /** The agent CLI: claude, codex, gemini, aider, … */
  agent: string;
  model?: string;
  role?: string;
  cwd?: string;
  /** The alias of the engine it is attached to. */
  machine: string;
  host: string;
  /** Its tmux pane, when it runs in one. */
  tmux?: string;
  wake: WakeKind;
  /** "available", "busy" or a short free text set by the agent. */
  status: string;
  /** The user who started it. */
  owner: string;
  /**
   * `pane`: a tmux pane registered by a person (`crosstalk agent add --tmux`), typed into by the
   * engine; absent for a session of its own (`crosstalk mcp`).
   */
  kind?: "pane";
  online: boolean;
  since: string;
  seen: string;
};

/** What a session asks for when it registers. */
export interface Registration {
  name?: string | undefined;
  agent: string;
  model?: string | undefined;
  role?: string | undefined;
  cwd?: string | undefined;
  tmux?: string | undefined;
  /** The socket of the tmux server of that pane (from `$TMUX`). */
  tmuxSocket?: string | undefined;
  wake: WakeKind;
  /** Senders whose messages may wake it; default every known participant of the transport. */
  allow?: string[] | undefined;
}

/** One wake, as sent to the agent's session. */
export interface WakeEvent {
  /** `<channel>/<YYYY>/<MM>/<DD>/<file>.md` */
  ref: string;
  channel: string;
  channelName: string;
  from: string;
  to: string[];
  re?: string[];
  preview: string;
  bytes: number;
  /** The sender asked for no reply (`[no-reply]`). */
  noReply: boolean;
  /** Set when this agent and the sender have been going back and forth fast. */
  loopWarning?: string;
}

/** How a wake went, as the session reports it. */
export interface WakeReport {
  ok: boolean;
  /** Why not (missing pane, busy pane, dialog on screen, webhook refused, …). */
  detail?: string;
}

/** Options for {@linkcode LiveAgents.open}. */
export interface LiveAgentsOptions {
  bus: Bus;
  alias: string;
  stateDir: string;
  log: Logger;
  annotations: AnnotationStore;
  /** True for senders of this transport: users, models, live agents, engines. */
  knownSender: (from: string) => boolean | Promise<boolean>;
  /** True for a live agent of another machine (as its presence says): its replies count for the loop guard. */
  isRemoteAgent?: (name: string) => boolean;
  /** Told when the public view of the agents changed (for presence). */
  onChange?: () => void;
  /**
   * True once the engine's feed has recorded the message as handled (its cursor). One read or
   * typed before then is remembered until then: after a crash, the feed hands it over again,
   * and it must not go back into the inbox (and be typed into a pane a second time).
   */
  handled?: (ref: MessageRef) => boolean;
}

interface Unread {
  ref: string;
  woken: boolean;
}

interface Stored extends LiveAgentInfo {
  /** The id of the token its session holds; absent once it left. */
  jti?: string;
  /** The socket of the tmux server of its pane: this machine's, never published. */
  tmux_socket?: string;
  allow?: string[];
  unread: Unread[];
  /** Messages read or typed before the feed recorded them as handled (see `handled`). */
  taken?: string[];
}

interface Session {
  queue: WakeEvent[];
  wake: (() => void) | undefined;
  closed: boolean;
}

/** How many messages taken before the feed recorded them an agent remembers at most. */
const MAX_TAKEN = 100;
/** Live agents forgotten after this long offline. */
const FORGET_MS = 7 * 24 * 3600 * 1000;
const PREVIEW_CHARS = 500;
const MAX_UNREAD = 10_000;
/** Wakes held for a sender not known yet: how many at most, and how often they are asked about. */
const MAX_HELD = 1_000;
const HOLD_RECHECK_MS = 250;
/** How long a change that a crash may undo waits to be saved with the next ones. */
const LAZY_SAVE_MS = 200;
/**
 * Saves are appended to `live.journal` (one write, no new file) until it holds this much; then
 * the whole state goes to `live.json` again and the journal starts over.
 */
const JOURNAL_MAX_BYTES = 1024 * 1024;
/** The address of every live agent of the transport (and of no model). */
export const HERE = "here";
const RESERVED = new Set(["all", "workflow", HERE, "me"]);

/** True for a name a live agent may have: 1 to 56 letters, digits, `. _ -`, not a reserved one. */
export function isLiveName(name: string): boolean {
  return isName(name) && name.length <= 56 && !RESERVED.has(name);
}

/** What a live agent's agent CLI, model, role and pane may hold. */
const LABEL_RE = /^[\w@%:./ +-]{1,100}$/;

/**
 * Refuses a value of a live agent's `field` (agent, model, role, tmux) that is not 1 to 100
 * letters, digits, spaces or `@ % : . / + - _`.
 *
 * @throws {CrosstalkError} `code` (default `ERR_BODY_INVALID`), naming `label` (default `field`)
 */
export function checkLiveLabel(
  field: string,
  value: unknown,
  options: { code?: "ERR_BODY_INVALID" | "ERR_USAGE"; label?: string } = {},
): void {
  if (typeof value !== "string" || !LABEL_RE.test(value)) {
    throw new CrosstalkError(
      options.code ?? "ERR_BODY_INVALID",
      `Invalid ${options.label ?? field} ${
        JSON.stringify(typeof value === "string" ? value.slice(0, 80) : value)
      }: 1 to 100 letters, digits, spaces or @ % : . / + - _`,
    );
  }
}

/**
 * A change a session makes to itself ({@linkcode LiveAgents.update}): each field given replaces
 * the stored one; `null` takes the model or the role away.
 */
export interface LiveAgentChange {
  status?: string | undefined;
  model?: string | null | undefined;
  role?: string | null | undefined;
}

/** What the engine keeps of a pane agent in its live record (see {@linkcode LiveAgents.setPane}). */
export interface PaneAgentInfo {
  name: string;
  agent: string;
  model?: string | undefined;
  role?: string | undefined;
  /** The pane it was last found in, or the target it was registered with. */
  tmux: string;
  owner: string;
}

/** The live agents attached to this engine. */
export class LiveAgents {
  #options: LiveAgentsOptions;
  #path: string;
  #agents = new Map<string, Stored>();
  #sessions = new Map<string, Session>();
  #waiters = new Map<string, Set<() => void>>();
  #exchanges = new Map<string, { at: number; ref: string }[]>();
  #channelWakes = new Map<string, number[]>();
  #saving: Promise<void> = Promise.resolve();
  #dirty = false;
  #journalPath: string;
  #journal: Deno.FsFile | undefined;
  #journalBytes = 0;
  /** Numbers the saves: the newest of live.json and the journal's lines is the state. */
  #seq = 0;
  /**
   * The messages of inbox entries made while the agent's session is connected, so that a read
   * needs no file read.
   */
  #arrived = new WeakMap<Unread, Message>();

  private constructor(options: LiveAgentsOptions) {
    this.#options = options;
    this.#path = join(options.stateDir, "live.json");
    this.#journalPath = join(options.stateDir, "live.journal");
  }

  /** Loads the agents known from before (all offline until their sessions reconnect). */
  static async open(options: LiveAgentsOptions): Promise<LiveAgents> {
    const live = new LiveAgents(options);
    let newest: { seq?: number; agents?: Stored[] } = {};
    for (const file of [live.#path, live.#journalPath]) {
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          options.log.warn("live.state_unreadable", { file, error });
        }
        continue;
      }
      for (const line of text.split("\n")) {
        if (line.trim() === "") continue;
        try {
          const state = JSON.parse(line) as { seq?: number; agents?: Stored[] };
          if (!Array.isArray(state?.agents)) throw new SyntaxError("no agents");
          if ((state.seq ?? 0) >= (newest.seq ?? 0)) newest = state;
        } catch (error) {
          // A line cut short by a crash: the one before it stands.
          if (file === live.#path) options.log.warn("live.state_unreadable", { file, error });
        }
      }
    }
    live.#seq = newest.seq ?? 0;
    const stored = newest.agents ?? [];
    const cutoff = Date.now() - FORGET_MS;
    for (const agent of stored) {
      if (typeof agent?.name !== "string") continue;
      // A pane agent stays as long as its registration: its pane may be down for weeks.
      if (agent.kind !== "pane" && Date.parse(agent.seen) < cutoff) continue;
      live.#agents.set(agent.name, { ...agent, online: false, unread: agent.unread ?? [] });
    }
    return live;
  }

  /** This machine's live agents, online and recently offline. */
  list(): LiveAgentInfo[] {
    return [...this.#agents.values()].map(publicInfo).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** True when `name` is a live agent of this machine. */
  has(name: string): boolean {
    return this.#agents.has(name);
  }

  /** The agent's public record. @throws {CrosstalkError} `ERR_AGENT_NOT_FOUND` */
  get(name: string): LiveAgentInfo {
    return publicInfo(this.#stored(name));
  }

  /**
   * Registers a session. A name held by an online session gets a suffix (`-2`, `-3`, …); an
   * offline agent of the same name is resumed, with its unread messages.
   *
   * @throws {CrosstalkError} `ERR_ADDRESS_INVALID` for a name that is not one, or that names a
   *   model, a user or a reserved address
   */
  async register(
    input: Registration,
    owner: string,
    isTaken: (name: string) => boolean,
  ): Promise<{ agent: LiveAgentInfo; jti: string }> {
    const base = input.name ?? `${input.agent}-${basenameOf(input.cwd) ?? "agent"}`;
    // A name made up from the agent and its folder is tidied; a name asked for is taken as it is
    // or refused (`../x` must not quietly become `x`).
    const wanted = input.name ?? base.replace(/[^A-Za-z0-9._-]/g, "-")
      .replace(/^[^A-Za-z0-9]+/, "").slice(0, 56);
    if (!isLiveName(wanted)) {
      throw new CrosstalkError(
        "ERR_ADDRESS_INVALID",
        `Invalid live agent name ${
          JSON.stringify(base)
        } (1 to 56 letters, digits, . _ -; not all, workflow, here, me)`,
      );
    }
    this.#refuseTaken(wanted, isTaken);
    let name = wanted;
    for (let n = 2; this.#busy(name); n++) {
      name = `${wanted}-${n}`;
      this.#refuseTaken(name, isTaken);
    }
    const now = new Date().toISOString();
    const previous = this.#agents.get(name);
    const jti = crypto.randomUUID();
    const agent: Stored = {
      name,
      agent: input.agent,
      ...(input.model ? { model: input.model } : {}),
      ...(input.role ? { role: input.role } : {}),
      ...(input.cwd ? { cwd: input.cwd } : {}),
      machine: this.#options.alias,
      host: Deno.hostname(),
      ...(input.tmux ? { tmux: input.tmux } : {}),
      ...(input.tmux && input.tmuxSocket ? { tmux_socket: input.tmuxSocket } : {}),
      wake: input.wake,
      status: "available",
      owner,
      // Online once its session connects for wake events.
      online: false,
      since: now,
      seen: now,
      jti,
      ...(input.allow ? { allow: input.allow } : {}),
      unread: previous?.unread ?? [],
    };
    this.#agents.set(name, agent);
    this.#options.log.info("live.online", { ...publicInfo(agent), unread: agent.unread.length });
    await this.#changed();
    return { agent: publicInfo(agent), jti };
  }

  /** A name in use by a session: online, connected, or registered moments ago. */
  #busy(name: string): boolean {
    const agent = this.#agents.get(name);
    if (!agent) return false;
    // A registered pane keeps its name whether or not its pane is up.
    return agent.kind === "pane" || agent.online || this.#sessions.has(name) ||
      (agent.jti !== undefined && Date.now() - Date.parse(agent.since) < 10_000);
  }

  /** True while `name` is held: a pane agent, or a session online, connected or just registered. */
  inUse(name: string): boolean {
    return this.#busy(name);
  }

  /**
   * The socket of the tmux server of the session's pane, as it registered; undefined for an agent
   * not known here, and for a session that did not say (registered by an older `crosstalk mcp`).
   */
  tmuxSocket(name: string): string | undefined {
    return this.#agents.get(name)?.tmux_socket;
  }

  /** True while `jti` is the token of the session that registered `name`. */
  tokenValid(name: string, jti: string): boolean {
    return this.#agents.get(name)?.jti === jti;
  }

  /**
   * The agent's wake events while `signal` is not aborted: first one for each unread message
   * that was never woken, then one per new message. The agent is online while connected.
   */
  async *connect(name: string, signal: AbortSignal): AsyncGenerator<WakeEvent> {
    const agent = this.#stored(name);
    this.#sessions.get(name)?.wake?.();
    const session: Session = { queue: [], wake: undefined, closed: false };
    const previous = this.#sessions.get(name);
    if (previous) previous.closed = true;
    this.#sessions.set(name, session);
    const onAbort = () => session.wake?.();
    signal.addEventListener("abort", onAbort);
    // A pane agent is online while its pane is up (setPane), not while the engine types for it.
    const pane = agent.kind === "pane";
    if (!agent.online && !pane) {
      agent.online = true;
      agent.seen = new Date().toISOString();
      this.#options.log.info("live.online", { ...publicInfo(agent) });
      void this.#changed();
    }
    try {
      for (const unread of agent.unread) {
        // A pane agent's unread message was never typed (typing is its delivery): every one goes.
        if (unread.woken && !pane) continue;
        const { channel, id } = refOf(unread.ref);
        const message = await this.#options.bus.transport.readMessage(channel, id).catch(() =>
          undefined
        );
        if (!message) continue;
        const sender = await this.#senderAllowed(agent, message.from);
        // Not known yet (the engine has just started and learns its users and peers next):
        // asked about again, as a new message's wake is.
        if (sender === "unknown") this.#hold({ name, message, until: Date.now() + this.#holdMs() });
        if (sender !== "yes") continue;
        const event = this.#toEvent(message, await this.#channelName(message));
        // Woken now rather than when it came (no session was connected then): it counts now.
        const warning = this.#loopWarning(name, message.from, unread.ref);
        if (warning) event.loopWarning = warning;
        session.queue.push(event);
      }
      while (!signal.aborted && !session.closed) {
        if (session.queue.length === 0) {
          const { promise, resolve } = Promise.withResolvers<void>();
          session.wake = resolve;
          await promise;
          session.wake = undefined;
          continue;
        }
        yield session.queue.shift()!;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      if (this.#sessions.get(name) === session) {
        this.#sessions.delete(name);
        const still = this.#agents.get(name);
        for (const unread of still?.unread ?? []) this.#arrived.delete(unread);
        if (still?.online && !pane) {
          still.online = false;
          still.seen = new Date().toISOString();
          this.#options.log.info("live.offline", { name, machine: still.machine });
          void this.#changed();
        }
      }
    }
  }

  /** Records how a wake went: the sender sees `woken`, or `unwoken` with the reason. */
  async reportWake(name: string, refs: string[], report: WakeReport): Promise<void> {
    const agent = this.#stored(name);
    const at = new Date().toISOString();
    for (const ref of refs) {
      const unread = agent.unread.find((u) => u.ref === ref);
      // Read already: the receipt of the read says more than a late report of the wake.
      if (!unread && report.ok) continue;
      if (unread) unread.woken = true;
      const message = refOf(ref);
      await this.#options.annotations.receipt(
        message,
        report.ok ? "woken" : "unwoken",
        name,
        { at, via: agent.wake, ...(report.detail ? { detail: report.detail.slice(0, 500) } : {}) },
      );
      this.#options.log.info(report.ok ? "live.woken" : "live.unwoken", {
        name,
        message: ref,
        via: agent.wake,
        ...(report.detail ? { reason: report.detail } : {}),
      });
    }
    this.#saveSoon();
  }

  /**
   * The agent's unread messages, oldest first (at most `limit`), marked read; with `waitMs`,
   * waits that long for one when there are none.
   */
  async read(
    name: string,
    options: { limit?: number; waitMs?: number; signal?: AbortSignal } = {},
  ): Promise<{ messages: Message[]; more: number }> {
    const agent = this.#stored(name);
    agent.seen = new Date().toISOString();
    if (agent.unread.length === 0 && (options.waitMs ?? 0) > 0) {
      this.#options.log.debug("live.waiting", { name, ms: options.waitMs });
      await this.#waitForUnread(name, options.waitMs!, options.signal);
    }
    // Nobody is left to hand messages to (the caller cancelled, or the engine stops): marking
    // them read would lose them.
    if (options.signal?.aborted) return { messages: [], more: agent.unread.length };
    const taken = agent.unread.splice(0, Math.max(1, options.limit ?? 20));
    const messages: Message[] = [];
    const handed: Unread[] = [];
    const transport = this.#options.bus.transport;
    for (const unread of taken) {
      const { channel, id } = refOf(unread.ref);
      try {
        // The copy the feed handed over while this engine runs (a message is never changed,
        // and one whose channel was deleted since was still delivered); else the file.
        messages.push(this.#arrived.get(unread) ?? await transport.readMessage(channel, id));
        handed.push(unread);
      } catch (error) {
        // Deleted with its channel, or damaged: nothing to read any more.
        this.#options.log.warn("live.unreadable", { name, message: unread.ref, error });
      }
    }
    // Cancelled while the files were read: the answer will never reach the agent, so nothing
    // is taken (the messages go back, first in line).
    if (options.signal?.aborted) {
      agent.unread.unshift(...handed);
      return { messages: [], more: agent.unread.length };
    }
    const at = new Date().toISOString();
    await Promise.all(handed.map(async ({ ref }) => {
      try {
        await this.#options.annotations.receipt(refOf(ref), "read", name, { at });
      } catch (error) {
        // A receipt is the sender's hint: failing to write one must not lose the read.
        this.#options.log.warn("live.receipt_failed", { name, message: ref, error });
      }
      this.#options.log.info("live.read", { name, message: ref });
    }));
    if (options.signal?.aborted) {
      // Cancelled while the receipts were written: still better read twice than never (the
      // receipts say read a little early; the next read writes them again).
      agent.unread.unshift(...handed);
      this.#options.log.info("live.read_cancelled", { name, messages: handed.length });
      return { messages: [], more: agent.unread.length };
    }
    this.#took(agent, handed.map((u) => u.ref));
    this.#saveSoon();
    return { messages, more: agent.unread.length };
  }

  /**
   * Gives back messages a read handed out that never reached the agent (its call was cancelled,
   * or its session's socket closed before the answer went out): unread again, first in line,
   * and no longer shown as read. Refs it does not know as this agent's are ignored.
   */
  async giveBack(name: string, refs: string[]): Promise<number> {
    const agent = this.#stored(name);
    const back: Unread[] = [];
    for (const ref of refs) {
      if (agent.unread.some((u) => u.ref === ref)) continue;
      let message;
      try {
        message = refOf(ref);
      } catch {
        continue;
      }
      await this.#options.annotations.removeReceipt(message, "read", name).catch((error) =>
        this.#options.log.warn("live.receipt_failed", { name, message: ref, error })
      );
      back.push({ ref, woken: true });
    }
    agent.unread.unshift(...back);
    if (back.length > 0) {
      if (agent.taken) agent.taken = agent.taken.filter((r) => !back.some((b) => b.ref === r));
      this.#options.log.info("live.given_back", { name, messages: back.length });
      // Saved before the answer: the read they undo was saved already, so a crash before this
      // save would lose them (unlike a read's or a wake report's, which at worst repeats one).
      await this.#changed(false);
      // A wait that began before they came back (the session's retry) takes them now.
      for (const waiter of this.#waiters.get(name) ?? []) waiter();
    }
    return back.length;
  }

  /**
   * A pane agent's message was typed into its pane, whole or with a pointer to the rest. Typing
   * is its delivery (it has no read tool), so the message leaves its inbox and counts as read.
   * Saved at once: a message typed must not be typed again after a crash.
   */
  async typed(name: string, ref: string): Promise<void> {
    const agent = this.#stored(name);
    const at = agent.unread.findIndex((u) => u.ref === ref);
    if (at < 0) return;
    agent.unread.splice(at, 1);
    this.#took(agent, [ref]);
    agent.seen = new Date().toISOString();
    try {
      await this.#options.annotations.receipt(refOf(ref), "read", name, {
        at: agent.seen,
        via: "tmux",
      });
    } catch (error) {
      this.#options.log.warn("live.receipt_failed", { name, message: ref, error });
    }
    // A read like any other for the event stream (watch, the web UI), typed into the pane.
    this.#options.log.info("live.read", { name, message: ref, via: "tmux" });
    await this.#changed(false);
  }

  /** True while `ref` waits in `name`'s inbox. */
  isUnread(name: string, ref: string): boolean {
    return this.#agents.get(name)?.unread.some((u) => u.ref === ref) ?? false;
  }

  /** How many messages wait in `name`'s inbox (0 for an agent not known here). */
  unreadCount(name: string): number {
    return this.#agents.get(name)?.unread.length ?? 0;
  }

  /** The names of this machine's pane agents. */
  paneNames(): string[] {
    return [...this.#agents.values()].filter((a) => a.kind === "pane").map((a) => a.name);
  }

  /**
   * Creates or updates a pane agent's record (its inbox stays): what it runs, its pane, whether
   * it is up and its status. An agent of that name that was a session (offline: a name in use
   * is refused before this) becomes the pane agent, with its unread messages.
   */
  async setPane(
    info: PaneAgentInfo,
    state: { online: boolean; status: string },
  ): Promise<LiveAgentInfo> {
    const now = new Date().toISOString();
    const previous = this.#agents.get(info.name);
    const agent: Stored = {
      name: info.name,
      agent: info.agent,
      ...(info.model ? { model: info.model } : {}),
      ...(info.role ? { role: info.role } : {}),
      machine: this.#options.alias,
      host: Deno.hostname(),
      tmux: info.tmux,
      wake: "tmux",
      status: state.status,
      owner: info.owner,
      kind: "pane",
      online: state.online,
      since: previous?.kind === "pane" ? previous.since : now,
      seen: state.online || !previous ? now : previous.seen,
      unread: previous?.unread ?? [],
    };
    const before = previous && JSON.stringify(publicInfo({ ...previous, seen: "" }));
    this.#agents.set(info.name, agent);
    if (before !== JSON.stringify(publicInfo({ ...agent, seen: "" }))) {
      if (previous?.online !== agent.online) {
        this.#options.log.info(agent.online ? "live.online" : "live.offline", {
          name: agent.name,
          machine: agent.machine,
          tmux: agent.tmux,
        });
      }
      await this.#changed();
    }
    return publicInfo(agent);
  }

  /** Forgets an agent and its inbox (a pane agent removed); its messages stay on the bus. */
  async remove(name: string): Promise<void> {
    const agent = this.#stored(name);
    const session = this.#sessions.get(name);
    if (session) {
      session.closed = true;
      session.wake?.();
    }
    this.#agents.delete(name);
    // An offline event for the event stream: the peers shown elsewhere are looked at again.
    this.#options.log.info("live.offline", { name, machine: agent.machine, removed: true });
    await this.#changed();
  }

  /**
   * Changes what a session says of itself: its status ("available", "busy", or a short text), the
   * model it runs, its role (which decides the role-scoped tasks it may claim). Peers see it at
   * once. Checked whole before anything changes.
   *
   * @throws {CrosstalkError} `ERR_AGENT_NOT_FOUND`; `ERR_BODY_INVALID` for an empty change, an
   *   empty status, or a model or role that {@linkcode checkLiveLabel} refuses
   */
  async update(name: string, change: LiveAgentChange): Promise<LiveAgentInfo> {
    const agent = this.#stored(name);
    const { status, model, role } = change;
    if (status === undefined && model === undefined && role === undefined) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        "Nothing to change: give a status, a model or a role",
      );
    }
    const clean = status?.replace(/\s+/g, " ").trim().slice(0, 200);
    if (clean === "") throw new CrosstalkError("ERR_BODY_INVALID", "A status cannot be empty");
    if (typeof model === "string") checkLiveLabel("model", model);
    if (typeof role === "string") checkLiveLabel("role", role);
    if (clean !== undefined) agent.status = clean;
    if (model === null) delete agent.model;
    else if (model !== undefined) agent.model = model;
    if (role === null) delete agent.role;
    else if (role !== undefined) agent.role = role;
    agent.seen = new Date().toISOString();
    this.#options.log.info("live.status", {
      name,
      status: agent.status,
      ...(agent.model ? { model: agent.model } : {}),
      ...(agent.role ? { role: agent.role } : {}),
      machine: agent.machine,
    });
    await this.#changed();
    return publicInfo(agent);
  }

  /** The session ended for good (stdin closed): the agent goes offline and its token stops working. */
  async leave(name: string): Promise<void> {
    const agent = this.#stored(name);
    delete agent.jti;
    agent.online = false;
    agent.seen = new Date().toISOString();
    const session = this.#sessions.get(name);
    if (session) {
      session.closed = true;
      session.wake?.();
    }
    this.#options.log.info("live.offline", { name, machine: agent.machine, left: true });
    await this.#changed();
  }

  /** Ends every session that `owner` registered (a deleted user's agents stop working). */
  async leaveOwnedBy(owner: string): Promise<string[]> {
    const names = [...this.#agents.values()]
      .filter((a) => a.owner === owner && a.jti !== undefined)
      .map((a) => a.name);
    for (const name of names) await this.leave(name);
    return names;
  }

  /** Puts new messages into the inboxes of the agents they wake, and wakes them. */
  async onMessages(messages: Message[]): Promise<void> {
    if (this.#agents.size === 0) return;
    let changed = false;
    for (const message of messages) {
      for (const name of await this.#addressees(message)) {
        const agent = this.#agents.get(name)!;
        const ref = `${message.channel}/${message.id}`;
        if (agent.unread.some((u) => u.ref === ref) || agent.taken?.includes(ref)) continue;
        if (agent.unread.length >= MAX_UNREAD) {
          // The message stays on the bus; only this inbox's pointer to it goes, and says so.
          const dropped = agent.unread.shift()!;
          this.#options.log.warn("live.inbox_full", {
            name,
            dropped: dropped.ref,
            max: MAX_UNREAD,
          });
        }
        const unread: Unread = { ref, woken: false };
        agent.unread.push(unread);
        // Only while its session is connected: an agent away for days keeps refs, not bodies.
        if (this.#sessions.has(name)) this.#arrived.set(unread, message);
        changed = true;
        for (const waiter of this.#waiters.get(name) ?? []) waiter();
        await this.#offerWake(name, message, Date.now() + this.#holdMs());
      }
    }
    if (changed) await this.#changed(false);
  }

  /**
   * Wakes `name`'s session for `message` when the sender may wake it. A sender this machine does
   * not know yet (a live agent of another machine whose presence has not arrived here) is asked
   * about again until `until`: presence travels apart from the messages, and may come second.
   */
  async #offerWake(name: string, message: Message, until: number): Promise<void> {
    const agent = this.#agents.get(name);
    const session = this.#sessions.get(name);
    if (!agent || !session || session.closed || agent.wake === "pull") return;
    const ref = `${message.channel}/${message.id}`;
    // Read meanwhile (a pane agent's message stays unread until it is typed).
    if (!agent.unread.some((u) => u.ref === ref && (!u.woken || agent.kind === "pane"))) return;
    const sender = await this.#senderAllowed(agent, message.from);
    if (sender === "unknown" && Date.now() < until) {
      this.#hold({ name, message, until });
      return;
    }
    const gate = sender === "yes"
      ? this.#loopGuard(message)
      : `sender "${message.from}" is not allowed to wake ${agent.name}`;
    if (gate) {
      this.#options.log.info("live.gated", { name, message: ref, reason: gate });
      return;
    }
    const event = this.#toEvent(message, await this.#channelName(message));
    const warning = this.#loopWarning(name, message.from, ref);
    if (warning) event.loopWarning = warning;
    session.queue.push(event);
    session.wake?.();
  }

  #held: { name: string; message: Message; until: number }[] = [];
  #holdTimer: ReturnType<typeof setTimeout> | undefined;

  #hold(wake: { name: string; message: Message; until: number }): void {
    if (this.#held.length >= MAX_HELD) this.#held.shift();
    this.#held.push(wake);
    if (this.#holdTimer !== undefined) return;
    this.#holdTimer = setTimeout(() => {
      this.#holdTimer = undefined;
      const held = this.#held.splice(0);
      void (async () => {
        for (const { name, message, until } of held) await this.#offerWake(name, message, until);
      })().catch((error) => this.#options.log.error("live.wake_failed", { error }));
    }, HOLD_RECHECK_MS);
  }

  /** How long a wake waits for its sender to become known (the presence timeout). */
  #holdMs(): number {
    return this.#options.bus.config.git.presence_timeout_seconds * 1000;
  }

  /** Resolves when everything is saved (tests, shutdown). */
  async flush(): Promise<void> {
    if (this.#saveTimer !== undefined) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
      await this.#save();
    }
    await this.#saving;
  }

  /** Ends every session (the engine stops); agents stay registered, offline. */
  async close(): Promise<void> {
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    this.#held = [];
    for (const session of this.#sessions.values()) {
      session.closed = true;
      session.wake?.();
    }
    for (const agent of this.#agents.values()) agent.online = false;
    this.#dirty = true;
    await this.#save();
    this.#journal?.close();
    this.#journal = undefined;
  }

  /** Whether `from` may wake `agent`: named in its allow list, or known here and `*` allowed. */
  async #senderAllowed(agent: Stored, from: string): Promise<"yes" | "no" | "unknown"> {
    const allowed = agent.allow ?? ["*"];
    if (allowed.includes(from)) return "yes";
    if (!allowed.includes("*")) return "no";
    return await this.#options.knownSender(from) ? "yes" : "unknown";
  }

  /**
   * Why the engine's per-channel cap on automatic replies stops this wake, or undefined. It
   * applies to agents' replies too: agents answering agents is what can go on forever; fresh
   * messages are traffic, not a loop.
   */
  #loopGuard(message: Message): string | undefined {
    // One decision per message, however many of this machine's agents it wakes.
    const ref = `${message.channel}/${message.id}`;
    if (this.#guarded.has(ref)) return this.#guarded.get(ref);
    const verdict = this.#loopGuardOnce(message);
    this.#guarded.set(ref, verdict);
    if (this.#guarded.size > 1000) this.#guarded.delete(this.#guarded.keys().next().value!);
    return verdict;
  }

  #guarded = new Map<string, string | undefined>();

  #loopGuardOnce(message: Message): string | undefined {
    const guard = this.#options.bus.config.engine.loop_guard;
    if (message.re?.length && this.#isAgentSender(message.from)) {
      const since = Date.now() - guard.window_seconds * 1000;
      const times = (this.#channelWakes.get(message.channel) ?? []).filter((t) => t > since);
      if (times.length >= guard.replies) {
        this.#channelWakes.set(message.channel, times);
        return `loop guard: ${guard.replies} agent replies in this channel within ${guard.window_seconds}s`;
      }
      times.push(Date.now());
      this.#channelWakes.set(message.channel, times);
    }
    return undefined;
  }

  #isAgentSender(from: string): boolean {
    const [name] = from.split("@");
    if (this.#agents.has(from) || this.#agents.has(name!)) return true;
    if (this.#options.isRemoteAgent?.(name!)) return true;
    try {
      const target = resolveAddress(from, this.#options.bus.config);
      return target.kind === "model";
    } catch {
      return false;
    }
  }

  /** This machine's live agents that `message` wakes (DESIGN.md §3's rule). */
  async #addressees(message: Message): Promise<string[]> {
    const names = new Set<string>();
    for (const address of message.to) {
      const [name, alias] = address.split("@");
      if (alias !== undefined && alias !== this.#options.alias) continue;
      // `all` is every model and every live agent; `here` only the live agents.
      if (name === "all" || name === HERE) {
        for (const agent of this.#agents.keys()) names.add(agent);
      } else if (name && this.#agents.has(name)) names.add(name);
    }
    names.delete(message.from);
    for (const name of names) {
      if (isExcluded(message.exclude, { name }, this.#options.alias)) names.delete(name);
    }
    if (names.size === 0 || !message.re?.length) return [...names];
    const authors = new Set<string>();
    for (const id of message.re) {
      try {
        authors.add((await this.#options.bus.transport.readMessage(message.channel, id)).from);
      } catch {
        // A reply to something unreadable wakes nobody through it.
      }
    }
    return [...names].filter((name) => authors.has(name));
  }

  #toEvent(message: Message, channelName: string): WakeEvent {
    const event: WakeEvent = {
      ref: `${message.channel}/${message.id}`,
      channel: message.channel,
      channelName,
      from: message.from,
      to: message.to,
      preview: message.body.length > PREVIEW_CHARS
        ? `${message.body.slice(0, PREVIEW_CHARS)}…`
        : message.body,
      bytes: new TextEncoder().encode(message.body).length,
      noReply: /\[no-reply\]/i.test(message.body),
    };
    if (message.re?.length) event.re = message.re;
    return event;
  }

  /**
   * Counts message `ref` in the exchange between two parties (once, however often it is woken);
   * a warning once they go back and forth fast.
   */
  #loopWarning(name: string, from: string, ref: string): string | undefined {
    // engine.loop_warning: how many messages between the two within how long earn the warning.
    const { messages, window_seconds } = this.#options.bus.config.engine.loop_warning;
    const key = [name, from].sort().join("\n");
    const since = Date.now() - window_seconds * 1000;
    const exchange = (this.#exchanges.get(key) ?? []).filter((e) => e.at > since);
    if (!exchange.some((e) => e.ref === ref)) exchange.push({ at: Date.now(), ref });
    this.#exchanges.set(key, exchange);
    if (exchange.length < messages) return undefined;
    return `${exchange.length} messages between you and ${from} in the last ${window_seconds} s: do not reply unless it is essential`;
  }

  async #channelName(message: Message): Promise<string> {
    try {
      return (await this.#options.bus.transport.getChannel(message.channel)).name;
    } catch {
      return message.channel.slice(0, 8);
    }
  }

  #waitForUnread(name: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(name) ?? new Set();
      this.#waiters.set(name, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
      signal?.addEventListener("abort", done);
    });
  }

  #refuseTaken(name: string, isTaken: (name: string) => boolean): void {
    if (isTaken(name)) {
      throw new CrosstalkError(
        "ERR_ADDRESS_INVALID",
        `The name "${name}" is taken by a model or a user of this transport: choose another with --name`,
      );
    }
  }

  #stored(name: string): Stored {
    const agent = this.#agents.get(name);
    if (!agent) throw new CrosstalkError("ERR_AGENT_NOT_FOUND", `No live agent "${name}" here`);
    return agent;
  }

  /** Saves the state (one write at a time, the last one wins); tells presence when asked. */
  async #changed(visible = true): Promise<void> {
    if (visible) this.#options.onChange?.();
    this.#dirty = true;
    await this.#save();
  }

  #saveTimer: ReturnType<typeof setTimeout> | undefined;

  /** Remembers messages taken out of `agent`'s inbox that the feed has not recorded yet. */
  #took(agent: Stored, refs: string[]): void {
    const handled = this.#options.handled;
    if (!handled) return;
    const pending = refs.filter((ref) => !handled(refOf(ref)));
    if (pending.length === 0) return;
    agent.taken = [...(agent.taken ?? []), ...pending].slice(-MAX_TAKEN);
  }

  /** Lets go of taken messages that the feed has recorded since. */
  #forgetHandled(): void {
    const handled = this.#options.handled;
    if (!handled) return;
    for (const agent of this.#agents.values()) {
      if (!agent.taken) continue;
      const pending = agent.taken.filter((ref) => !handled(refOf(ref)));
      if (pending.length > 0) agent.taken = pending;
      else delete agent.taken;
    }
  }

  /**
   * Saves within LAZY_SAVE_MS, for changes that a crash may undo without loss: a wake report or
   * a read (the receipts are on the bus already; at worst the message shows as unread again).
   * New messages in an inbox are saved before the feed moves on (see {@linkcode onMessages}).
   */
  #saveSoon(): void {
    this.#dirty = true;
    if (this.#saveTimer !== undefined) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.#save().catch((error) => this.#options.log.warn("live.save_failed", { error }));
    }, LAZY_SAVE_MS);
  }

  #save(): Promise<void> {
    // A failed save (a full disk) must not stop the ones after it.
    this.#saving = this.#saving.catch(() => {}).then(async () => {
      if (!this.#dirty) return;
      this.#dirty = false;
      this.#forgetHandled();
      const agents = [...this.#agents.values()];
      const line = new TextEncoder().encode(`${JSON.stringify({ seq: ++this.#seq, agents })}\n`);
      if (this.#journal && this.#journalBytes + line.length <= JOURNAL_MAX_BYTES) {
        try {
          await writeAll(this.#journal, line);
          this.#journalBytes += line.length;
          return;
        } catch (error) {
          // A line cut short (a full disk): the next save starts over from live.json.
          this.#journal.close();
          this.#journal = undefined;
          throw error;
        }
      }
      // The whole state in live.json first: from then on the journal's lines are older.
      await writeFileAtomic(this.#path, line, { mode: 0o600 });
      this.#journal?.close();
      this.#journal = await Deno.open(this.#journalPath, {
        write: true,
        create: true,
        truncate: true,
        mode: 0o600,
      });
      this.#journalBytes = 0;
    });
    return this.#saving;
  }
}

function publicInfo(agent: Stored): LiveAgentInfo {
  const {
    jti: _jti,
    allow: _allow,
    unread: _unread,
    tmux_socket: _socket,
    taken: _taken,
    ...info
  } = agent;
  return info;
}

/** Splits `<channel>/<YYYY>/<MM>/<DD>/<file>.md`. */
export function refOf(ref: string): MessageRef {
  const slash = ref.indexOf("/");
  return { channel: ref.slice(0, slash), id: ref.slice(slash + 1) };
}

function basenameOf(path: string | undefined): string | undefined {
  return path?.split("/").filter(Boolean).at(-1);
}

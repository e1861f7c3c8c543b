/**
 * `TmuxAgents`: tmux panes that a person registered under a name on this machine
 * (`crosstalk agent add NAME --tmux TARGET`), for agents that run no MCP server of their own
 * (Aider, Grok, any TUI, a shell). Each one is a live agent of this machine (a `kind: "pane"`
 * record of {@linkcode LiveAgents}, with its inbox and presence), and the engine itself types
 * each message into its pane, whole up to {@linkcode TMUX_AGENT_MAX_CHARS}, with how to reply
 * from a shell. Typing is the delivery: a message typed counts as read. A pane that is gone,
 * busy or shows a dialog gets nothing typed; the sender sees `unwoken` with the reason, the
 * message stays in the inbox, and it is typed once the pane is ready again (checked every
 * {@linkcode PANE_CHECK_MS}), in order.
 *
 * A registration may carry a revive command (an admin's, never a message's): when a message waits
 * and the target's session is gone, the engine starts it again in a detached session of that name
 * and types once its pane is ready and a grace delay has passed; see {@linkcode TmuxAgentSpec.revive}.
 * An admin may also start it at once ({@linkcode TmuxAgents.startAgent}), the same way.
 *
 * The registrations live in the state dir (`tmux-agents.json`, written atomically), so a
 * restart keeps them. Targets are checked against a strict pattern and tmux always runs with an
 * argument vector, never through a shell; only a revive command is run by a shell (tmux's).
 */
import { join } from "../transports/path.ts";
import { CrosstalkError, errorText } from "../schema/errors.ts";
import { type Message, writeFileAtomic } from "../transports/mod.ts";
import type { Bus } from "./bus.ts";
import type { Logger } from "./log.ts";
import { isLiveName, type LiveAgents, refOf, type WakeEvent } from "./live.ts";
import { checkTypedText, sentAt, WAKE_MARKER } from "./wake.ts";
import {
  foregroundCommands,
  guessAgentCli,
  guessScriptCli,
  isInterpreter,
  listTmuxPanes,
  paneTarget,
  proposeName,
  type TmuxServerId,
} from "./tmux_discover.ts";
import { checkTargetOnServer, mismatchOf } from "./tmux_target.ts";

/** The most characters typed for one message by default, marker included; the rest is pointed at. */
export const TMUX_AGENT_MAX_CHARS = 4000;
/**
 * What a cap must leave past the marker: the header, the pointer to the whole message and the reply
 * line of a cut message take about 400 characters (more with long names or a `--path`), and some
 * of the body should be typed too.
 */
export const TMUX_AGENT_RESERVE = 500;
/** How often panes are looked at (presence) and failed deliveries tried again. */
export const PANE_CHECK_MS = 2000;
const STATE_FILE = "tmux-agents.json";
const MAX_ENTER_DELAY_MS = 10_000;
/** How long a revived pane may take to be ready (default of `revive_timeout_ms`). */
export const REVIVE_TIMEOUT_MS = 30_000;
/** The pause after a revived pane is ready, for the agent's TUI to start (default of `revive_grace_ms`). */
export const REVIVE_GRACE_MS = 5000;
/** At most one revive per agent this often, so that a failing command does not run in a loop. */
export const REVIVE_RETRY_MS = 60_000;
const MAX_REVIVE_TIMEOUT_MS = 600_000;
const MAX_REVIVE_GRACE_MS = 120_000;
const MAX_REVIVE_CHARS = 2000;
const REVIVE_POLL_MS = 100;
/**
 * A pane id (`%3`), or a session name with an optional window (number or name) and pane number:
 * `codex`, `codex:1`, `codex:editor.2`. tmux turns `.` and `:` in session names into `_`, so a
 * session name has neither.
 */
const TARGET_RE =
  /^(?:%\d{1,9}|[A-Za-z0-9_][A-Za-z0-9_-]{0,63}(?::(?:\d{1,5}|[A-Za-z0-9_][A-Za-z0-9_-]{0,63})(?:\.\d{1,5})?)?)$/;
const AGENT_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
/** A target that is a session name only: the one kind a revive can create. */
const SESSION_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;
const ROLE_RE = /^[\w@%:./ +-]{1,100}$/;
/** A revive command's own settings. */
const REVIVE_SETTINGS = ["cwd", "revive_timeout_ms", "revive_grace_ms"] as const;
/** What says which pane an agent's messages are typed into: an edit of one starts its typing over. */
const WHERE_TYPED = ["target", "socket"] as const;
/** How a pane that is down is started: an edit of one stops a revive under way. */
const HOW_REVIVED = ["revive", "cwd"] as const;

/** What a person gives to register a pane. */
export interface TmuxAgentSpec {
  /** The agent's address on the bus. */
  name: string;
  /** A tmux pane id (`%3`) or session (`codex`, `codex:1.0`). */
  target: string;
  /** What runs in the pane (aider, grok, shell, …); default `tmux`. */
  agent?: string | undefined;
  /** The model the agent runs, shown to peers. */
  model?: string | undefined;
  role?: string | undefined;
  /** Pause between the paste and Enter, for slow TUIs (default 300 ms). */
  enter_delay_ms?: number | undefined;
  /** Put before every text typed (default {@linkcode WAKE_MARKER}; `""`: none). */
  marker?: string | undefined;
  /** The most characters typed for one message, marker included (default {@linkcode TMUX_AGENT_MAX_CHARS}). */
  max_chars?: number | undefined;
  /** The tmux server's socket (`tmux -S`); default the engine's own tmux server. */
  socket?: string | undefined;
  /**
   * A command that starts the agent when a message waits and the target's session is gone: run by
   * tmux through its shell (`default-shell -c`) in a new detached session named after the target.
   * Only a session-name target can be revived. An admin's (given to add or edit), never a message's.
   */
  revive?: string | undefined;
  /** Where the revive command runs: an absolute path to a folder (default the engine's workspace). */
  cwd?: string | undefined;
  /** How long the revived pane may take to be ready (default {@linkcode REVIVE_TIMEOUT_MS}). */
  revive_timeout_ms?: number | undefined;
  /** The pause after that, before typing (default {@linkcode REVIVE_GRACE_MS}). */
  revive_grace_ms?: number | undefined;
}

/** A registration, as stored. */
export interface TmuxAgentRecord {
  name: string;
  target: string;
  agent: string;
  model?: string;
  role?: string;
  enter_delay_ms?: number;
  marker?: string;
  max_chars?: number;
  socket?: string;
  revive?: string;
  cwd?: string;
  revive_timeout_ms?: number;
  revive_grace_ms?: number;
  /**
   * For a pane-id target (`%3`): the run of the tmux server it was registered on. Nothing is typed
   * into the pane id on another run (after a reboot it names another pane). Absent in registrations
   * made before it was recorded: those are typed into whatever pane has the id.
   */
  tmux_server?: TmuxServerId;
  enabled: boolean;
  /** The user who registered it. */
  owner: string;
  added: string;
}

/**
 * A change to a registration ({@linkcode TmuxAgents.edit}): the fields given replace the stored
 * ones; `null` takes one back to its default (`revive: null`: no revive command, and with it its
 * `cwd`, `revive_timeout_ms` and `revive_grace_ms`). The name is not changed.
 */
export type TmuxAgentPatch = {
  [K in Exclude<keyof TmuxAgentSpec, "name">]?: TmuxAgentSpec[K] | null;
};

/** A registration as listed: with its pane now and its inbox. */
export interface TmuxAgentView extends TmuxAgentRecord {
  /** The marker in effect (its own, else the default). */
  marker: string;
  /** The cap in effect (its own, else the default). */
  max_chars: number;
  /** The pane the target resolves to now, or null when there is none. */
  pane: string | null;
  /** True while the pane exists. */
  up: boolean;
  /** Messages in its inbox not typed yet. */
  unread: number;
  /** True when it has a revive command. */
  revivable: boolean;
}

/** What {@linkcode TmuxAgents.startAgent} answers: the agent once its pane is up. */
export interface TmuxAgentStart extends TmuxAgentView {
  /** False when its pane was up already and nothing was done. */
  started: boolean;
}

/** Options for {@linkcode TmuxAgents.candidates}. */
export interface TmuxCandidatesOptions {
  /** The tmux server's socket (`tmux -S`), checked as a registration's; default the engine's own. */
  socket?: string | undefined;
  /** The pane of the one who asks (`$TMUX_PANE`), on that server: listed, never proposed. */
  own?: string | undefined;
}

/** A pane of a tmux server, as a registration it could become. */
export interface TmuxCandidate {
  /** The target to register: its session, or `session:window.pane` in a session of more panes. */
  target: string;
  /** Its pane id (`%3`). */
  pane: string;
  session: string;
  window: number;
  pane_index: number;
  /** The program in its foreground, as tmux names it. */
  command: string;
  /** The folder that program runs in. */
  folder: string;
  /** True for a pane whose program ended (kept by remain-on-exit): not proposed. */
  dead: boolean;
  /** True for the pane of the one who asked ({@linkcode TmuxCandidatesOptions.own}): not proposed. */
  own: boolean;
  /** The agent CLI its command looks like (`claude`, `aider`, `shell`; `tmux` when unknown). */
  agent: string;
  /** Who has it already: a registered tmux agent, or a live session (`crosstalk mcp`) in it. */
  taken: { by: "tmux-agent" | "live-session"; name: string } | null;
  /** The name proposed for it; null for a pane that is not free (taken, dead or the caller's). */
  name: string | null;
}

/** What {@linkcode TmuxAgents.candidates} answers. */
export interface TmuxCandidates {
  /** The socket asked; null for the engine's default tmux server. */
  socket: string | null;
  candidates: TmuxCandidate[];
}

/** Options for {@linkcode TmuxAgents.open}. */
export interface TmuxAgentsOptions {
  bus: Bus;
  live: LiveAgents;
  stateDir: string;
  log: Logger;
  /** True for a name a pane may not take: a model, a user, the engine's alias. */
  isTaken: (name: string) => boolean;
  /**
   * How a shell on this machine names this transport to the CLI, put into the reply hint: `""`
   * for the default transport, else `--containername NAME` or `--path PATH`.
   */
  transportFlag: string;
  /** The tmux binary (default `tmux`). */
  tmux?: string;
  /** How often panes are checked (default {@linkcode PANE_CHECK_MS}). */
  checkMs?: number;
}

interface Worker {
  abort: AbortController;
  /** Wakes not typed yet, oldest first. */
  queue: WakeEvent[];
  /** The reason last reported per message, so that a retry does not report it again. */
  reported: Map<string, string>;
  /** Drain passes, one after the other. */
  draining: Promise<void>;
  connected: Promise<void>;
  /** The revive going on, if any (at most one per agent): resolves with why it failed, if it did. */
  reviving: Promise<unknown> | undefined;
  /** When the last revive started, and why it failed (undefined when it succeeded). */
  revived: { at: number; failure: string | undefined } | undefined;
}

interface Entry {
  record: TmuxAgentRecord;
  pane: string | undefined;
  up: boolean;
  worker: Worker | undefined;
}

/** A target resolved: its pane, or why there is none (`dead`: its pane, there but dead). */
type Resolved = { ok: true; pane: string } | { ok: false; detail: string; dead?: string };

/** The tmux panes registered on this machine, and the typing of their messages. */
export class TmuxAgents {
  #options: TmuxAgentsOptions;
  #path: string;
  #entries = new Map<string, Entry>();
  /** Changes one at a time: a save never races another. */
  #op: Promise<unknown> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking: Promise<void> | undefined;
  #closed = false;

  private constructor(options: TmuxAgentsOptions) {
    this.#options = options;
    this.#path = join(options.stateDir, STATE_FILE);
  }

  /** Loads the registrations. Nothing is typed until {@linkcode start}. */
  static async open(options: TmuxAgentsOptions): Promise<TmuxAgents> {
    const agents = new TmuxAgents(options);
    for (const record of await agents.#load()) {
      agents.#entries.set(record.name, { record, pane: undefined, up: false, worker: undefined });
    }
    return agents;
  }

  /**
   * Makes the live records agree with the registrations (a crash between the two writes of an
   * add or a remove leaves them apart), then starts typing for the enabled panes and checking
   * them.
   */
  async start(): Promise<void> {
    const live = this.#options.live;
    for (const name of live.paneNames()) {
      if (!this.#entries.has(name)) await live.remove(name);
    }
    for (const entry of this.#entries.values()) {
      await this.#publish(entry);
      if (entry.record.enabled) this.#startWorker(entry);
    }
    this.#timer = setInterval(() => void this.checkNow(), this.#options.checkMs ?? PANE_CHECK_MS);
    void this.checkNow();
  }

  /** Every registration, with its pane looked at now. */
  async list(): Promise<TmuxAgentView[]> {
    await this.checkNow();
    return [...this.#entries.values()].map((e) => this.#view(e))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The registration of `name` as stored (no tmux asked), or undefined when there is none. */
  registration(name: string): TmuxAgentRecord | undefined {
    const entry = this.#entries.get(name);
    return entry ? structuredClone(entry.record) : undefined;
  }

  /**
   * The panes of a tmux server (the socket given, else the engine's default server) as
   * registrations they could become: each with its target, command, folder, a guess of its agent
   * CLI, whether a registered tmux agent (its target resolves to the pane, on that server) or a
   * live session of this machine (one that recorded that pane, on that server, and holds its name
   * now) has it, and for a free one a name no agent, model, user or other proposal has. No tmux
   * server running there: none. Registers nothing.
   *
   * A live session registered without its tmux server's socket (by an older `crosstalk mcp`) has
   * its pane id taken on every server asked, so that a pane is never proposed twice rather than
   * missed.
   *
   * @throws {CrosstalkError} `ERR_BODY_INVALID` for a bad socket or own pane;
   *   `ERR_SERVICE_FAILED` when tmux cannot be run (not installed) or fails
   */
  async candidates(options: TmuxCandidatesOptions = {}): Promise<TmuxCandidates> {
    const { socket, own } = options;
    if (socket !== undefined) checkTmuxSocket(socket);
    if (own !== undefined && !/^%\d{1,9}$/.test(own)) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `Invalid own pane ${JSON.stringify(own.slice(0, 80))}: a pane id like %3`,
      );
    }
    const panes = await listTmuxPanes({ socket, tmux: this.#options.tmux });
    const server = panes[0]?.socketPath;
    const owners = new Map<string, TmuxCandidate["taken"]>();
    const live = this.#options.live;
    for (const agent of live.list()) {
      if (agent.kind === "pane" || !agent.tmux || !live.inUse(agent.name)) continue;
      const itsServer = live.tmuxSocket(agent.name);
      if (itsServer === undefined || (server !== undefined && await sameFile(itsServer, server))) {
        owners.set(agent.tmux, { by: "live-session", name: agent.name });
      }
    }
    if (server !== undefined) {
      await this.checkNow();
      // A registration without a socket is on the engine's default server: asked once where it is.
      let defaultSocket: Promise<string> | undefined;
      const socketOf = (record: TmuxAgentRecord) =>
        record.socket !== undefined ? Promise.resolve(record.socket) : defaultSocket ??= this
          .#tmux(record, ["display-message", "-p", "#{socket_path}"])
          .then((out) => out.trim(), () => "");
      for (const entry of this.#entries.values()) {
        if (!entry.pane) continue;
        if (
          entry.record.socket === socket || (await sameFile(await socketOf(entry.record), server))
        ) {
          owners.set(entry.pane, { by: "tmux-agent", name: entry.record.name });
        }
      }
    }
    const perSession = new Map<string, number>();
    for (const pane of panes) perSession.set(pane.session, (perSession.get(pane.session) ?? 0) + 1);
    const proposed = new Set<string>();
    const isTaken = (name: string) =>
      proposed.has(name) || this.#entries.has(name) || live.has(name) ||
      this.#options.isTaken(name);
    // An agent CLI run by an interpreter shows as `node` or `python3`: its command line says more.
    const interpreted = new Set(
      panes.filter((pane) => isInterpreter(pane.command)).map((pane) => pane.tty),
    );
    const scripts = interpreted.size > 0
      ? await foregroundCommands(interpreted)
      : new Map<string, string[]>();
    const candidates = panes.map((pane): TmuxCandidate => {
      const guess = guessAgentCli(pane.command);
      const script = scripts.get(pane.tty);
      const agent = guess === "tmux" && script ? guessScriptCli(script) ?? guess : guess;
      const taken = owners.get(pane.id) ?? null;
      const isOwn = pane.id === own;
      const name = taken || pane.dead || isOwn ? null : proposeName(pane.session, agent, isTaken);
      if (name !== null) proposed.add(name);
      return {
        target: paneTarget(pane, perSession.get(pane.session) ?? 1),
        pane: pane.id,
        session: pane.session,
        window: pane.window,
        pane_index: pane.index,
        command: pane.command,
        folder: pane.folder,
        dead: pane.dead,
        own: isOwn,
        agent,
        taken,
        name,
      };
    });
    return { socket: socket ?? null, candidates };
  }

  /**
   * Registers a pane under a name. A target that names a window or pane is checked against its
   * tmux server now (see {@linkcode checkTargetOnServer}); a pane id's server run is recorded.
   *
   * @throws {CrosstalkError} `ERR_ADDRESS_INVALID` for a name that is not one or is taken;
   *   `ERR_BODY_INVALID` for a bad target (or one naming a window or pane its server does not
   *   have), agent, role, delay, socket, revive command or cwd (one that is not an existing
   *   folder); `ERR_SERVICE_FAILED` when tmux cannot be run to check such a target
   */
  add(spec: TmuxAgentSpec, owner: string): Promise<TmuxAgentView> {
    return this.#serial(async () => {
      let record = checkSpec(spec, owner);
      if (record.cwd !== undefined) await checkFolder(record.cwd);
      if (this.#entries.has(record.name)) {
        throw new CrosstalkError(
          "ERR_ADDRESS_INVALID",
          `A tmux agent "${record.name}" is registered already (remove it first)`,
        );
      }
      if (this.#options.isTaken(record.name)) {
        throw new CrosstalkError(
          "ERR_ADDRESS_INVALID",
          `The name "${record.name}" is taken by a model, a user or this machine's alias: choose another`,
        );
      }
      if (this.#options.live.inUse(record.name)) {
        throw new CrosstalkError(
          "ERR_ADDRESS_INVALID",
          `The name "${record.name}" is held by a live agent session: choose another`,
        );
      }
      record = await this.#place(record);
      const entry: Entry = { record, pane: undefined, up: false, worker: undefined };
      this.#entries.set(record.name, entry);
      try {
        await this.#save();
      } catch (error) {
        this.#entries.delete(record.name);
        throw error;
      }
      await this.#look(entry);
      await this.#publish(entry);
      this.#startWorker(entry);
      this.#options.log.info("tmux_agent.added", { ...record });
      return this.#view(entry);
    });
  }

  /**
   * Changes a registration in place, checked whole as {@linkcode add} checks one; its inbox (the
   * unread messages, in order) and whether it is enabled stay. A change of which pane its messages
   * are typed into (target, socket), or of the revive command or its folder while a revive runs,
   * starts its typing over: a revive under way is stopped (a session it started is left running),
   * and what waits is typed to the new target, oldest first, or revived with the new command at
   * once. The other fields take effect from the next message typed or revive started.
   *
   * @throws {CrosstalkError} `ERR_AGENT_NOT_FOUND`; `ERR_ADDRESS_INVALID` for a bad name;
   *   `ERR_BODY_INVALID` for a change that gives no field, or a field {@linkcode add} refuses
   */
  edit(name: string, patch: TmuxAgentPatch, by: string): Promise<TmuxAgentView> {
    return this.#serial(async () => {
      const entry = this.#entry(name);
      const changes = Object.entries(patch ?? {}).filter(([, value]) => value !== undefined);
      if (changes.length === 0) {
        throw new CrosstalkError(
          "ERR_BODY_INVALID",
          `Nothing to change in tmux agent "${name}": give at least one field`,
        );
      }
      const old = entry.record;
      const spec: Record<string, unknown> = { ...old };
      // The revive's own settings mean nothing without it; given with `revive: null`, they are
      // refused by checkSpec.
      if (patch.revive === null) {
        for (const key of REVIVE_SETTINGS) delete spec[key];
      }
      for (const [key, value] of changes) {
        if (value === null) delete spec[key];
        else spec[key] = value;
      }
      const checked = checkSpec({ ...spec, name: old.name } as TmuxAgentSpec, old.owner);
      if (typeof patch.cwd === "string" && checked.cwd !== undefined) {
        await checkFolder(checked.cwd);
      }
      const kept = { ...checked, enabled: old.enabled, owner: old.owner, added: old.added };
      // A target or socket given (the same one too) is checked and its server run taken anew.
      const record: TmuxAgentRecord = patch.target !== undefined || patch.socket !== undefined
        ? await this.#place(kept)
        : { ...kept, ...(old.tmux_server ? { tmux_server: old.tmux_server } : {}) };
      entry.record = record;
      try {
        await this.#save();
      } catch (error) {
        entry.record = old;
        throw error;
      }
      await this.#look(entry);
      await this.#publish(entry);
      // Only then: a wake under way (between its paste and its Enter) stopped and typed again
      // into the same pane would sit twice in the agent's composer. While a revive runs, nothing
      // is being typed.
      const changed = (keys: readonly (keyof TmuxAgentRecord)[]) =>
        keys.some((key) => record[key] !== old[key]);
      if (
        entry.worker && (changed(WHERE_TYPED) || (entry.worker.reviving && changed(HOW_REVIVED)))
      ) {
        await this.#stopWorker(entry);
        this.#startWorker(entry);
      }
      this.#options.log.info("tmux_agent.edited", {
        name,
        by,
        changed: changes.map(([key]) => key),
      });
      return this.#view(entry);
    });
  }

  /**
   * Unregisters a pane: nothing more is typed into it, and its inbox goes (the messages stay on
   * the bus).
   *
   * @throws {CrosstalkError} `ERR_AGENT_NOT_FOUND`
   */
  remove(name: string): Promise<TmuxAgentView> {
    return this.#serial(async () => {
      const entry = this.#entry(name);
      const view = this.#view(entry);
      await this.#stopWorker(entry);
      this.#entries.delete(name);
      try {
        await this.#save();
      } catch (error) {
        this.#entries.set(name, entry);
        if (entry.record.enabled) this.#startWorker(entry);
        throw error;
      }
      if (this.#options.live.has(name)) await this.#options.live.remove(name);
      this.#options.log.info("tmux_agent.removed", { name });
      return view;
    });
  }

  /**
   * Enables or disables a pane. A disabled one keeps its inbox (messages still arrive) but is
   * not typed into; enabled again, it gets what waits, in order. Enabling one that is enabled
   * already tries what waits at once, with a revive that failed less than
   * {@linkcode REVIVE_RETRY_MS} ago (its cause fixed).
   *
   * @throws {CrosstalkError} `ERR_AGENT_NOT_FOUND`
   */
  setEnabled(name: string, enabled: boolean): Promise<TmuxAgentView> {
    return this.#serial(async () => {
      const entry = this.#entry(name);
      if (enabled && entry.record.enabled && entry.worker) {
        if (!entry.worker.reviving) entry.worker.revived = undefined;
        void this.#kick(entry);
      }
      if (entry.record.enabled !== enabled) {
        entry.record.enabled = enabled;
        try {
          await this.#save();
        } catch (error) {
          entry.record.enabled = !enabled;
          throw error;
        }
        if (enabled) this.#startWorker(entry);
        else await this.#stopWorker(entry);
        await this.#publish(entry);
        this.#options.log.info(enabled ? "tmux_agent.enabled" : "tmux_agent.disabled", { name });
      }
      return this.#view(entry);
    });
  }

  /**
   * Starts an agent's session now with its revive command, as a revive does (same command, folder,
   * timeout and grace), when its pane is down; an explicit start is not held back by the
   * once-a-minute limit of revives. A revive under way is waited for instead of starting another.
   * Resolves once the agent is up, with `started: false` when its pane was up already (nothing is
   * done then).
   *
   * @throws {CrosstalkError} `ERR_AGENT_NOT_FOUND`; `ERR_USAGE` for an agent without a revive
   *   command or a disabled one; `ERR_TIMEOUT` when its pane was not ready in time;
   *   `ERR_SERVICE_FAILED` when it did not come up for another reason (the command ended, tmux
   *   refused, its folder is gone), or was disabled or removed meanwhile
   */
  async startAgent(name: string, by: string): Promise<TmuxAgentStart> {
    const { entry, worker, revive } = await this.#serial(async () => {
      const entry = this.#entry(name);
      const { record } = entry;
      const cannot = `Cannot start tmux agent "${record.name}"`;
      if (record.revive === undefined) {
        throw new CrosstalkError(
          "ERR_USAGE",
          `${cannot}: it has no revive command (give it one: crosstalk agent edit ${record.name} --revive COMMAND, API: PATCH "revive")`,
        );
      }
      const worker = entry.worker;
      if (!record.enabled || !worker) {
        throw new CrosstalkError(
          "ERR_USAGE",
          `${cannot}: it is disabled (enable it first: crosstalk agent enable ${record.name})`,
        );
      }
      if (worker.reviving) return { entry, worker, revive: worker.reviving };
      const resolved = await this.#look(entry);
      await this.#publish(entry);
      // A revive may have begun while tmux was asked: that one is the start.
      if (worker.reviving) return { entry, worker, revive: worker.reviving };
      if (resolved.ok) return { entry, worker, revive: undefined };
      this.#options.log.info("tmux_agent.start", { name: record.name, by });
      return { entry, worker, revive: this.#reviveNow(entry, worker, resolved.dead) };
    });
    if (revive) {
      const failure = await revive;
      const cannot = `Cannot start tmux agent "${name}"`;
      if (worker.abort.signal.aborted) {
        const why = this.#entries.get(name) !== entry
          ? "it was removed meanwhile"
          : this.#closed
          ? "the engine is stopping"
          : entry.record.enabled
          ? "where it runs was changed meanwhile (agent edit)"
          : "it was disabled meanwhile";
        throw new CrosstalkError("ERR_SERVICE_FAILED", `${cannot}: ${why}`);
      }
      if (failure !== undefined) {
        const code = failure instanceof CrosstalkError && failure.code === "ERR_TIMEOUT"
          ? "ERR_TIMEOUT"
          : "ERR_SERVICE_FAILED";
        throw new CrosstalkError(code, `${cannot}: ${errorText(failure)}`, { cause: failure });
      }
      await this.#look(entry);
      await this.#publish(entry);
    }
    return { ...this.#view(entry), started: revive !== undefined };
  }

  /**
   * Looks at every pane now (presence) and tries again what could not be typed. Resolves when
   * done; tests call it instead of waiting for the timer.
   */
  checkNow(): Promise<void> {
    this.#checking ??= this.#check().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  /** Stops typing and checking; the registrations and inboxes stay. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
    // All at once: a wake that has pasted its text finishes with its Enter (up to its enter
    // delay and a few tmux calls), and the agents' waits must not add up.
    await Promise.all([...this.#entries.values()].map((entry) => this.#stopWorker(entry)));
    await this.#op.catch(() => {});
  }

  async #check(): Promise<void> {
    for (const entry of [...this.#entries.values()]) {
      if (this.#closed) return;
      try {
        await this.#look(entry);
        await this.#publish(entry);
        if (entry.worker && entry.worker.queue.length > 0) await this.#kick(entry);
      } catch (error) {
        this.#options.log.warn("tmux_agent.check_failed", { name: entry.record.name, error });
      }
    }
  }

  /**
   * The record with its target checked against its tmux server and, for a pane id, that server's
   * run recorded. A session name alone needs no tmux: a session that does not exist is allowed.
   *
   * @throws {CrosstalkError} `ERR_BODY_INVALID` from {@linkcode checkTargetOnServer};
   *   `ERR_SERVICE_FAILED` when tmux cannot be run
   */
  async #place(record: TmuxAgentRecord): Promise<TmuxAgentRecord> {
    const { tmux_server: _old, ...rest } = record;
    if (!/[%:]/.test(record.target)) return rest;
    const { socket } = record;
    const panes = await listTmuxPanes({ socket, tmux: this.#options.tmux });
    const where = socket === undefined
      ? "the engine's default tmux server"
      : `the tmux server of ${JSON.stringify(socket)}`;
    const server = checkTargetOnServer(record.target, panes, where);
    return server ? { ...rest, tmux_server: server } : rest;
  }

  /** Resolves the entry's target now: its pane, and whether it is up. */
  async #look(entry: Entry): Promise<Resolved> {
    const resolved = await resolveTarget(entry.record, this.#options.tmux);
    entry.up = resolved.ok;
    entry.pane = resolved.ok ? resolved.pane : undefined;
    return resolved;
  }

  /** Tells the live record what is known of the pane now (a change reaches presence). */
  async #publish(entry: Entry): Promise<void> {
    if (this.#closed || !this.#entries.has(entry.record.name)) return;
    const { record } = entry;
    await this.#options.live.setPane({
      name: record.name,
      agent: record.agent,
      model: record.model,
      role: record.role,
      tmux: entry.pane ?? record.target,
      owner: record.owner,
    }, {
      online: record.enabled && entry.up,
      status: record.enabled ? "available" : "disabled",
    });
  }

  #startWorker(entry: Entry): void {
    if (entry.worker || this.#closed) return;
    const name = entry.record.name;
    const worker: Worker = {
      abort: new AbortController(),
      queue: [],
      reported: new Map(),
      draining: Promise.resolve(),
      connected: Promise.resolve(),
      reviving: undefined,
      revived: undefined,
    };
    entry.worker = worker;
    worker.connected = (async () => {
      try {
        for await (const event of this.#options.live.connect(name, worker.abort.signal)) {
          if (!worker.queue.some((e) => e.ref === event.ref)) worker.queue.push(event);
          void this.#kick(entry);
        }
      } catch (error) {
        if (!worker.abort.signal.aborted) {
          this.#options.log.error("tmux_agent.stream_failed", { name, error });
        }
      }
    })();
  }

  async #stopWorker(entry: Entry): Promise<void> {
    const worker = entry.worker;
    if (!worker) return;
    entry.worker = undefined;
    worker.abort.abort();
    await worker.connected;
    await worker.draining;
    await worker.reviving;
  }

  /** One more pass over the entry's queue, after the ones already going. */
  #kick(entry: Entry): Promise<void> {
    const worker = entry.worker;
    if (!worker) return Promise.resolve();
    worker.draining = worker.draining.then(() => this.#drain(entry, worker)).catch((error) =>
      this.#options.log.error("tmux_agent.deliver_failed", { name: entry.record.name, error })
    );
    return worker.draining;
  }

  /** Types what waits, oldest first, and stops at the first message the pane cannot take. */
  async #drain(entry: Entry, worker: Worker): Promise<void> {
    const live = this.#options.live;
    const name = entry.record.name;
    while (worker.queue.length > 0 && !worker.abort.signal.aborted) {
      const event = worker.queue[0]!;
      if (!live.isUnread(name, event.ref)) {
        worker.queue.shift();
        continue;
      }
      const outcome = await this.#deliver(entry, event, worker);
      // What the wake did counts even when the worker was stopped meanwhile: a wake that had
      // pasted its text ends with its Enter (transports/tmux.ts), and a message typed must not
      // be typed again by the next worker.
      if (outcome.ok) {
        worker.queue.shift();
        worker.reported.delete(event.ref);
        await live.typed(name, event.ref);
        continue;
      }
      if (worker.abort.signal.aborted && !outcome.final) return;
      if (worker.reported.get(event.ref) !== outcome.detail) {
        worker.reported.set(event.ref, outcome.detail);
        await live.reportWake(name, [event.ref], { ok: false, detail: outcome.detail });
      }
      if (!outcome.final) return; // tried again at the next check, in the same order
      // Pasted but not submitted: typing it again would paste it twice. It stays unread.
      worker.queue.shift();
    }
  }

  async #deliver(
    entry: Entry,
    event: WakeEvent,
    worker: Worker,
  ): Promise<{ ok: true } | { ok: false; final: boolean; detail: string }> {
    const { record } = entry;
    const signal = worker.abort.signal;
    if (worker.reviving) {
      // The pane may be there already, but its agent is still starting.
      return { ok: false, final: false, detail: revivingDetail(record) };
    }
    const before = entry.pane;
    const resolved = await this.#look(entry);
    if (before !== entry.pane) await this.#publish(entry);
    if (!resolved.ok) {
      const detail = record.revive ? this.#reviveSoon(entry, worker, resolved) : resolved.detail;
      return { ok: false, final: false, detail };
    }
    let message: Message;
    try {
      const { channel, id } = refOf(event.ref);
      message = await this.#options.bus.transport.readMessage(channel, id);
    } catch (error) {
      this.#options.log.warn("live.unreadable", { name: record.name, message: event.ref, error });
      return { ok: false, final: true, detail: "the message can no longer be read" };
    }
    const marker = record.marker ?? WAKE_MARKER;
    const maxChars = record.max_chars ?? TMUX_AGENT_MAX_CHARS;
    const text = tmuxAgentText(message, event, {
      name: record.name,
      transportFlag: this.#options.transportFlag,
      marker,
      maxChars,
    });
    const { wakeTmux } = await import("../transports/tmux.ts");
    const options = {
      marker,
      maxChars,
      signal,
      ...(this.#options.tmux ? { tmux: this.#options.tmux } : {}),
      ...(record.socket ? { socket: record.socket } : {}),
      ...(record.enter_delay_ms === undefined ? {} : { enterDelayMs: record.enter_delay_ms }),
    };
    const where = `tmux pane ${resolved.pane} (${record.target})`;
    try {
      const result = await wakeTmux(resolved.pane, text, options);
      if (result.ok) return { ok: true };
      return {
        ok: false,
        // Missing, busy, a dialog, or tmux failing before the paste: nothing was typed, so it is
        // tried again. A paste that failed or was not followed by Enter may sit in the agent's
        // composer: typing it again would paste it twice.
        final: result.pasted,
        detail: `${where} ${result.reason}: ${result.detail}`,
      };
    } catch (error) {
      // Aborted (the agent was disabled or the engine stops): the drain stops with it.
      return { ok: false, final: false, detail: `${where}: ${errorText(error)}` };
    }
  }

  /**
   * Starts a revive of the entry's session unless one runs or the last one started less than
   * {@linkcode REVIVE_RETRY_MS} ago; returns what the sender is told meanwhile.
   */
  #reviveSoon(entry: Entry, worker: Worker, resolved: Resolved & { ok: false }): string {
    const { record } = entry;
    if (worker.reviving) return revivingDetail(record);
    const last = worker.revived;
    if (last && performance.now() - last.at < REVIVE_RETRY_MS) {
      const why = last.failure ? `revive failed: ${last.failure}` : "down again after a revive";
      return `${resolved.detail}; ${why} (revived at most once a minute)`;
    }
    void this.#reviveNow(entry, worker, resolved.dead);
    return revivingDetail(record);
  }

  /**
   * Starts a revive of the entry's session now (the caller made sure none runs); resolves with
   * the error it failed with, or undefined once the agent is up.
   */
  #reviveNow(entry: Entry, worker: Worker, dead: string | undefined): Promise<unknown> {
    const { record } = entry;
    worker.revived = { at: performance.now(), failure: undefined };
    const revive = this.#revive(entry, worker, dead).then(
      () => {
        this.#options.log.info("tmux_agent.revived", { name: record.name, target: record.target });
        return undefined;
      },
      (error: unknown) => {
        if (worker.abort.signal.aborted) return error ?? new Error("aborted");
        const failure = errorText(error);
        worker.revived = { at: worker.revived?.at ?? performance.now(), failure };
        this.#options.log.warn("tmux_agent.revive_failed", { name: record.name, error: failure });
        return error ?? new Error("failed");
      },
    ).finally(() => {
      worker.reviving = undefined;
      // Types what waits now, or tells the sender why it cannot.
      if (!worker.abort.signal.aborted) void this.#kick(entry);
    });
    worker.reviving = revive;
    this.#options.log.info("tmux_agent.reviving", { name: record.name, target: record.target });
    return revive;
  }

  /**
   * Runs the revive command (in a new detached session named after the target, or in the
   * target's dead pane), waits until its pane is ready, then the grace delay.
   *
   * @throws {Error} saying why the agent did not come up
   */
  async #revive(entry: Entry, worker: Worker, dead: string | undefined): Promise<void> {
    const { record } = entry;
    const signal = worker.abort.signal;
    const cwd = record.cwd ?? join(this.#options.stateDir, "workspace");
    if (record.cwd === undefined) {
      await Deno.mkdir(cwd, { recursive: true });
    } else if (!(await Deno.stat(cwd).catch(() => undefined))?.isDirectory) {
      throw new Error(`its folder ${JSON.stringify(cwd)} is not an existing folder`);
    }
    const command = record.revive!;
    let pane: string;
    if (dead) {
      // The user's remain-on-exit kept the pane: start the agent in it again.
      await this.#tmux(record, ["respawn-pane", "-t", dead, "-c", cwd, "--", command], signal);
      pane = dead;
    } else {
      // remain-on-exit, until the agent is up, keeps a command that fails in a dead pane whose
      // exit status says why.
      const session = record.target;
      const out = await this.#tmux(record, [
        ...["new-session", "-d", "-s", session, "-c", cwd, "-P", "-F", "#{pane_id}", "--", command],
        ...[";", "set-option", "-w", "-t", `=${session}:`, "remain-on-exit", "on"],
      ], signal);
      pane = out.split("\n")[0]!.trim();
      if (!/^%\d+$/.test(pane)) throw new Error(`tmux new-session did not name a pane: ${out}`);
    }
    try {
      await this.#waitUp(record, pane, signal);
      if (!dead) {
        await this.#tmux(record, ["set-option", "-w", "-u", "-t", pane, "remain-on-exit"], signal);
      }
    } catch (error) {
      if (!dead && !signal.aborted) {
        // Ours and dead: no one needs it, and a new session takes its name at the next try. Alive
        // (not ready in time, say at a dialog): it is the agent, left to the person to see to.
        const ended = (await this.#exitOf(record, pane)) !== undefined;
        const args = ended ? ["kill-pane", "-t", pane] : ["set-option", "-w", "-u", "-t", pane];
        await this.#tmux(record, ended ? args : [...args, "remain-on-exit"]).catch(() => {});
      }
      throw error;
    }
  }

  /** Waits until `pane` is ready (up to the revive timeout), then the grace delay; throws if it ends. */
  async #waitUp(record: TmuxAgentRecord, pane: string, signal: AbortSignal): Promise<void> {
    const { paneState } = await import("../transports/tmux.ts");
    const options = {
      signal,
      ...(this.#options.tmux ? { tmux: this.#options.tmux } : {}),
      ...(record.socket ? { socket: record.socket } : {}),
    };
    const timeout = record.revive_timeout_ms ?? REVIVE_TIMEOUT_MS;
    const deadline = performance.now() + timeout;
    for (;;) {
      const state = await paneState(pane, options);
      if (state === "ready") break;
      if (state === "missing") throw new Error(await this.#ended(record, pane, signal));
      if (performance.now() >= deadline) {
        throw new CrosstalkError(
          "ERR_TIMEOUT",
          `its pane ${pane} was not ready within ${timeout} ms (${state})`,
        );
      }
      await delay(REVIVE_POLL_MS, signal);
    }
    await delay(record.revive_grace_ms ?? REVIVE_GRACE_MS, signal);
    if ((await paneState(pane, options)) === "missing") {
      throw new Error(await this.#ended(record, pane, signal));
    }
  }

  /** Why a revived pane is gone. */
  async #ended(record: TmuxAgentRecord, pane: string, signal: AbortSignal): Promise<string> {
    let exit = await this.#exitOf(record, pane);
    // tmux may see the pane's end (its terminal closes) before it collects the exit status, and
    // for a command that ends at once it sometimes never shows it.
    for (let i = 0; exit === "exited" && i < 10; i++) {
      await delay(50, signal);
      exit = await this.#exitOf(record, pane);
    }
    if (exit === "exited") return "the revive command ended (exit status unknown)";
    return exit ? `the revive command ended (${exit})` : `its pane ${pane} closed`;
  }

  /** How a dead pane's command ended; undefined for a pane that is gone or alive. */
  async #exitOf(record: TmuxAgentRecord, pane: string): Promise<string | undefined> {
    const out = await this.#tmux(record, [
      "display-message",
      "-p",
      "-t",
      pane,
      "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}",
    ]).catch(() => "");
    const [dead, status, signal] = out.trim().split(":");
    if (dead !== "1") return undefined;
    if (status) return `exit status ${status}`;
    return signal ? `signal ${signal}` : "exited";
  }

  /** Runs tmux on the record's server (no shell); its stdout, or an error with its stderr. */
  async #tmux(record: TmuxAgentRecord, args: string[], signal?: AbortSignal): Promise<string> {
    const { runTmux } = await import("../transports/tmux.ts");
    const run = await runTmux(args, {
      ...(this.#options.tmux ? { tmux: this.#options.tmux } : {}),
      ...(record.socket ? { socket: record.socket } : {}),
      ...(signal ? { signal } : {}),
    });
    if (run.failed) throw new Error(run.detail);
    if (run.code !== 0) {
      const stderr = run.stderr.trim().split("\n").at(-1);
      throw new Error(`tmux ${args[0]} failed: ${stderr || `exit ${run.code}`}`);
    }
    return run.stdout;
  }

  #view(entry: Entry): TmuxAgentView {
    return {
      ...entry.record,
      pane: entry.pane ?? null,
      up: entry.up,
      marker: entry.record.marker ?? WAKE_MARKER,
      max_chars: entry.record.max_chars ?? TMUX_AGENT_MAX_CHARS,
      unread: this.#options.live.unreadCount(entry.record.name),
      revivable: entry.record.revive !== undefined,
    };
  }

  #entry(name: string): Entry {
    if (!isLiveName(name)) {
      throw new CrosstalkError("ERR_ADDRESS_INVALID", `Invalid agent name ${JSON.stringify(name)}`);
    }
    const entry = this.#entries.get(name);
    if (!entry) {
      throw new CrosstalkError(
        "ERR_AGENT_NOT_FOUND",
        `No tmux agent ${JSON.stringify(name)} here (see "crosstalk agent panes")`,
      );
    }
    return entry;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new CrosstalkError("ERR_ROUTE_NOT_FOUND", "The engine is stopping"));
    }
    const run = this.#op.catch(() => {}).then(fn);
    this.#op = run;
    return run;
  }

  async #load(): Promise<TmuxAgentRecord[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        this.#options.log.error("tmux_agent.state_unreadable", { file: this.#path, error });
      }
      return [];
    }
    let stored: unknown;
    try {
      stored = (JSON.parse(text) as { agents?: unknown }).agents;
      if (!Array.isArray(stored)) throw new SyntaxError("no agents list");
    } catch (error) {
      this.#options.log.error("tmux_agent.state_unreadable", { file: this.#path, error });
      return [];
    }
    const records: TmuxAgentRecord[] = [];
    for (const item of stored as Partial<TmuxAgentRecord>[]) {
      try {
        const record = checkSpec(item as TmuxAgentSpec, String(item.owner ?? ""));
        records.push({
          ...record,
          ...(item.tmux_server === undefined
            ? {}
            : { tmux_server: checkServerId(item.tmux_server) }),
          enabled: item.enabled !== false,
          added: typeof item.added === "string" ? item.added : record.added,
        });
      } catch (error) {
        this.#options.log.warn("tmux_agent.invalid", { file: this.#path, error });
      }
    }
    return records;
  }

  async #save(): Promise<void> {
    const agents = [...this.#entries.values()].map((e) => e.record);
    await writeFileAtomic(this.#path, `${JSON.stringify({ agents }, null, 2)}\n`, { mode: 0o600 });
  }
}

/**
 * Checks a registration and fills in its defaults.
 *
 * @throws {CrosstalkError} `ERR_ADDRESS_INVALID` for the name, `ERR_BODY_INVALID` for the rest
 */
export function checkSpec(spec: TmuxAgentSpec, owner: string): TmuxAgentRecord {
  if (typeof spec?.name !== "string" || !isLiveName(spec.name)) {
    throw new CrosstalkError(
      "ERR_ADDRESS_INVALID",
      `Invalid agent name ${
        JSON.stringify(spec?.name)
      } (1 to 56 letters, digits, . _ -, starting with a letter or digit; not all, workflow, here, me)`,
    );
  }
  checkTmuxTarget(spec.target);
  const record: TmuxAgentRecord = {
    name: spec.name,
    target: spec.target,
    agent: spec.agent ?? "tmux",
    enabled: true,
    owner,
    added: new Date().toISOString(),
  };
  if (typeof record.agent !== "string" || !AGENT_RE.test(record.agent)) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Invalid agent ${JSON.stringify(spec.agent)}: 1 to 64 letters, digits, . _ + -`,
    );
  }
  if (spec.model !== undefined) {
    if (typeof spec.model !== "string" || !ROLE_RE.test(spec.model)) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        "Invalid model: 1 to 100 letters, digits, spaces or @ % : . / + - _",
      );
    }
    record.model = spec.model;
  }
  if (spec.role !== undefined) {
    if (typeof spec.role !== "string" || !ROLE_RE.test(spec.role)) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        "Invalid role: 1 to 100 letters, digits, spaces or @ % : . / + - _",
      );
    }
    record.role = spec.role;
  }
  const delay = spec.enter_delay_ms;
  if (delay !== undefined) {
    if (typeof delay !== "number" || !Number.isInteger(delay) || delay < 0 || delay > 10_000) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `Invalid enter delay ${
          JSON.stringify(delay)
        }: a whole number of ms from 0 to ${MAX_ENTER_DELAY_MS}`,
      );
    }
    record.enter_delay_ms = delay;
  }
  if (spec.socket !== undefined) {
    checkTmuxSocket(spec.socket);
    record.socket = spec.socket;
  }
  checkTypedText({ marker: spec.marker, maxChars: spec.max_chars }, {
    reserve: TMUX_AGENT_RESERVE,
    reserveFor: "the header, the pointer to the whole message and the reply line of a cut message",
  });
  if (spec.marker !== undefined) record.marker = spec.marker;
  if (spec.max_chars !== undefined) record.max_chars = spec.max_chars;
  checkRevive(spec, record);
  return record;
}

/** Checks the revive fields of `spec` and copies them into `record`. */
function checkRevive(spec: TmuxAgentSpec, record: TmuxAgentRecord): void {
  const { revive, cwd } = spec;
  if (revive === undefined) {
    for (const key of REVIVE_SETTINGS) {
      if (spec[key] !== undefined) {
        throw new CrosstalkError(
          "ERR_BODY_INVALID",
          `"${key}" is for a revive command: give "revive" too`,
        );
      }
    }
    return;
  }
  if (
    typeof revive !== "string" || revive.trim() === "" ||
    Array.from(revive).length > MAX_REVIVE_CHARS ||
    // deno-lint-ignore no-control-regex
    /[\0-\x08\x0a-\x1f\x7f]/.test(revive)
  ) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Invalid revive command ${
        JSON.stringify(typeof revive === "string" ? revive.slice(0, 80) : revive)
      }: 1 to ${MAX_REVIVE_CHARS} characters on one line, without control characters`,
    );
  }
  if (!SESSION_RE.test(record.target)) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Cannot revive tmux target "${record.target}": a revive starts a session named after the target, so the target must be a session name (like "aider"), not ${
        record.target.startsWith("%") ? "a pane id, which tmux chooses itself" : "a window or pane"
      }`,
    );
  }
  record.revive = revive;
  if (cwd !== undefined) {
    if (
      typeof cwd !== "string" || !cwd.startsWith("/") || cwd.length > 1024 ||
      // deno-lint-ignore no-control-regex
      /[\0-\x1f\x7f]/.test(cwd) || cwd.split("/").includes("..")
    ) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `Invalid cwd ${
          JSON.stringify(typeof cwd === "string" ? cwd.slice(0, 80) : cwd)
        }: an absolute path to an existing folder, without ".."`,
      );
    }
    record.cwd = cwd;
  }
  const limits = [
    ["revive_timeout_ms", "revive timeout", 1000, MAX_REVIVE_TIMEOUT_MS],
    ["revive_grace_ms", "revive grace", 0, MAX_REVIVE_GRACE_MS],
  ] as const;
  for (const [key, what, min, max] of limits) {
    const value = spec[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `Invalid ${what} ${JSON.stringify(value)}: a whole number of ms from ${min} to ${max}`,
      );
    }
    record[key] = value;
  }
}

/**
 * Refuses a stored server run that is not `{pid, start_time}` with whole numbers.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID`
 */
function checkServerId(value: unknown): TmuxServerId {
  const { pid, start_time } = (value ?? {}) as Partial<TmuxServerId>;
  if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(start_time)) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Invalid tmux_server ${JSON.stringify(value)}: {"pid", "start_time"}, whole numbers`,
    );
  }
  return { pid: pid!, start_time: start_time! };
}

/**
 * Refuses a path that is not an existing folder.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID`
 */
async function checkFolder(path: string): Promise<void> {
  const info = await Deno.stat(path).catch(() => undefined);
  if (!info?.isDirectory) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Invalid cwd ${JSON.stringify(path)}: ${info ? "not a folder" : "no such folder"}`,
    );
  }
}

/** What the sender is told while the agent's session is being started again. */
function revivingDetail(record: TmuxAgentRecord): string {
  return `tmux target ${record.target} missing: starting it with its revive command`;
}

/** Waits `ms`, or rejects with the signal's reason when it is aborted first. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const onAbort = () => {
    clearTimeout(timer);
    reject(signal.reason);
  };
  const timer = setTimeout(() => {
    signal.removeEventListener("abort", onAbort);
    resolve();
  }, ms);
  signal.addEventListener("abort", onAbort, { once: true });
  return promise;
}

/** True when `a` and `b` are one file (a socket under two paths: a link, `//`); false for `""`. */
export async function sameFile(a: string, b: string): Promise<boolean> {
  if (a === "" || b === "") return false;
  if (a === b) return true;
  const real = (path: string) => Deno.realPath(path).catch(() => path);
  return (await real(a)) === (await real(b));
}

/**
 * Refuses a tmux socket that is not an absolute path without `..` and control characters.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID`
 */
export function checkTmuxSocket(socket: unknown): asserts socket is string {
  if (
    typeof socket !== "string" || !socket.startsWith("/") || socket.length > 1024 ||
    // deno-lint-ignore no-control-regex
    /[\0-\x1f\x7f]/.test(socket) || socket.split("/").includes("..")
  ) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Invalid tmux socket ${JSON.stringify(socket)}: an absolute path without ".."`,
    );
  }
}

/**
 * Refuses anything but a pane id (`%3`) or a session name with an optional window and pane
 * (`codex`, `codex:1`, `codex:editor.2`).
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID`
 */
export function checkTmuxTarget(target: unknown): asserts target is string {
  if (typeof target !== "string" || !TARGET_RE.test(target)) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `Invalid tmux target ${
        JSON.stringify(typeof target === "string" ? target.slice(0, 80) : target)
      }: a pane id like %3, or a session name (letters, digits, _ -) with an optional :window and .pane`,
    );
  }
}

/** Options for {@linkcode tmuxAgentText}. */
export interface TmuxAgentTextOptions {
  /** The agent's name: the sender of a reply. */
  name: string;
  /** How a shell names the transport (see {@linkcode TmuxAgentsOptions.transportFlag}). */
  transportFlag: string;
  /** The cap, marker included (default {@linkcode TMUX_AGENT_MAX_CHARS}). */
  maxChars?: number;
  /** The marker the tmux transport puts first (default {@linkcode WAKE_MARKER}; `""`: none). */
  marker?: string;
}

/**
 * The text typed into a pane for `message` (without the marker, which the tmux transport puts
 * first): who wrote to whom where and when (`at HH:MM UTC`, {@linkcode sentAt}), the message's id,
 * the whole body, and how to answer from a shell. A body too long for the cap (default {@linkcode TMUX_AGENT_MAX_CHARS}) is cut, with the
 * command that shows it whole. A cap too small even for the rest (very long names) leaves no body,
 * and the tmux transport then cuts the end.
 */
export function tmuxAgentText(
  message: Message,
  event: Pick<WakeEvent, "channelName" | "noReply" | "loopWarning">,
  options: TmuxAgentTextOptions,
): string {
  const ref = `${message.channel}/${message.id}`;
  const flag = options.transportFlag ? ` ${options.transportFlag}` : "";
  const to = message.to.join(", ");
  const head = `${message.from} -> ${to} in #${event.channelName}${
    message.re?.length ? " (a reply)" : ""
  }${sentAt(message.id)}, message ${ref}:\n`;
  const tail: string[] = [];
  if (event.loopWarning) tail.push(`(loop warning: ${event.loopWarning})`);
  tail.push(
    event.noReply
      ? "(no reply needed)"
      : `(reply from a shell: crosstalk message send${flag} --channel ${message.channel} --re ${message.id} --from ${options.name} --to ${message.from} "…")`,
  );
  const foot = `\n${tail.join("\n")}`;
  const marker = options.marker ?? WAKE_MARKER;
  const max = (options.maxChars ?? TMUX_AGENT_MAX_CHARS) -
    (marker === "" ? 0 : Array.from(marker).length + 1);
  const body = message.body.replace(/\s+$/, "");
  const whole = head + body + foot;
  if (Array.from(whole).length <= max) return whole;
  const pointer = `…\n(cut at ${
    options.maxChars ?? TMUX_AGENT_MAX_CHARS
  } characters; the whole message: crosstalk message show${flag} ${ref})`;
  const room = max - Array.from(head + pointer + foot).length;
  return head + Array.from(body).slice(0, Math.max(0, room)).join("").trimEnd() + pointer + foot;
}

/**
 * The pane `target` names now, with `tmux display-message -p -t`. A session name is matched
 * exactly (`=name:`), never as a prefix of another session's name. A pane id registered on another
 * run of the server (`tmux_server`) names no pane of this one: missing, with why.
 */
export async function resolveTarget(
  record: Pick<TmuxAgentRecord, "name" | "target" | "socket" | "tmux_server">,
  tmux = "tmux",
): Promise<Resolved> {
  const target = record.target.startsWith("%")
    ? record.target
    : `=${record.target}${record.target.includes(":") ? "" : ":"}`;
  const { runTmux } = await import("../transports/tmux.ts");
  // The window's name last: it may hold a colon.
  const format =
    "#{pane_id}:#{pane_dead}:#{pid}:#{start_time}:#{window_index}:#{pane_index}:#{window_name}";
  const run = await runTmux(["display-message", "-p", "-t", target, format], {
    tmux,
    ...(record.socket ? { socket: record.socket } : {}),
  });
  if (run.failed) return { ok: false, detail: run.detail };
  const [pane = "", dead, pid, started, window, index, ...name] = run.stdout.trim().split(":");
  const was = record.target.startsWith("%") ? record.tmux_server : undefined;
  // A server that answered is one run or another, whether or not it has the pane.
  if (was && run.code === 0 && (String(was.pid) !== pid || String(was.start_time) !== started)) {
    return { ok: false, detail: earlierServer(record, was) };
  }
  // display-message answers an unknown target with an empty line and exit 0.
  if (run.code === 0 && /^%\d+$/.test(pane)) {
    // A pane kept by remain-on-exit after its program ended: down, as good as missing.
    if (dead === "1") {
      return {
        ok: false,
        detail: `tmux target ${record.target}: pane ${pane} is dead`,
        dead: pane,
      };
    }
    // A window or pane closed since registration: tmux answered with another one.
    const mismatch = mismatchOf(record.target, {
      window: Number(window),
      windowName: name.join(":"),
      index: Number(index),
    });
    if (mismatch) return { ok: false, detail: `tmux target ${record.target} missing: ${mismatch}` };
    return { ok: true, pane };
  }
  const stderr = run.stderr.trim().split("\n").at(-1) ?? "";
  return { ok: false, detail: `tmux target ${record.target} missing: ${stderr || "no such pane"}` };
}

/** Why a pane id registered on an earlier run of its tmux server is not typed into. */
function earlierServer(
  record: Pick<TmuxAgentRecord, "name" | "target">,
  was: TmuxServerId,
): string {
  const started = new Date(was.start_time * 1000).toISOString();
  return `tmux pane id ${record.target} belongs to an earlier tmux server (pid ${was.pid}, started ${started}), and may name another pane now: nothing typed; run "crosstalk agent discover" to find the agent's pane, then "crosstalk agent edit ${record.name} --tmux PANE"`;
}

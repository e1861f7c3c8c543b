/**
 * `Engine`: one per machine and transport. It owns the bus, the machine-local state dir (pid,
 * cursor, status, logs), the feed of new messages and the dispatcher that runs agent CLIs on
 * them, and the timers that keep claims and the registry alive.
 */
import { join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import {
  AnnotationStore,
  type ClaimPublisher,
  type CommitError,
  Cursor,
  detectWatchMode,
  exists,
  formatMessageId,
  gitConfigStamp,
  GitSync,
  GitTransport,
  type Holder,
  LATE_WINDOW_MS,
  type Message,
  MessageFeed,
  recoverGitClone,
  remoteUrl,
  tryParseMessageId,
  writeFileAtomic,
} from "../transports/mod.ts";
import { EngineKey, tokenExpiry, verifyNudge } from "./auth.ts";
import { registryKeyOf, sendNudge } from "./nudge.ts";
import { SyncLoop, type SyncStatus } from "./sync.ts";
import { randomHex } from "../transports/_fs.ts";
import { Bus } from "./bus.ts";
import { loadConfig } from "./config.ts";
import { Dispatcher, traceOf } from "./dispatcher.ts";
import { Logger, type LogSink } from "./log.ts";
import { type Env, storageBase, type TransportLocation } from "./paths.ts";
import {
  HEARTBEAT_SECONDS,
  listRegistry,
  type RegistryCommit,
  removeRegistry,
  touchRegistry,
  writeRegistry,
} from "./registry.ts";
import { initTransport } from "./setup.ts";
import { VERSION } from "./version.ts";
import { HERE, type LiveAgentInfo, LiveAgents, type Registration } from "./live.ts";
import { type TaskActor, taskOf } from "./tasks.ts";
import { shellWord } from "./which.ts";
import { TmuxAgents } from "./tmux_agents.ts";
import { Workflows } from "./workflow.ts";
import { allModels, resolveAddress } from "./models.ts";

/** With OS file events, how often the engine still rescans the bus, in case a delivery failed. */
export const SAFETY_RESCAN_MS = 30_000;

/** An annotation file: `data/annotations/<channel>/<YYYY>/<MM>/<DD>/<stem>~<kind>[~…].json`. */
const ANNOTATION_PATH =
  /^data\/annotations\/([0-9a-f-]{36})\/(\d{4})\/(\d{2})\/(\d{2})\/([^~/]+)~([a-z-]+)(?:~[^/]*)?\.json$/;

/** At most one fetch per this interval for nudges from engines whose key is not known yet. */
const UNKNOWN_NUDGE_INTERVAL_MS = 5_000;
/** Nudge tokens checked here, kept until this long before they expire (a sender reuses one). */
const NUDGE_TOKEN_MARGIN_MS = 10_000;
/** How long the list of engines to nudge is reused (a new engine is nudged after this at most). */
const NUDGE_PEERS_MS = 2_000;

/** How often the engine proves it is alive (registry mtime, status file). */
export { HEARTBEAT_SECONDS };

/** Options for {@linkcode Engine.start}. */
export interface EngineOptions {
  env: Env;
  /** This machine's name on the bus; default the transport's name. */
  alias?: string | undefined;
  /** Where log records go besides the state dir's log file (e.g. stderr). */
  sinks?: LogSink[];
  /** Create the transport when it does not exist yet (the built-in default does). */
  createIfMissing?: boolean;
  /** The URL of this engine's HTTP API, published for nudges from other machines. */
  api?: string | undefined;
}

/** Who can be reached on the transport, on every machine. */
export interface Peers {
  agents: LiveAgentInfo[];
  models: { model: string; machines: string[] }[];
  humans: string[];
}

/** The engine's own view of itself, written to `status.json` in the state dir. */
export interface EngineStatus {
  alias: string;
  root: string;
  pid: number;
  host: string;
  version: string;
  started: string;
  heartbeat: string;
  stopped: boolean;
  watch: "events" | "poll";
  claimed: string[];
  unclaimed: { model: string; reason: string }[];
  queued: number;
  running: { model: string; channel: string; ids: string[]; pid?: number; since: string }[];
  /** The git sync, on a git transport with a remote. */
  sync?: SyncStatus;
  /** On a git transport, while commits of sent messages fail (they are kept and retried). */
  commit?: CommitError;
}

/** How long the feed waits for this engine's sends in flight before it reads a new file. */
const SEND_SETTLE_MS = 100;

/** The engine of one transport on this machine. */
export class Engine implements AsyncDisposable {
  readonly bus: Bus;
  readonly cursor: Cursor;
  readonly dispatcher: Dispatcher;
  /** The workflows this engine coordinates. */
  readonly workflows: Workflows;
  readonly log: Logger;
  readonly location: TransportLocation;
  readonly alias: string;
  /** The live agent sessions attached to this engine. */
  readonly live: LiveAgents;
  /** The tmux panes registered on this machine, which the engine types messages into. */
  readonly tmuxAgents: TmuxAgents;
  /** Tasks, badges and receipts on the bus. */
  readonly annotations: AnnotationStore;
  #feed: MessageFeed;
  #watch: "events" | "poll";
  #env: Env;
  #started = new Date();
  #timers: ReturnType<typeof setInterval>[] = [];
  #statusTimer: ReturnType<typeof setTimeout> | undefined;
  /** On a first start, until its first scan is done: the id before which history is left alone. */
  #baseline: string | undefined;
  #stopping: Promise<void> | undefined;
  #holder: Holder;
  /** The state dir, held while this engine runs. */
  #claim: StateDirClaim;
  #sync: SyncLoop | undefined;
  #key: EngineKey | undefined;
  #api: string | undefined;
  #feedStarted = false;
  #stopSent: (() => void) | undefined;
  #stopCommitErrors: (() => void) | undefined;
  #early: string[] = [];
  #nudgeFailures = new Map<string, string>();
  #unknownNudgeAt = 0;
  /** Nudge tokens already verified: sender and until when (ms) the check holds. */
  #nudgesSeen = new Map<string, { from: string; until: number }>();
  #nudgePeersCache:
    | { at: number; key: string; peers: { alias: string; api?: string }[] }
    | undefined;
  #isUser: (name: string) => boolean = () => false;
  #users: () => string[] = () => [];
  #presenceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The URL of the clone's `origin` that the sync loop was built for (git transports). */
  #remote: string | undefined;
  /** `.git/config` as last looked at (see #remoteTick). */
  #configStamp: string | undefined;
  /** The last look at the remote failed: the next heartbeat looks again. */
  #remoteFailed = false;
  /** Looks at the remote, one at a time. */
  #remoteCheck: Promise<void> = Promise.resolve();

  private constructor(
    parts: {
      bus: Bus;
      cursor: Cursor;
      log: Logger;
      location: TransportLocation;
      alias: string;
      live: LiveAgents;
      tmuxAgents: TmuxAgents;
      annotations: AnnotationStore;
      claim: StateDirClaim;
    },
    holder: Holder,
    watch: "events" | "poll",
    baseline: string | undefined,
    env: Env,
    git: {
      sync?: GitSync | undefined;
      key?: EngineKey | undefined;
      api?: string | undefined;
      remote?: string | undefined;
      configStamp?: string | undefined;
    },
  ) {
    this.#holder = holder;
    this.#key = git.key;
    this.#api = git.api;
    this.#remote = git.remote;
    this.#configStamp = git.configStamp;
    this.bus = parts.bus;
    this.cursor = parts.cursor;
    this.log = parts.log;
    this.location = parts.location;
    this.alias = parts.alias;
    this.live = parts.live;
    this.tmuxAgents = parts.tmuxAgents;
    this.annotations = parts.annotations;
    this.#claim = parts.claim;
    this.#watch = watch;
    this.#baseline = baseline;
    this.#env = env;
    if (git.sync) this.#sync = this.#syncLoop(git.sync);
    this.dispatcher = new Dispatcher({
      bus: parts.bus,
      alias: parts.alias,
      stateDir: parts.location.stateDir,
      env,
      log: parts.log,
      holder,
      onChange: () => this.#scheduleStatus(),
      publisher: this.#publisher(),
      liveness: (h) => this.#sync?.alive(h),
    });
    this.workflows = new Workflows({
      bus: parts.bus,
      alias: parts.alias,
      holder,
      log: parts.log,
      claims: this.dispatcher.claims,
      liveness: (h) => this.#sync?.alive(h),
    });
    this.#feed = new MessageFeed(parts.bus.transport, (messages) => this.onMessages(messages), {
      cursor: parts.cursor,
      // An API send's watch event often comes before the send hands its message over; waiting
      // is bounded, so that nothing a send might wait for can stall the feed.
      beforeRead: (handedOver) => parts.bus.sendsInFlight(SEND_SETTLE_MS, handedOver),
      mode: watch,
      // With OS events, a slow safety rescan still picks up anything a failed delivery left.
      pollIntervalMs: watch === "poll"
        ? parts.bus.config.engine.poll_interval_ms
        : SAFETY_RESCAN_MS,
      onBad: (bad) =>
        this.log.warn("file.invalid", {
          file: bad.file,
          line: bad.line,
          column: bad.column,
          reason: bad.message,
        }),
      onError: (error) => this.log.error("feed.error", { error }),
    });
  }

  /**
   * Opens the transport and the state dir, claims models, and delivers what arrived while the
   * engine was down.
   *
   * @throws {CrosstalkError} `ERR_ENGINE_RUNNING` when another engine uses this state dir, and
   *   the errors of {@linkcode Bus.open}
   */
  static async start(location: TransportLocation, options: EngineOptions): Promise<Engine> {
    if (options.createIfMissing && !(await exists(join(location.root, "CROSSTALK-VERSION")))) {
      await initTransport(location, { kind: "git" });
    }
    const bus = await Bus.open(location, { env: options.env, backgroundCommits: true });
    await prepareStateDir(location.stateDir);
    const claim = await claimStateDir(location.stateDir);
    const log = await Logger.open(location.stateDir, options.sinks ?? []).catch(async (error) => {
      await claim.release();
      throw error;
    });
    try {
      const alias = options.alias ?? location.name;
      for (const p of bus.config.problems) {
        log.warn("config.problem", {
          severity: p.severity,
          file: p.file,
          line: p.line,
          column: p.column,
          path: p.path,
          reason: p.message,
        });
      }
      const holder: Holder = {
        alias,
        host: Deno.hostname(),
        pid: Deno.pid,
        instance: randomHex(16),
      };
      const cursorPath = join(location.stateDir, "cursor");
      const baseline = await baselineHorizon(location.stateDir, !(await exists(cursorPath)));
      const cursor = await Cursor.open(cursorPath);
      const setting = bus.config.engine.watch;
      const watch = setting === "auto" ? await detectWatchMode(bus.transport.channelsDir) : setting;
      let sync: GitSync | undefined;
      let key: EngineKey | undefined;
      let remote: string | undefined;
      let configStamp: string | undefined;
      if (bus.transport instanceof GitTransport) {
        for (const done of await recoverGitClone(bus.transport)) {
          log.warn("git.recovered", { done });
        }
        // Read before the remote: a change made meanwhile shows at the next heartbeat.
        configStamp = await gitConfigStamp(bus.transport.root);
        remote = await remoteUrl(bus.transport.root);
        if (remote !== undefined) {
          sync = await GitSync.open(bus.transport, {
            ...Engine.#syncOptions(bus, location),
            guard: (fn) => engine.#feed.exclusive(fn),
            onRecreating: (arrivals) => engine.#feed.keepArrivals(arrivals),
          });
        }
        if (sync) key = await EngineKey.open(location.stateDir);
      }
      const publisher = Engine.#publisherFor(bus, () => engine.#sync);
      const annotations = new AnnotationStore(location.root, {
        publisher,
        onError: (error) => log.warn("annotation.record_failed", { error }),
      });
      const live = await LiveAgents.open({
        bus,
        alias,
        stateDir: location.stateDir,
        log,
        annotations,
        knownSender: (from) => engine.#knownSender(from),
        isRemoteAgent: (name) => engine.#peerAgents.has(name),
        onChange: () => engine.#presenceChanged(),
        handled: (ref) => cursor.has(ref),
      });
      const tmuxAgents = await TmuxAgents.open({
        bus,
        live,
        stateDir: location.stateDir,
        log,
        isTaken: (name) => engine.#nameTaken(name),
        transportFlag: transportFlagOf(location, options.env),
      });
      const engine: Engine = new Engine(
        { bus, cursor, log, location, alias, live, tmuxAgents, annotations, claim },
        holder,
        watch,
        baseline,
        options.env,
        { sync, key, api: options.api, remote: sync ? remote : undefined, configStamp },
      );
      await engine.#begin();
      return engine;
    } catch (error) {
      log.error("engine.start_failed", { error });
      log.close();
      await claim.release();
      throw error;
    }
  }

  async #begin(): Promise<void> {
    await this.dispatcher.claimModels();
    await writeRegistry(this.bus.transport.root, this.#registryEntry(), this.#registryCommit());
    // Before the first sweep: it needs the other engines' presence to judge their claims.
    await this.#sync?.start();
    await this.dispatcher.sweep();
    await this.workflows.sweep();
    // An engine that starts with no cursor leaves old history alone: it neither reads nor runs it.
    await this.#feed.start(this.#baseline ? { ignoreBefore: this.#baseline } : {});
    if (this.#baseline) {
      await Deno.remove(join(this.location.stateDir, BASELINE_FILE)).catch((error) =>
        this.log.warn("engine.baseline_kept", { error })
      );
    }
    this.#baseline = undefined;
    this.#feedStarted = true;
    await this.tmuxAgents.start();
    if (this.#early.length > 0) this.#feed.deliver(this.#early.splice(0));
    // What this engine's API writes goes to the feed as it is: no watch event to wait for, no
    // file to read back.
    this.#stopSent = this.bus.onSent((message) => this.#feed.deliverWritten(message));
    const transport = this.bus.transport;
    if (transport instanceof GitTransport) {
      // Sends do not wait for their commit: a commit that fails is retried, logged and shown in
      // the status until a retry succeeds.
      let failing = false;
      const stopErrors = transport.onCommitError((error) => {
        if (!failing) this.log.error("git.commit_failed", { error });
        failing = true;
        this.#scheduleStatus();
      });
      const stopCommits = transport.onCommit(() => {
        if (!failing || transport.commitError) return;
        failing = false;
        this.log.info("git.commit_recovered", {});
        this.#scheduleStatus();
      });
      const stopRepairs = transport.onRepair((done) => this.log.warn("git.recovered", { done }));
      this.#stopCommitErrors = () => (stopErrors(), stopCommits(), stopRepairs());
    }
    const leaseMs = this.bus.config.engine.lease_seconds * 1000;
    this.#timers.push(setInterval(() => {
      this.dispatcher.sweep().catch((error) => this.log.error("sweep.failed", { error }));
      this.workflows.sweep().catch((error) => this.log.error("sweep.failed", { error }));
    }, Math.max(200, Math.floor(leaseMs / 2))));
    this.#timers.push(setInterval(() => {
      touchRegistry(this.bus.transport.root, this.alias).catch(() => {});
      this.#writeStatus().catch(() => {});
      this.#refreshPeerNames().catch(() => {});
      void this.#remoteTick();
    }, HEARTBEAT_SECONDS * 1000));
    await this.#refreshPeerNames().catch(() => {});
    await this.#writeStatus();
    this.log.info("engine.ready", {
      root: this.location.root,
      alias: this.alias,
      watch: this.#watch,
      ...(this.#sync ? { remote: this.#sync.sync.url } : {}),
      state: this.location.stateDir,
      models: this.dispatcher.claimed.map((m) => `${m.spec.provider}/${m.spec.name}`),
    });
  }

  /** Handles a batch of new messages, in channel and id order. */
  async onMessages(messages: Message[]): Promise<void> {
    for (const message of messages) {
      this.log.info("message.new", {
        trace: traceOf(message),
        ref: `${message.channel}/${message.id}`,
        from: message.from,
        to: message.to,
        ...(message.exclude ? { exclude: message.exclude } : {}),
        ...(message.re ? { re: message.re } : {}),
      });
    }
    await Promise.all([
      this.live.onMessages(messages),
      this.dispatcher.handle(messages),
      this.workflows.onMessages(messages),
    ]);
  }

  /** Tells the engine who the users of its API are (live agents may not take their names). */
  setUsers(users: () => string[]): void {
    this.#users = users;
    this.#isUser = (name) => users().includes(name);
  }

  /**
   * Registers a live agent session of `owner` on this machine.
   *
   * @throws {CrosstalkError} `ERR_ADDRESS_INVALID` for a name that is taken or not one
   */
  registerLive(input: Registration, owner: string): ReturnType<LiveAgents["register"]> {
    return this.live.register(input, owner, (name) => this.#nameTaken(name));
  }

  /** A name no live agent may take: a user's, this machine's alias, a model's or a reserved one. */
  #nameTaken(name: string): boolean {
    if (this.#isUser(name) || name === this.alias) return true;
    try {
      return resolveAddress(name, this.bus.config).kind !== "participant";
    } catch {
      return true;
    }
  }

  /** Live agents, models and humans on every machine of the transport. */
  async peers(): Promise<Peers> {
    const agents = new Map<string, LiveAgentInfo>();
    const humans = new Set(this.#users());
    const machines = new Map<string, string[]>();
    const timeoutMs = this.bus.config.git.presence_timeout_seconds * 1000;
    const ages = this.#sync?.presence();
    const entries = await listRegistry(
      this.bus.transport.root,
      Date.now(),
      ages ? { ages, timeoutMs } : undefined,
    );
    for (const entry of entries) {
      if (entry.alias === this.alias) continue;
      for (const model of entry.stale ? [] : entry.models) {
        machines.set(model, [...(machines.get(model) ?? []), entry.alias]);
      }
      const presence = ages?.get(entry.alias) as { agents?: unknown; users?: unknown } | undefined;
      const published = (presence?.agents ?? entry.live ?? []) as unknown as LiveAgentInfo[];
      for (const agent of Array.isArray(published) ? published : []) {
        if (typeof agent?.name !== "string") continue;
        agents.set(agent.name, { ...agent, online: agent.online && !entry.stale });
      }
      for (const user of (Array.isArray(presence?.users) ? presence.users : entry.users) ?? []) {
        if (typeof user === "string") humans.add(user);
      }
    }
    for (const agent of this.live.list()) agents.set(agent.name, agent);
    for (const claimed of this.dispatcher.claimed) {
      const model = `${claimed.spec.provider}/${claimed.spec.name}`;
      machines.set(model, [this.alias, ...(machines.get(model) ?? [])]);
    }
    const models = allModels(this.bus.config).map((m) => {
      const model = `${m.provider}/${m.name}`;
      return { model, machines: machines.get(model) ?? [] };
    });
    return {
      agents: [...agents.values()].sort((a, b) => a.name.localeCompare(b.name)),
      models,
      humans: [...humans].sort(),
    };
  }

  /**
   * The addressees of `to` that nobody on the transport answers to: no user, live agent (of any
   * machine) or model has that name. A message to one is written all the same (someone of that
   * name may come), but its sender is told, since it is most often a typo.
   */
  async unknownAddressees(to: string[]): Promise<string[]> {
    const unknown: string[] = [];
    // `to` as written on a message: one address each, checked when it was sent.
    for (const address of to) {
      let target;
      try {
        target = resolveAddress(address, this.bus.config);
      } catch {
        continue;
      }
      if (target.kind !== "participant" || target.name === HERE) continue;
      if (!(await this.#knownSender(address))) unknown.push(address);
    }
    return unknown;
  }

  /**
   * Who `name` is to the task flow, for a request that acts as that name (an admin's `from`): a
   * tmux agent of this engine, with the role and folder (`cwd`) of its registration; a live agent,
   * of this machine or another, with the role and folder it registered; a user; or a model (named
   * as `provider/model`, as its runs' tokens are), with neither.
   *
   * @throws {CrosstalkError} `ERR_ADDRESS_INVALID` when no tmux agent, live agent, user or model
   *   has that name
   */
  async taskActor(name: string): Promise<TaskActor> {
    const pane = this.tmuxAgents.registration(name);
    if (pane) return { name, role: pane.role, cwd: pane.cwd };
    if (this.live.has(name)) {
      const agent = this.live.get(name);
      return { name, role: agent.role, cwd: agent.cwd };
    }
    const peers = await this.peers();
    const peer = peers.agents.find((agent) => agent.name === name);
    if (peer) return { name, role: peer.role, cwd: peer.cwd };
    if (peers.humans.includes(name)) return { name };
    try {
      const target = resolveAddress(name, this.bus.config);
      if (target.kind === "model") return { name: `${target.model.provider}/${target.model.name}` };
    } catch {
      // No address at all: nobody has that name.
    }
    throw new CrosstalkError(
      "ERR_ADDRESS_INVALID",
      `No tmux agent, live agent, user or model is called ${JSON.stringify(name.slice(0, 100))}`,
    );
  }

  /** A sender that belongs to the transport: a user, a model, a live agent or an engine. */
  async #knownSender(from: string): Promise<boolean> {
    if (this.#known(from)) return true;
    // Someone new, maybe from another machine: look again (at most a few times a second).
    if (Date.now() - this.#peersReadAt < 200) return false;
    await this.#refreshPeerNames().catch(() => {});
    return this.#known(from);
  }

  #known(from: string): boolean {
    const [name, alias] = from.split("@");
    if (!name) return false;
    if (alias !== undefined && alias !== this.alias && !this.#knownAliases.has(alias)) {
      return false;
    }
    if (this.#isUser(name) || this.live.has(name) || this.#peerNames.has(name)) return true;
    try {
      return resolveAddress(name, this.bus.config).kind === "model";
    } catch {
      return false;
    }
  }

  #peerNames = new Set<string>();
  #peerAgents = new Set<string>();
  #knownAliases = new Set<string>();
  #peersReadAt = 0;

  /** Refreshes the names other machines publish (senders that may wake live agents). */
  async #refreshPeerNames(): Promise<void> {
    this.#peersReadAt = Date.now();
    const peers = await this.peers();
    this.#peerAgents = new Set(peers.agents.map((a) => a.name).filter((n) => !this.live.has(n)));
    this.#peerNames = new Set([...this.#peerAgents, ...peers.humans]);
    const registry = await listRegistry(this.bus.transport.root);
    this.#knownAliases = new Set(registry.map((d) => d.alias));
  }

  /** The public view of the live agents changed: tell the other machines soon. */
  #presenceChanged(): void {
    if (this.#presenceTimer !== undefined) return;
    this.#presenceTimer = setTimeout(() => {
      this.#presenceTimer = undefined;
      if (this.#stopping) return;
      if (this.#sync) this.#sync.republish();
      else {
        writeRegistry(this.bus.transport.root, this.#registryEntry(), this.#registryCommit())
          .catch((error) => this.log.warn("registry.write_failed", { error }));
      }
    }, 50);
  }

  /**
   * Rereads `data/crosstalk.yaml` (an invalid file is reported and the old config kept), and
   * looks at the clone's remote again (see {@linkcode Engine.checkRemote}). Returns false when
   * the config was invalid.
   */
  async reload(): Promise<boolean> {
    const loaded = await this.#reloadConfig();
    await this.checkRemote();
    return loaded;
  }

  async #reloadConfig(): Promise<boolean> {
    try {
      const config = await loadConfig(this.location.root, { env: this.#env });
      this.bus.replaceConfig(config);
      await this.dispatcher.claimModels(config);
      await writeRegistry(this.bus.transport.root, this.#registryEntry(), this.#registryCommit());
      this.log.info("config.reloaded", { problems: config.problems.length });
      await this.#writeStatus();
      return true;
    } catch (error) {
      if (!(error instanceof CrosstalkError)) throw error;
      this.log.error("config.reload_failed", { reason: error.message });
      return false;
    }
  }

  /** Resolves when every change seen so far has been handled and no run is in progress. */
  async flush(): Promise<void> {
    await this.#feed.flush();
    await this.workflows.idle();
    await this.dispatcher.idle();
  }

  /**
   * Stops: no new work, running CLIs get `grace_seconds` to finish, then their process groups
   * are killed; the registry entry and pid file are removed.
   */
  stop(graceMs = this.bus.config.engine.grace_seconds * 1000): Promise<void> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<void> {
    this.log.info("engine.stopping", {
      running: this.dispatcher.running.length,
      grace_ms: graceMs,
    });
    for (const timer of this.#timers) clearInterval(timer);
    if (this.#statusTimer !== undefined) clearTimeout(this.#statusTimer);
    if (this.#presenceTimer !== undefined) clearTimeout(this.#presenceTimer);
    this.#stopSent?.();
    this.#stopCommitErrors?.();
    await this.#feed.close();
    await this.workflows.stop();
    await this.tmuxAgents.close();
    await this.live.close();
    await this.dispatcher.drain(graceMs);
    await removeRegistry(this.bus.transport.root, this.alias, this.#registryCommit())
      .catch((error) => this.log.error("registry.remove_failed", { error }));
    // A look at the remote under way may be starting a sync: it ends first (later ones do
    // nothing now).
    await this.#remoteCheck;
    await this.#sync?.stop();
    await this.#writeStatus(true);
    if (this.#statusTimer !== undefined) clearTimeout(this.#statusTimer);
    this.cursor.close();
    await this.bus[Symbol.asyncDispose]();
    await this.#claim.release();
    this.log.info("engine.stopped");
    this.log.close();
  }

  /** Stops at once (no grace period). */
  close(): Promise<void> {
    return this.stop(0);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Asks the other engines of this transport to fetch now: a push just moved the remote. */
  async #nudgePeers(): Promise<void> {
    if (!this.bus.config.git.nudge || !this.#key || !this.#sync) return;
    const token = await this.#key.nudgeToken(this.alias);
    const peers = await this.#peersToNudge();
    this.log.debug("nudge.send", { peers: peers.map((p) => p.alias) });
    await Promise.all(peers.map(async (peer) => {
      try {
        await sendNudge(peer.api!, token);
        if (this.#nudgeFailures.delete(peer.alias)) {
          this.log.info("nudge.recovered", { peer: peer.alias });
        }
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        // Logged once per failure streak: polling covers a lost nudge.
        if (!this.#nudgeFailures.has(peer.alias)) {
          this.log.warn("nudge.failed", { peer: peer.alias, api: peer.api, reason });
        }
        this.#nudgeFailures.set(peer.alias, reason);
      }
    }));
  }

  /**
   * The other live engines with an API. The registry is read again when its folder or the set
   * of presences changed, or after NUDGE_PEERS_MS (an engine going stale).
   */
  async #peersToNudge(): Promise<{ alias: string; api?: string }[]> {
    const now = Date.now();
    const ages = this.#sync!.presence();
    const dir = await Deno.stat(join(this.bus.transport.root, "data", "dispatchers")).catch(() =>
      undefined
    );
    // Which engines publish a presence, as which instance, and when it last changed.
    const seen = [...ages.values()].map((p) => `${p.alias}:${p.instance}:${p.seenAt}`).sort();
    const key = `${dir?.mtime?.getTime()}|${seen.join(",")}`;
    const cached = this.#nudgePeersCache;
    if (cached && cached.key === key && now - cached.at < NUDGE_PEERS_MS) return cached.peers;
    const timeoutMs = this.bus.config.git.presence_timeout_seconds * 1000;
    const root = this.bus.transport.root;
    let entries = await listRegistry(root, now, { ages, timeoutMs });
    if (entries.some((d) => d.alias !== this.alias && d.stale)) {
      // A newcomer's entry, or a restarted engine's, came with a fetch made inside this sync (a
      // push that had to fetch first): its presence came with it, but was not read since.
      const fresh = await this.#sync!.refreshPresence();
      entries = await listRegistry(root, now, { ages: fresh, timeoutMs });
    }
    const peers = entries.filter((d) => d.alias !== this.alias && !d.stale && d.api);
    this.#nudgePeersCache = { at: now, key, peers };
    return peers;
  }

  /**
   * A nudge from another engine: checked against the key in its dispatcher entry, then a fetch
   * now. Returns the sender's alias. A token checked before (senders reuse theirs for a minute)
   * is not checked again until shortly before it expires.
   *
   * @throws {CrosstalkError} `ERR_TOKEN_INVALID` for a nudge this transport cannot verify
   */
  async acceptNudge(token: string): Promise<string> {
    if (!this.#sync) {
      throw new CrosstalkError("ERR_ROUTE_NOT_FOUND", "This engine's transport has no git remote");
    }
    const seen = this.#nudgesSeen.get(token);
    if (seen && seen.until > Date.now()) {
      this.#sync.nudge();
      return seen.from;
    }
    let unknown = false;
    const keyOf = async (alias: string) => {
      const key = await registryKeyOf(this.bus.transport.root, alias);
      unknown = key === undefined;
      return key;
    };
    try {
      const from = await verifyNudge(token, keyOf);
      this.#sync.nudge();
      this.log.debug("nudge.received", { from });
      this.#rememberNudge(token, from);
      return from;
    } catch (error) {
      // A new engine's key comes with the very fetch its nudge asks for: fetch once, then check
      // again. Rate-limited, so that unverifiable nudges cost at most one fetch per interval.
      const now = Date.now();
      if (!unknown || now - this.#unknownNudgeAt < UNKNOWN_NUDGE_INTERVAL_MS) throw error;
      this.#unknownNudgeAt = now;
      await this.#sync.syncNow();
      const from = await verifyNudge(token, keyOf);
      this.log.debug("nudge.received", { from, fetched: true });
      this.#rememberNudge(token, from);
      return from;
    }
  }

  #rememberNudge(token: string, from: string): void {
    const exp = tokenExpiry(token);
    if (exp === undefined) return;
    const now = Date.now();
    for (const [t, s] of this.#nudgesSeen) if (s.until <= now) this.#nudgesSeen.delete(t);
    if (this.#nudgesSeen.size >= 256) return;
    this.#nudgesSeen.set(token, { from, until: exp - NUDGE_TOKEN_MARGIN_MS });
  }

  /**
   * Looks at the clone's `origin` again and starts, moves or stops the git sync to match, without
   * a restart: a sync that starts pushes everything committed so far (messages and replies
   * written before the remote came). Runs on reload (SIGHUP, which `crosstalk transport remote`
   * sends) and on a heartbeat after `.git/config` changed. Never rejects: a failure is logged
   * (`sync.remote_check_failed`) and the next heartbeat looks again.
   */
  checkRemote(): Promise<void> {
    this.#remoteCheck = this.#remoteCheck.then(() => this.#followRemote()).then(
      () => void (this.#remoteFailed = false),
      (error) => {
        this.#remoteFailed = true;
        this.log.error("sync.remote_check_failed", { error });
      },
    );
    return this.#remoteCheck;
  }

  /**
   * On each heartbeat: one stat of `.git/config`, and a look at the remote only when the file
   * changed (git rewrites it for `remote add`, `set-url`, `remove`) or the last look failed.
   * Nothing of this is on a message's way.
   */
  async #remoteTick(): Promise<void> {
    if (!(this.bus.transport instanceof GitTransport) || this.#stopping) return;
    const stamp = await gitConfigStamp(this.bus.transport.root);
    if (stamp !== this.#configStamp || this.#remoteFailed) await this.checkRemote();
  }

  async #followRemote(): Promise<void> {
    const transport = this.bus.transport;
    if (!(transport instanceof GitTransport) || this.#stopping) return;
    this.#configStamp = await gitConfigStamp(transport.root);
    const url = await remoteUrl(transport.root);
    if (url === this.#remote) return;
    const previous = this.#sync;
    if (previous) {
      this.#sync = undefined;
      this.#remote = undefined;
      this.#nudgePeersCache = undefined;
      // `origin` no longer names the remote this loop synced with: nothing more goes there (its
      // presence there lapses after the presence timeout).
      await previous.stop({ publish: false });
    }
    if (url === undefined) {
      if (!previous) return;
      this.log.warn("sync.stopped", {
        remote: previous.sync.url,
        reason: "the clone has no remote origin any more: messages stay on this machine",
      });
      // A clone on one machine again: the dispatcher entry carries the heartbeat and the live
      // agents, as on a shared folder.
      await writeRegistry(transport.root, this.#registryEntry(), this.#registryCommit());
      await this.#writeStatus();
      return;
    }
    const sync = await GitSync.open(transport, {
      ...Engine.#syncOptions(this.bus, this.location),
      guard: (fn) => this.#feed.exclusive(fn),
      onRecreating: (arrivals) => this.#feed.keepArrivals(arrivals),
      // Every commit up to now went through this engine's feed: only what the remote brings is
      // new.
      fresh: true,
    });
    // Removed again meanwhile: the next look settles it.
    if (!sync) return;
    this.#key ??= await EngineKey.open(this.location.stateDir);
    const loop = this.#syncLoop(sync);
    this.#sync = loop;
    this.#remote = url;
    this.log.info("sync.started", {
      remote: sync.url,
      branch: sync.branch,
      ...(previous ? { previous: previous.sync.url } : {}),
    });
    // The entry now carries the key that nudges are checked with; heartbeat, live agents and
    // users move to the presence ref. Its commit goes out with the first push.
    await writeRegistry(transport.root, this.#registryEntry(), this.#registryCommit());
    await this.#writeStatus();
    await loop.start({ recover: false });
    await this.#writeStatus();
  }

  static #syncOptions(bus: Bus, location: TransportLocation) {
    const settings = bus.config.git;
    return {
      cursorPath: join(location.stateDir, "git-cursor.json"),
      networkTimeoutMs: settings.network_timeout_seconds * 1000,
      pushAttempts: settings.push_attempts,
    };
  }

  /** The loop that keeps this engine's clone in step with the remote of `sync`. */
  #syncLoop(sync: GitSync): SyncLoop {
    return new SyncLoop({
      sync,
      settings: this.bus.config.git,
      log: this.log,
      presence: () => ({
        alias: this.alias,
        instance: this.#holder.instance,
        host: this.#holder.host,
        pid: this.#holder.pid,
        at: new Date().toISOString(),
        ...(this.#api ? { api: this.#api } : {}),
        agents: this.live.list(),
        users: this.#users(),
      }),
      onAdded: (paths) => this.#delivered(paths),
      onAnnotated: (paths) => void this.#annotated(paths),
      // A merge may have changed any CHANNEL.md, and the sync reports added files only.
      onPulled: () => this.bus.transport.channelChanged?.(),
      onPushed: () => void this.#nudgePeers(),
      onStatus: () => this.#scheduleStatus(),
    });
  }

  /** Fetches and pushes now (tests, `crosstalk transport sync`); a no-op without a remote. */
  async syncNow(): Promise<void> {
    await this.#sync?.syncNow();
  }

  /**
   * Tasks and badges another machine recorded, as a sync brought their files: logged as events
   * (`task.synced`, `badge.synced`), so that the event stream (the web UI's chips, `watch`) shows
   * them as it shows this engine's own.
   */
  async #annotated(paths: string[]): Promise<void> {
    const tasks = new Map<string, { channel: string; id: string }>();
    for (const path of paths) {
      const match = ANNOTATION_PATH.exec(path);
      if (!match) continue;
      const [, channel, year, month, day, stem, kind] = match as unknown as string[];
      const ref = { channel: channel!, id: `${year}/${month}/${day}/${stem}.md` };
      const message = `${ref.channel}/${ref.id}`;
      try {
        if (kind === "badge") {
          const text = await Deno.readTextFile(join(this.bus.transport.root, path));
          const { type, value, by, at } = JSON.parse(text) as Record<string, unknown>;
          this.log.info("badge.synced", { message, type, value, by, at });
        } else if (kind?.startsWith("task")) tasks.set(message, ref);
      } catch {
        // Gone or unreadable meanwhile: the message's status, when read, says what holds.
      }
    }
    for (const [message, ref] of tasks) {
      const task = await taskOf(this.annotations, ref).catch(() => undefined);
      if (task) this.log.info("task.synced", { message, ...task });
    }
  }

  #delivered(paths: string[]): void {
    if (this.#feedStarted) this.#feed.deliver(paths);
    else this.#early.push(...paths);
  }

  #publisher(): ClaimPublisher | undefined {
    return Engine.#publisherFor(this.bus, () => this.#sync);
  }

  /** How claims and annotations reach the other machines: the sync loop, or plain commits. */
  static #publisherFor(
    bus: Bus,
    sync: () => SyncLoop | undefined,
  ): ClaimPublisher | undefined {
    const transport = bus.transport;
    if (!(transport instanceof GitTransport)) return undefined;
    // Resolved lazily: the sync loop is built after the stores that publish through it. A
    // clone without a remote commits, and no other machine can race for anything.
    return {
      get shared() {
        return sync()?.shared ?? false;
      },
      record: (paths, message, apply, options) => {
        const loop = sync();
        return loop
          ? loop.record(paths, message, apply, options)
          : transport.change(paths, message, apply, options);
      },
      confirm: () => sync()?.confirm() ?? Promise.resolve(),
    };
  }

  #registryCommit(): RegistryCommit | undefined {
    const transport = this.bus.transport;
    return transport instanceof GitTransport
      ? (paths, message, apply) => transport.change(paths, message, apply)
      : undefined;
  }

  #registryEntry() {
    return {
      alias: this.alias,
      models: this.dispatcher.claimed.map((m) => `${m.spec.provider}/${m.spec.name}`),
      version: VERSION,
      host: Deno.hostname(),
      pid: Deno.pid,
      started: this.#started.toISOString(),
      heartbeat_seconds: this.#sync ? this.bus.config.git.presence_seconds : HEARTBEAT_SECONDS,
      instance: this.#holder.instance,
      ...(this.#api ? { api: this.#api } : {}),
      ...(this.#key ? { key: this.#key.publicJwk as Record<string, string> } : {}),
      // On a shared folder the entry is the presence; on git, presence refs carry these.
      ...(this.#sync ? {} : { live: this.live.list(), users: this.#users() }),
    };
  }

  #scheduleStatus(): void {
    if (this.#statusTimer !== undefined || this.#stopping) return;
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      this.#writeStatus().catch(() => {});
    }, 100);
  }

  async #writeStatus(stopped = false): Promise<void> {
    const commit = this.bus.transport instanceof GitTransport
      ? this.bus.transport.commitError
      : undefined;
    const status: EngineStatus = {
      alias: this.alias,
      root: this.location.root,
      pid: Deno.pid,
      host: Deno.hostname(),
      version: VERSION,
      started: this.#started.toISOString(),
      heartbeat: new Date().toISOString(),
      stopped,
      watch: this.#watch,
      claimed: this.dispatcher.claimed.map((m) => `${m.spec.provider}/${m.spec.name}`),
      unclaimed: this.dispatcher.unclaimed.map((m) => ({
        model: `${m.spec.provider}/${m.spec.name}`,
        reason: m.reason,
      })),
      queued: this.dispatcher.queued,
      running: this.dispatcher.running,
      ...(this.#sync ? { sync: this.#sync.status } : {}),
      ...(commit ? { commit } : {}),
    };
    await writeFileAtomic(
      join(this.location.stateDir, "status.json"),
      `${JSON.stringify(status, null, 2)}\n`,
    );
  }
}

/**
 * How a shell on this machine names this transport to the CLI (for the reply hint typed into a
 * tmux agent's pane): nothing for the default transport, `--containername NAME` for a named one
 * in the default storage, else `--path ROOT`.
 */
function transportFlagOf(location: TransportLocation, env: Env): string {
  if (location.isDefault) return "";
  try {
    if (location.root === join(storageBase(env), location.name, "transport")) {
      return `--containername ${location.name}`;
    }
  } catch {
    // No home folder to find the default storage in: the path says it.
  }
  return `--path ${shellWord(location.root)}`;
}

/**
 * Makes sure the state dir exists and can be written, before anything else is done.
 *
 * @throws {CrosstalkError} `ERR_STATE_UNWRITABLE` naming the folder and what to do
 */
async function prepareStateDir(stateDir: string): Promise<void> {
  try {
    await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
    const probe = join(stateDir, `.write-test-${Deno.pid}`);
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
  } catch (error) {
    if (
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotADirectory ||
      error instanceof Deno.errors.AlreadyExists ||
      (error instanceof Error && /read-only file system|os error 30/i.test(error.message))
    ) {
      throw new CrosstalkError(
        "ERR_STATE_UNWRITABLE",
        `The state dir "${stateDir}" cannot be written (${
          error.message.replace(/ \(os error \d+\).*$/, "").toLowerCase()
        }): fix its permissions, or choose another with --state DIR or CROSSTALK_STATE_DIR`,
      );
    }
    throw error;
  }
}

/** Where a first start keeps its horizon until its first scan is done. */
const BASELINE_FILE = "cursor.baseline";

/**
 * On a first start (`fresh`: no cursor yet), the message id before which history is left alone:
 * `LATE_WINDOW_MS` before now. It is kept in the state dir until the first scan is done, so that
 * a first start killed before then (its cursor file made, its scan not finished) is a first start
 * again at the next one, with the same horizon, instead of running the whole history. Undefined
 * when this is not a first start.
 */
async function baselineHorizon(stateDir: string, fresh: boolean): Promise<string | undefined> {
  const path = join(stateDir, BASELINE_FILE);
  const kept = (await Deno.readTextFile(path).catch(() => "")).trim();
  if (tryParseMessageId(kept)) return kept;
  if (!fresh) return undefined;
  const horizon = formatMessageId({
    time: new Date(Date.now() - LATE_WINDOW_MS),
    random: "00000000",
  });
  await writeFileAtomic(path, `${horizon}\n`, { sync: true });
  return horizon;
}

/** An engine's hold on its state dir: see {@linkcode claimStateDir}. */
interface StateDirClaim {
  /** Removes the pid file and lets go of the lock. */
  release(): Promise<void>;
}

/**
 * Takes the state dir for this engine: an OS lock on `engine.lock` (flock; the kernel lets go of
 * it when the process ends, however it ends), held while the engine runs, and `engine.pid` naming
 * it for the CLI. A pid file that a killed engine left is replaced, even when its pid has been
 * reused by another process since (after a reboot, say), and on systems without `/proc`.
 *
 * @throws {CrosstalkError} `ERR_ENGINE_RUNNING` when another engine holds the lock
 */
async function claimStateDir(stateDir: string): Promise<StateDirClaim> {
  const pidPath = join(stateDir, "engine.pid");
  const lock = await Deno.open(join(stateDir, "engine.lock"), {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  try {
    if (!(await lock.tryLock(true))) {
      const pid = Number((await Deno.readTextFile(pidPath).catch(() => "")).trim());
      throw new CrosstalkError(
        "ERR_ENGINE_RUNNING",
        `Another engine${
          pid > 0 ? ` (pid ${pid})` : ""
        } is running with the state dir "${stateDir}" (stop it, or use another --state)`,
      );
    }
    await writeFileAtomic(pidPath, `${Deno.pid}\n`);
  } catch (error) {
    lock.close();
    throw error;
  }
  return {
    async release() {
      await Deno.remove(pidPath).catch(() => {});
      lock.close();
    },
  };
}

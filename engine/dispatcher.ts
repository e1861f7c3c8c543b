/**
 * `Dispatcher`: decides which new messages this engine runs, claims them, runs the agent CLIs in
 * batches within the concurrency limits, and writes their replies — exactly once across every
 * engine that shares the transport (see transports/claims.ts for the mechanism).
 */
import { delimiter, join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import {
  type AttachedChange,
  type Channel,
  type ClaimKey,
  type ClaimPublisher,
  ClaimStore,
  formatMessage,
  type Holder,
  type Lease,
  type Message,
  type MessageFields,
  newMessageId,
  type Outcome,
  parseAddress,
  parseMessage,
} from "../transports/mod.ts";
import type { Bus } from "./bus.ts";
import { type Config, type ModelSpec, providerEnv } from "./config.ts";
import { invoke, type InvokeResult } from "./invoke.ts";
import type { Logger } from "./log.ts";
import { isExcluded, resolveAddress } from "./models.ts";
import type { Env } from "./paths.ts";
import { renderPrompt } from "./prompt.ts";
import { resolveCommand, writeSelfShim } from "./which.ts";
import { isProcessAlive } from "./_process.ts";

/** A run is attempted at most this many times (claims taken over after crashes), then failed. */
export const MAX_ATTEMPTS = 3;

/** A model this engine can run. */
export interface ClaimedModel {
  spec: ModelSpec;
  /** The command line to spawn, resolved. */
  argv: string[];
}

/** A model in the yaml this engine cannot run, and why. */
export interface UnclaimedModel {
  spec: ModelSpec;
  reason: string;
}

/** One (message, model) this engine holds a claim on. */
interface Job {
  message: Message;
  model: ClaimedModel;
  key: ClaimKey;
  generation: number;
  /** Addressed to this engine's alias: no other machine may run it, so no race to confirm. */
  pinned: boolean;
}

/** A model a message wakes here, and whether an address pinned it to this machine. */
interface Wake {
  model: ClaimedModel;
  pinned: boolean;
}

/** A run in progress, for status. */
export interface RunningInfo {
  model: string;
  channel: string;
  ids: string[];
  pid?: number;
  since: string;
}

/** Options for {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  bus: Bus;
  alias: string;
  stateDir: string;
  env: Env;
  log: Logger;
  holder: Holder;
  /** Called whenever the queue or the running set changes (for the heartbeat file). */
  onChange?: () => void;
  /** How claim files reach other engines (git); none on a plain folder. */
  publisher?: ClaimPublisher | undefined;
  /**
   * Whether a claim's holder on another machine is alive (git: by its presence); undefined
   * when unknown, and then its lease's age decides.
   */
  liveness?: (holder: Holder) => boolean | undefined;
}

/** Runs agent CLIs on the messages addressed to the models this engine has. */
export class Dispatcher {
  readonly claims: ClaimStore;
  #bus: Bus;
  #config: Config;
  #alias: string;
  #stateDir: string;
  #env: Env;
  #log: Logger;
  #holder: Holder;
  #onChange: () => void;
  #liveness: (holder: Holder) => boolean | undefined;
  #claimed = new Map<string, ClaimedModel>();
  #unclaimed: UnclaimedModel[] = [];
  #queues = new Map<string, Job[]>();
  #activeQueues = new Set<string>();
  #runningPerModel = new Map<string, number>();
  #running = new Map<Promise<void>, RunningInfo>();
  #inFlight = new Set<string>();
  #shim: Promise<string | undefined> | undefined;
  #replyTimes = new Map<string, number[]>();
  #accepting = true;
  #abort = new AbortController();
  #sweeping: Promise<void> | undefined;
  #protocol: string | undefined;
  #workspaceReady = false;
  #agentTokens = new Map<string, { token: string; expires: number }>();
  #api:
    | { url: string; mintAgentToken: (model: string, ttlSeconds: number) => Promise<string> }
    | undefined;

  constructor(options: DispatcherOptions) {
    this.#bus = options.bus;
    this.#config = options.bus.config;
    this.#alias = options.alias;
    this.#stateDir = options.stateDir;
    this.#env = options.env;
    this.#log = options.log;
    this.#holder = options.holder;
    this.#onChange = options.onChange ?? (() => {});
    this.#liveness = options.liveness ?? (() => undefined);
    this.claims = new ClaimStore(options.bus.transport.root, {
      publisher: options.publisher,
      onError: (error) => this.#log.error("claim.record_failed", { error }),
    });
  }

  /** The models this engine runs. */
  get claimed(): ClaimedModel[] {
    return [...this.#claimed.values()];
  }

  /** The models in the yaml this engine does not run, with the reason. */
  get unclaimed(): UnclaimedModel[] {
    return [...this.#unclaimed];
  }

  /** Messages waiting for a run slot. */
  get queued(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  /** Runs in progress. */
  get running(): RunningInfo[] {
    return [...this.#running.values()];
  }

  /** Decides which models this engine claims: those whose CLI is found here. */
  async claimModels(config: Config = this.#config): Promise<void> {
    this.#config = config;
    this.#protocol = undefined;
    const claimed = new Map<string, ClaimedModel>();
    const unclaimed: UnclaimedModel[] = [];
    for (const provider of config.providers.values()) {
      for (const spec of provider.models.values()) {
        const resolved = await resolveCommand(spec.argv, config.root, this.#env);
        const name = `${spec.provider}/${spec.name}`;
        if (resolved.found) {
          claimed.set(name, { spec, argv: resolved.argv });
        } else {
          unclaimed.push({ spec, reason: resolved.reason });
          this.#log.warn("model.unclaimed", { model: name, reason: resolved.reason });
        }
      }
    }
    this.#claimed = claimed;
    this.#unclaimed = unclaimed;
    this.#log.info("models.claimed", { models: [...claimed.keys()] });
  }

  /** Claims and queues every (message, model) pair that the new messages wake here. */
  async handle(messages: Message[]): Promise<void> {
    if (!this.#accepting) return;
    const claims: Promise<void>[] = [];
    for (const message of messages) {
      for (const wake of await this.#wakes(message)) claims.push(this.#claim(message, wake));
    }
    // Side by side: on git, concurrent claims share one commit and one push.
    await Promise.all(claims);
    this.#pump();
  }

  async #claim(message: Message, wake: Wake): Promise<void> {
    const key: ClaimKey = {
      channel: message.channel,
      id: message.id,
      model: nameOf(wake.model.spec),
    };
    // Already ours (being claimed, queued after a takeover, running): a second attempt would
    // lose the race to our own lease and then clear the mark that keeps the sweep off it, and the
    // next sweep would take it over again, queueing the message twice.
    if (this.#inFlight.has(flightKey(key))) return;
    // In flight from before the lease exists: a sweep meanwhile must not mistake our own new
    // claim for one that its holder (this engine) abandoned.
    this.#inFlight.add(flightKey(key));
    let generation: number | undefined;
    try {
      // A pinned claim needs no race: it travels with the reply rather than in a push of its own.
      generation = await this.claims.acquire(key, this.#holder, { urgent: !wake.pinned });
    } finally {
      if (generation === undefined) this.#inFlight.delete(flightKey(key));
    }
    if (generation === undefined) {
      this.#log.info("claim.lost", { trace: traceOf(message), model: key.model });
      return;
    }
    this.#admit({ message, model: wake.model, key, generation, pinned: wake.pinned });
  }

  /**
   * Queues a job whose claim file is ours here; on a shared transport a claim that another
   * machine could race for is queued only once the remote confirms it.
   */
  #admit(job: Job, takeover = false): void {
    const trace = traceOf(job.message);
    const event = takeover ? "claim.takeover_won" : "claim.won";
    if (!this.claims.shared || job.pinned) {
      this.#log.info(event, { trace, model: job.key.model, generation: job.generation });
      this.#enqueue(job);
      return;
    }
    this.#inFlight.add(flightKey(job.key));
    this.claims.confirm(job.key, job.generation, this.#holder).then((won) => {
      if (!won) {
        this.#inFlight.delete(flightKey(job.key));
        this.#log.info("claim.lost", { trace, model: job.key.model, race: true });
        return;
      }
      this.#log.info(event, { trace, model: job.key.model, generation: job.generation });
      this.#enqueue(job);
      this.#pump();
    }, (error) => {
      // Not confirmed before the engine stopped: the claim stays open for a takeover.
      this.#inFlight.delete(flightKey(job.key));
      this.#log.warn("claim.unconfirmed", { trace, model: job.key.model, reason: String(error) });
    });
  }

  /**
   * Looks at every unfinished claim: writes replies a crash left staged, and takes over claims
   * whose holder died or stopped renewing its lease.
   */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  /** Stops taking new work; lets runs finish for `graceMs`, then kills their process groups. */
  async drain(graceMs: number): Promise<void> {
    this.#accepting = false;
    this.#queues.clear();
    const all = Promise.all(this.#running.keys());
    const timer = setTimeout(() => this.#abort.abort(), graceMs);
    try {
      await all;
    } finally {
      clearTimeout(timer);
    }
    if (this.#sweeping) await this.#sweeping;
  }

  /**
   * Lets dispatched CLIs call the HTTP API back as their model: each run gets `CROSSTALK_API`
   * and a short-lived `CROSSTALK_TOKEN` in its environment (never in its prompt).
   */
  setApi(
    api: { url: string; mintAgentToken: (model: string, ttlSeconds: number) => Promise<string> },
  ): void {
    this.#api = api;
  }

  /**
   * A model's token, reused while it has more than a run's timeout left: signing one per run
   * would put a signature on the path from a message to its CLI.
   */
  async #agentToken(model: string): Promise<string> {
    const need = (this.#config.engine.timeout_seconds + 300) * 1000;
    const cached = this.#agentTokens.get(model);
    if (cached && cached.expires - Date.now() > need) return cached.token;
    const ttlSeconds = Math.max(3600, 2 * need / 1000);
    const token = await this.#api!.mintAgentToken(model, ttlSeconds);
    this.#agentTokens.set(model, { token, expires: Date.now() + ttlSeconds * 1000 });
    return token;
  }

  /** Kills every running CLI's process group now (a second stop signal). */
  abortRuns(): void {
    this.#accepting = false;
    this.#abort.abort();
  }

  /** Resolves when nothing is queued or running (for tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.keys());
  }

  /** The models of this engine that `message` wakes (DESIGN.md §3). */
  async #wakes(message: Message): Promise<Wake[]> {
    // A workflow request is planned and run by the workflow coordinator (engine/workflow.ts),
    // even when it names the model that plans it.
    if (message.type === "workflow") return [];
    const out = new Map<string, Wake>();
    const add = (name: string, model: ClaimedModel, pinned: boolean) =>
      out.set(name, { model, pinned: pinned || (out.get(name)?.pinned ?? false) });
    for (const address of message.to) {
      let target;
      try {
        target = resolveAddress(address, this.#config);
      } catch (error) {
        if (!(error instanceof CrosstalkError)) throw error;
        this.#log.warn("address.unresolved", {
          trace: traceOf(message),
          address,
          reason: error.message,
        });
        continue;
      }
      if (target.alias !== undefined && target.alias !== this.#alias) continue;
      const pinned = target.alias !== undefined;
      if (target.kind === "all") {
        for (const [name, model] of this.#claimed) add(name, model, pinned);
      } else if (target.kind === "model") {
        const name = nameOf(target.model);
        const model = this.#claimed.get(name);
        if (model) add(name, model, pinned);
      }
    }
    const woken: Wake[] = [];
    for (const wake of out.values()) {
      if (isSelf(message.from, wake.model.spec)) continue;
      if (isExcluded(message.exclude, wake.model.spec, this.#alias)) continue;
      if (!message.re?.length || await this.#repliesTo(message, wake.model.spec)) woken.push(wake);
    }
    return woken;
  }

  /** True when one of the messages `message` replies to was sent by `spec`. */
  async #repliesTo(message: Message, spec: ModelSpec): Promise<boolean> {
    for (const id of message.re ?? []) {
      try {
        const target = await this.#bus.transport.readMessage(message.channel, id);
        if (isSelf(target.from, spec)) return true;
      } catch (error) {
        if (!(error instanceof CrosstalkError)) throw error;
      }
    }
    return false;
  }

  #enqueue(job: Job): void {
    // A workflow's steps are independent drafts: never batched into one run.
    const own = isWorkflowStep(job.message) ? `|${job.message.id}` : "";
    const queueKey = `${job.key.model}|${job.message.channel}|${job.message.as ?? ""}${own}`;
    const queue = this.#queues.get(queueKey) ?? [];
    queue.push(job);
    this.#queues.set(queueKey, queue);
    this.#inFlight.add(flightKey(job.key));
    this.#onChange();
  }

  #pump(): void {
    if (!this.#accepting) return;
    const engine = this.#config.engine;
    for (const [queueKey, queue] of this.#queues) {
      if (this.#running.size >= engine.concurrency) return;
      if (queue.length === 0 || this.#activeQueues.has(queueKey)) continue;
      const model = queue[0]!.model;
      const name = nameOf(model.spec);
      const perModel = this.#runningPerModel.get(name) ?? 0;
      if (perModel >= engine.model_concurrency) continue;
      // Claims confirmed by a remote may arrive out of order: a batch is in message order.
      const batch = queue.splice(0, queue.length).sort((a, b) =>
        a.message.id < b.message.id ? -1 : a.message.id > b.message.id ? 1 : 0
      );
      this.#queues.delete(queueKey);
      this.#activeQueues.add(queueKey);
      this.#runningPerModel.set(name, perModel + 1);
      const info: RunningInfo = {
        model: name,
        channel: batch[0]!.message.channel,
        ids: batch.map((j) => j.message.id),
        since: new Date().toISOString(),
      };
      const run = this.#run(batch, info).catch((error) => {
        this.#log.error("run.crashed", { model: name, ids: info.ids, error });
      }).finally(() => {
        this.#running.delete(run);
        this.#activeQueues.delete(queueKey);
        this.#runningPerModel.set(name, (this.#runningPerModel.get(name) ?? 1) - 1);
        for (const job of batch) this.#inFlight.delete(flightKey(job.key));
        this.#onChange();
        this.#pump();
      });
      this.#running.set(run, info);
      this.#onChange();
    }
  }

  async #run(batch: Job[], info: RunningInfo): Promise<void> {
    const first = batch[0]!;
    const model = first.model;
    const name = nameOf(model.spec);
    const channel = await this.#channel(first.message.channel);
    const trace = batch.map((j) => traceOf(j.message));

    // Only replies to agents count: people may talk to a model as much as they like.
    const automatic = batch.some((j) => this.#isAgent(j.message.from));
    if (automatic && this.#loopGuardTripped(channel.id)) {
      const guard = this.#config.engine.loop_guard;
      const detail =
        `loop guard: ${guard.replies} automatic replies in this channel within ${guard.window_seconds}s`;
      this.#log.warn("run.skipped", { trace, model: name, reason: detail });
      await this.claims.finishAll(batch.map((j) => j.key), {
        status: "skipped",
        detail,
        holder: this.#holder,
        at: new Date().toISOString(),
      }, { confirm: false });
      await this.claims.closeAll(batch.map((j) => j.key));
      return;
    }
    // Counted when the run starts, not when it ends: runs of two models that answer each other
    // may start side by side, and each must see the other's.
    if (automatic) this.#recordReply(channel.id);

    const leaseMs = this.#config.engine.lease_seconds * 1000;
    const renewal = setInterval(() => {
      for (const job of batch) {
        this.claims.renew(job.key, job.generation).catch((error) =>
          this.#log.warn("claim.renew_failed", { trace: traceOf(job.message), error })
        );
      }
    }, Math.max(100, Math.floor(leaseMs / 3)));

    let result: InvokeResult | undefined;
    let spawnError: string | undefined;
    try {
      const prompt = await this.#prompt(channel, batch.map((j) => j.message));
      const env = await this.#envFor(model, first.message, batch.at(-1)!.message);
      const cwd = join(this.#stateDir, "workspace");
      if (!this.#workspaceReady) {
        await Deno.mkdir(cwd, { recursive: true });
        this.#workspaceReady = true;
      }
      this.#log.info("run.start", { trace, model: name, messages: batch.length });
      result = await invoke({
        argv: model.argv,
        prompt,
        env,
        cwd,
        timeoutMs: this.#config.engine.timeout_seconds * 1000,
        maxOutputBytes: this.#config.limits.output_bytes,
        signal: this.#abort.signal,
        onSpawn: (pid) => {
          info.pid = pid;
          // `at`: the wall clock in ms with its fraction, for latency measurements
          // (scripts/bench_engine.ts); `ts` has whole milliseconds only.
          const at = Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;
          this.#log.info("run.spawned", { trace, model: name, pid, at });
        },
      });
    } catch (error) {
      spawnError = error instanceof Error ? error.message : String(error);
    } finally {
      clearInterval(renewal);
    }
    if (result?.aborted) {
      // Shutdown: the claim stays open and is run again by whoever takes it over.
      this.#log.warn("run.interrupted", { trace, model: name });
      return;
    }

    const held: Job[] = [];
    for (const job of batch) {
      if (await this.claims.renew(job.key, job.generation)) held.push(job);
      else if (await this.claims.channelGone(job.key.channel)) await this.#drop(job.key);
      else this.#log.warn("claim.taken_over", { trace: traceOf(job.message), model: name });
    }
    if (held.length === 0) return;
    await this.#finish(held, name, result, spawnError);
  }

  async #finish(
    held: Job[],
    name: string,
    result: InvokeResult | undefined,
    spawnError: string | undefined,
  ): Promise<void> {
    const now = new Date();
    const trace = held.map((j) => traceOf(j.message));
    const channel = held[0]!.message.channel;
    const failed = spawnError !== undefined || result === undefined || result.code !== 0;
    const stdout = result?.stdout.trim() ?? "";
    let outcome: Outcome;
    let fields: MessageFields | undefined;
    if (!failed && stdout === "") {
      outcome = { status: "empty", holder: this.#holder, at: now.toISOString() };
    } else {
      fields = {
        from: `${name}@${this.#alias}`,
        to: unique(held.map((j) => j.message.from)),
        timestamp: now.toISOString(),
        re: held.map((j) => j.message.id),
        body: failed ? failureBody(result, spawnError) : stdout,
      };
      if (failed) {
        fields.failed = true;
        fields.error = failureDetail(result, spawnError);
      }
      const reply = newMessageId(now);
      outcome = {
        status: failed ? "failed" : "replied",
        reply,
        text: formatMessage(fields),
        holder: this.#holder,
        at: now.toISOString(),
      };
    }
    // Pinned work has no rival on another machine: its outcome need not wait for the remote.
    const finished = await this.claims.finishAll(held.map((j) => j.key), outcome, {
      confirm: held.some((j) => !j.pinned),
    });
    const won = held.filter((_, i) => finished[i]);
    let closed = false;
    if (won.length > 0 && fields && outcome.reply) {
      // The reply answers exactly the messages whose `done` names it, and closes their claims in
      // the same write (on git, the same commit and push).
      fields.re = won.map((j) => j.message.id);
      fields.to = unique(won.map((j) => j.message.from));
      const closing = await this.claims.closing(won.map((j) => j.key));
      closed = await this.#writeReply(channel, fields, outcome.reply, closing);
    }
    if (!closed && won.length > 0) await this.claims.closeAll(won.map((j) => j.key));
    await this.#closeLost(held.filter((_, i) => !finished[i]));
    this.#log.info(`run.${outcome.status}`, {
      trace,
      model: name,
      code: result?.code ?? null,
      ms: result ? Math.round(result.durationMs) : null,
      ...(outcome.reply ? { reply: outcome.reply } : {}),
      ...(failed ? { error: fields?.error } : {}),
    });
  }

  /**
   * Claims whose `done` another holder created first: closed once that holder's reply is
   * written. Until then they stay open, so that if it died between its `done` and its reply, a
   * sweep writes the reply staged in its `done` (closing them now would lose it).
   */
  async #closeLost(lost: Job[]): Promise<void> {
    const closable: ClaimKey[] = [];
    for (const job of lost) {
      const outcome = await this.claims.outcome(job.key);
      const written = !outcome?.reply ||
        await this.#bus.transport.hasMessage(job.key.channel, outcome.reply).catch(() => false);
      if (written) closable.push(job.key);
    }
    if (closable.length > 0) await this.claims.closeAll(closable);
  }

  /** Writes a reply under its staged id; true when `closing` went with it. */
  async #writeReply(
    channel: string,
    fields: MessageFields,
    id: string,
    closing?: AttachedChange,
  ): Promise<boolean> {
    try {
      await this.#bus.transport.writeMessage(channel, fields, {
        id,
        ...(closing ? { with: closing } : {}),
      });
      return closing !== undefined;
    } catch (error) {
      // Already written (a repair got there first), or the channel was deleted while the CLI
      // ran: the claims are closed separately.
      const gone = error instanceof CrosstalkError && error.code === "ERR_CHANNEL_NOT_FOUND";
      if (!(error instanceof Deno.errors.AlreadyExists) && !gone) throw error;
      return false;
    }
  }

  async #sweep(): Promise<void> {
    const leaseMs = this.#config.engine.lease_seconds * 1000;
    for (const key of await this.claims.listOpen()) {
      if (this.#inFlight.has(flightKey(key))) continue;
      const outcome = await this.claims.outcome(key);
      if (outcome) {
        // Its finisher may still be finishing the batch (creating the other `done` files, then
        // writing the reply): repairing now would write a reply that leaves some of them out.
        // Judged by who created `done`, not by the newest lease, which may be that of a holder
        // that lost the race for `done` and left its claim open for this repair.
        const finisher = {
          generation: 0,
          holder: outcome.holder,
          renewedAt: Date.parse(outcome.at),
        };
        if (!this.#isDead(finisher, leaseMs)) continue;
        if (outcome.reply && outcome.text) {
          // A crash stopped the holder between staging and writing. Of the batch staged in the
          // text, the reply answers only the messages whose `done` names this reply; the others
          // were never finished and are run again.
          const fields = parseMessage(outcome.text, { file: outcome.reply });
          const re: string[] = [];
          for (const id of fields.re ?? []) {
            const other = await this.claims.outcome({ channel: key.channel, id, model: key.model });
            if (other?.reply === outcome.reply) re.push(id);
          }
          fields.re = re;
          if (await this.claims.channelGone(key.channel)) {
            await this.#drop(key);
            continue;
          }
          await this.#writeReply(key.channel, fields, outcome.reply);
          this.#log.info("reply.repaired", {
            trace: `${key.channel.slice(0, 8)}/${key.id}`,
            reply: outcome.reply,
          });
        }
        await this.claims.close(key);
        continue;
      }
      if (!this.#accepting) continue;
      const lease = await this.claims.lease(key);
      if (lease && !this.#isDead(lease, leaseMs)) continue;
      const model = this.#claimed.get(key.model);
      if (!model) continue;
      let message: Message;
      try {
        message = await this.#bus.transport.readMessage(key.channel, key.id);
      } catch (error) {
        if (!(error instanceof CrosstalkError)) throw error;
        if (await this.claims.channelGone(key.channel)) await this.#drop(key);
        continue;
      }
      const wake = (await this.#wakes(message)).find((w) => nameOf(w.model.spec) === key.model);
      if (!wake) continue;
      const generation = await this.claims.takeOver(key, lease, this.#holder);
      if (generation === undefined) continue;
      this.#log.warn("claim.takeover", {
        trace: traceOf(message),
        model: key.model,
        generation,
        from: lease?.holder
          ? `${lease.holder.alias}@${lease.holder.host}:${lease.holder.pid}`
          : "nobody",
      });
      const job: Job = { message, model, key, generation, pinned: wake.pinned };
      if (generation > MAX_ATTEMPTS) {
        await this.#finish(
          [job],
          key.model,
          undefined,
          `abandoned after ${MAX_ATTEMPTS} attempts (each engine that ran it stopped before it finished)`,
        );
        continue;
      }
      this.#admit(job, true);
    }
    this.#pump();
  }

  /** Closes a claim left open for a message whose channel was deleted. */
  async #drop(key: ClaimKey): Promise<void> {
    await this.claims.close(key);
    this.#log.info("claim.dropped", {
      trace: `${key.channel.slice(0, 8)}/${key.id}`,
      model: key.model,
      reason: "its channel was deleted",
    });
  }

  #isDead(lease: Lease, leaseMs: number): boolean {
    return leaseIsDead(lease, { self: this.#holder, liveness: this.#liveness, leaseMs });
  }

  #loopGuardTripped(channel: string): boolean {
    const guard = this.#config.engine.loop_guard;
    const since = Date.now() - guard.window_seconds * 1000;
    const times = (this.#replyTimes.get(channel) ?? []).filter((t) => t > since);
    this.#replyTimes.set(channel, times);
    return times.length >= guard.replies;
  }

  /** True when `address` is a model of this transport (an agent), not a person. */
  #isAgent(address: string): boolean {
    try {
      return resolveAddress(address, this.#config).kind === "model";
    } catch {
      return false;
    }
  }

  #recordReply(channel: string): void {
    const times = this.#replyTimes.get(channel) ?? [];
    times.push(Date.now());
    this.#replyTimes.set(channel, times);
  }

  /** The channel as it is now (a rename shows in the next prompt; the transport caches it). */
  #channel(id: string): Promise<Channel> {
    return this.#bus.transport.getChannel(id);
  }

  async #prompt(channel: Channel, messages: Message[]): Promise<string> {
    const root = this.#bus.transport.root;
    // Read once per config (re)load: it is the same for every run.
    this.#protocol ??= await Deno.readTextFile(join(root, "PROTOCOL.md")).catch(() => "");
    const protocol = this.#protocol;
    const as = messages[0]!.as;
    let actor: { name: string; text: string } | undefined;
    if (as) {
      try {
        parseAddress(as);
        actor = {
          name: as,
          text: await Deno.readTextFile(join(root, "local", "actors", `${as}.md`)),
        };
      } catch {
        this.#log.warn("actor.missing", { actor: as, trace: messages.map(traceOf) });
      }
    }
    return renderPrompt({ protocol, channel, messages, ...(actor ? { actor } : {}) });
  }

  async #envFor(
    model: ClaimedModel,
    first: Message,
    last: Message,
  ): Promise<Record<string, string>> {
    const provider = this.#config.providers.get(model.spec.provider);
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#env)) if (v !== undefined) base[k] = v;
    const secrets = provider ? await providerEnv(this.#config, provider, this.#env) : {};
    // `crosstalk` on the agent's PATH, first: the program that runs this engine.
    this.#shim ??= writeSelfShim(this.#stateDir).catch((error) => {
      this.#log.warn("run.shim_failed", { reason: String(error) });
      return undefined;
    });
    const shim = await this.#shim;
    if (shim) base.PATH = [shim, base.PATH].filter(Boolean).join(delimiter);
    const api: Record<string, string> = {};
    if (this.#api) {
      api.CROSSTALK_API = this.#api.url;
      api.CROSSTALK_TOKEN = await this.#agentToken(nameOf(model.spec));
    }
    return {
      ...base,
      ...secrets,
      ...api,
      CROSSTALK_CHANNEL: first.channel,
      CROSSTALK_MESSAGE: last.id,
      CROSSTALK_ALIAS: this.#alias,
      CROSSTALK_MODEL: nameOf(model.spec),
      CROSSTALK_TRANSPORT: this.#bus.transport.root,
    };
  }
}

/** Options for {@linkcode leaseIsDead}. */
export interface LeaseJudgeOptions {
  /** This engine: a lease of its own instance is one it abandoned. */
  self: Holder;
  /** Whether a holder on another machine is alive, when known. */
  liveness: (holder: Holder) => boolean | undefined;
  leaseMs: number;
}

/**
 * True when a claim's holder is gone: this very engine (a lease it no longer tracks), a dead
 * process on this machine, a machine whose presence says so, or else a lease not renewed in time.
 */
export function leaseIsDead(lease: Lease, options: LeaseJudgeOptions): boolean {
  const holder = lease.holder;
  if (holder?.instance === options.self.instance) return true;
  if (holder && holder.host === options.self.host && !isProcessAlive(holder.pid)) return true;
  const alive = holder ? options.liveness(holder) : undefined;
  if (alive !== undefined) return !alive;
  return Date.now() - lease.renewedAt > options.leaseMs;
}

/** True for a message the workflow coordinator sent as one of a workflow's steps. */
export function isWorkflowStep(message: Message): boolean {
  return message.from === "workflow" && typeof message.extra?.workflow_step === "string";
}

/** `provider/model`. */
export function nameOf(spec: ModelSpec): string {
  return `${spec.provider}/${spec.name}`;
}

/** True when `address` (a sender) is the model `spec`, on any machine. */
export function isSelf(address: string, spec: ModelSpec): boolean {
  try {
    const parsed = parseAddress(address);
    return parsed.name === spec.name &&
      (parsed.provider === undefined || parsed.provider === spec.provider);
  } catch {
    return false;
  }
}

/** A short id that ties every log record about one message together. */
export function traceOf(message: { channel: string; id: string }): string {
  return `${message.channel.slice(0, 8)}/${message.id}`;
}

function flightKey(key: ClaimKey): string {
  return `${key.channel}/${key.id}/${key.model}`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function failureDetail(result: InvokeResult | undefined, spawnError: string | undefined): string {
  if (spawnError !== undefined) return `could not start the CLI: ${spawnError}`;
  if (!result) return "no result";
  const head = result.timedOut ? `timed out (exit ${result.code})` : `exit ${result.code}`;
  const tail = result.stderr.trim().slice(-2000);
  return tail ? `${head}: ${tail}` : head;
}

function failureBody(result: InvokeResult | undefined, spawnError: string | undefined): string {
  const detail = failureDetail(result, spawnError);
  const out = result?.stdout.trim() ?? "";
  return out
    ? `The agent CLI failed (${detail.split(":")[0]}). Its output:\n\n${out}`
    : `The agent CLI failed: ${detail}`;
}

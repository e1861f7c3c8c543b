/**
 * Workflows: a request (`type: workflow`) fanned out to models in a child channel, their drafts
 * synthesized by one model, the result sent back to the requester (docs/WORKFLOWS.md).
 *
 * The bus is the workflow's state: the child channel's `PLAN.json`, its step messages and their
 * replies, and `COMPLETE`. {@linkcode readWorkflow} derives the phase from them, and the
 * coordinator (`Workflows`, one engine per workflow, chosen by a claim like a model run's) takes
 * the next step from what it reads, so a coordinator that restarts, or another machine's engine
 * that takes over its claim, carries on where it stopped without repeating a step.
 */
import { CrosstalkError } from "../schema/errors.ts";
import type { ClaimKey, ClaimStore, Holder, Message } from "../transports/mod.ts";
import type { Bus } from "./bus.ts";
import { leaseIsDead, MAX_ATTEMPTS, traceOf } from "./dispatcher.ts";
import type { Logger } from "./log.ts";
import { resolveAddress } from "./models.ts";
import { type Plan, planInBody, planInReply, plannerPrompt, proseOf } from "./workflow_plan.ts";

/**
 * The claim key's model for coordinating a workflow. Should a provider `crosstalk` declare a model
 * `workflow`, the dispatcher still never runs a workflow request (it wakes no model).
 */
export const WORKFLOW_CLAIM = "crosstalk/workflow";

/** The claim milestone of a workflow whose child channel was made. */
const CHILD_MADE = "started";

/** Where a workflow is. */
export type WorkflowPhase = "compile" | "fanout" | "synthesize" | "complete" | "failed";

/** One step message and what answered it. */
export interface WorkflowStep {
  /** `compile`, `fanout-1`…, `synthesize`. */
  step: string;
  phase: "compile" | "fanout" | "synthesize";
  to: string;
  id: string;
  sent: string;
  reply?: { id: string; from: string; failed: boolean; error?: string };
}

/** A workflow as the bus shows it. */
export interface WorkflowView {
  /** The child channel's uuid. */
  child: string;
  name: string;
  request: { channel: string; id: string };
  phase: WorkflowPhase;
  plan?: Plan;
  /** The engine that coordinates it (from `PLAN.json`). */
  host?: string;
  created?: string;
  completed?: string;
  steps: WorkflowStep[];
  /** The result sent back to the requester, once there is one. */
  result?: { id: string; failed: boolean; error?: string };
}

/** What `PLAN.json` holds. */
interface PlanFile {
  version: 1;
  request: { channel: string; id: string; from: string };
  planner: string | null;
  dispatch_host: string;
  created: string;
  plan: Plan;
}

/**
 * The child channel of a request: a uuid derived from the request's ref, so that whoever
 * coordinates it finds the same channel.
 */
export function childChannelOf(request: { channel: string; id: string }): Promise<string> {
  return derivedChannelId(`crosstalk-workflow:${request.channel}/${request.id}`);
}

/**
 * A channel uuid derived from `seed`: whoever makes the channel for the same seed, on any
 * machine, makes the same folder.
 */
export async function derivedChannelId(seed: string): Promise<string> {
  const bytes = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(seed)),
  ).slice(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80; // version 8: custom
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/**
 * Finished workflows, by bus and child channel: they no longer change, and reading one again
 * means reading every step and listing the request's channel for the result.
 */
const finished = new WeakMap<Bus, Map<string, WorkflowView>>();
const MAX_FINISHED_VIEWS = 10_000;

/**
 * Reads a workflow from its child channel.
 *
 * @throws {CrosstalkError} `ERR_CHANNEL_NOT_FOUND` when `child` is no workflow's channel
 */
export async function readWorkflow(bus: Bus, child: string): Promise<WorkflowView> {
  const channel = await bus.transport.getChannel(child);
  const requestId = channel.extra?.workflow;
  if (typeof requestId !== "string" || !channel.parent) {
    throw new CrosstalkError("ERR_CHANNEL_NOT_FOUND", `Channel "${channel.name}" is no workflow`);
  }
  const transport = bus.transport;
  const complete = (await transport.readChannelFile(child, "COMPLETE"))?.trim();
  const known = finished.get(bus)?.get(child);
  if (known && complete !== undefined) return { ...structuredClone(known), name: channel.name };
  const planFile = parsePlanFile(await transport.readChannelFile(child, "PLAN.json"));
  const messages = await readAll(bus, child);
  const steps = stepsOf(messages);
  const view: WorkflowView = {
    child,
    name: channel.name,
    request: { channel: channel.parent, id: requestId },
    phase: "compile",
    steps,
  };
  if (channel.created) view.created = channel.created;
  if (planFile) {
    view.plan = planFile.plan;
    view.host = planFile.dispatch_host;
    view.phase = steps.some((s) => s.phase === "synthesize") ? "synthesize" : "fanout";
  }
  // The result is sent before COMPLETE is written: either one ends the workflow.
  const result = await resultOf(bus, view.request, child);
  if (result || complete !== undefined) {
    view.completed = complete ?? result!.timestamp;
    view.phase = result?.failed ? "failed" : "complete";
  }
  if (result) {
    view.result = { id: result.id, failed: result.failed === true };
    if (result.error) view.result.error = result.error;
  }
  if (complete !== undefined && result) {
    let views = finished.get(bus);
    if (!views) finished.set(bus, views = new Map());
    if (views.size >= MAX_FINISHED_VIEWS) views.clear();
    views.set(child, structuredClone(view));
  }
  return view;
}

/** Every workflow on the bus (child channels), newest first. */
export async function listWorkflows(bus: Bus): Promise<WorkflowView[]> {
  const channels = (await bus.transport.listChannels()).filter((c) =>
    typeof c.extra?.workflow === "string" && c.parent
  );
  const views: WorkflowView[] = [];
  for (const channel of channels) {
    try {
      views.push(await readWorkflow(bus, channel.id));
    } catch (error) {
      if (!(error instanceof CrosstalkError)) throw error;
    }
  }
  return views.sort((a, b) => (b.created ?? "").localeCompare(a.created ?? ""));
}

/** Options for {@linkcode Workflows}. */
export interface WorkflowsOptions {
  bus: Bus;
  alias: string;
  holder: Holder;
  log: Logger;
  /** The engine's claim store (the dispatcher's). */
  claims: ClaimStore;
  /** Whether a holder on another machine is alive, when known (git: its presence). */
  liveness?: (holder: Holder) => boolean | undefined;
}

interface Active {
  request: Message;
  child: string;
  key: ClaimKey;
  generation: number;
  /** Each step of the coordinator runs after the last one, never two at once. */
  chain: Promise<void>;
  /** The child channel was there: if it goes, someone deleted it to cancel the workflow. */
  childSeen: boolean;
}

/** Coordinates the workflows whose claim this engine holds. */
export class Workflows {
  #bus: Bus;
  #alias: string;
  #holder: Holder;
  #log: Logger;
  #claims: ClaimStore;
  #liveness: (holder: Holder) => boolean | undefined;
  /** By child channel. */
  #active = new Map<string, Active>();
  /**
   * Requests whose claim is being taken or confirmed through the remote (not yet in `#active`):
   * a sweep meanwhile must not take our own new claim for an abandoned one.
   */
  #taking = new Set<string>();
  #stopped = false;
  #sweeping: Promise<void> | undefined;

  constructor(options: WorkflowsOptions) {
    this.#bus = options.bus;
    this.#alias = options.alias;
    this.#holder = options.holder;
    this.#log = options.log;
    this.#claims = options.claims;
    this.#liveness = options.liveness ?? (() => undefined);
  }

  /** The child channels of the workflows coordinated here. */
  get active(): string[] {
    return [...this.#active.keys()];
  }

  /** Takes new workflow requests and moves on the workflows whose channel got a message. */
  async onMessages(messages: Message[]): Promise<void> {
    if (this.#stopped) return;
    const taking: Promise<void>[] = [];
    for (const message of messages) {
      if (message.type === "workflow") taking.push(this.#take(message));
      else if (this.#active.has(message.channel)) this.#kick(this.#active.get(message.channel)!);
    }
    await Promise.all(taking);
  }

  /**
   * Renews the claims of the workflows coordinated here and checks their deadlines; takes over
   * the workflows whose coordinator is gone.
   */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweep(): Promise<void> {
    if (this.#stopped) return;
    for (const active of this.#active.values()) {
      if (!(await this.#claims.renew(active.key, active.generation))) {
        this.#log.warn("workflow.lost", { trace: traceOf(active.request), child: active.child });
        this.#active.delete(active.child);
        continue;
      }
      this.#kick(active);
    }
    const leaseMs = this.#bus.config.engine.lease_seconds * 1000;
    for (const key of await this.#claims.listOpen()) {
      if (key.model !== WORKFLOW_CLAIM || this.#stopped) continue;
      const ref = `${key.channel}/${key.id}`;
      if (this.#taking.has(ref)) continue;
      const child = await childChannelOf(key);
      if (this.#active.has(child)) continue;
      const lease = await this.#claims.lease(key);
      const judge = { self: this.#holder, liveness: this.#liveness, leaseMs };
      if (lease && !leaseIsDead(lease, judge)) continue;
      let request: Message;
      try {
        request = await this.#bus.transport.readMessage(key.channel, key.id);
      } catch (error) {
        if (!(error instanceof CrosstalkError)) throw error;
        if (await this.#claims.channelGone(key.channel)) await this.#claims.close(key);
        continue;
      }
      if (!this.#coordinatesHere(request)) continue;
      const generation = await this.#claims.takeOver(key, lease, this.#holder);
      if (generation === undefined) continue;
      this.#log.warn("workflow.takeover", {
        trace: traceOf(request),
        child,
        from: lease?.holder ? `${lease.holder.alias}:${lease.holder.pid}` : "nobody",
      });
      await this.#admit(request, key, generation);
    }
  }

  /** Stops coordinating; the claims stay open for whoever takes them over. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#sweeping;
    await Promise.all([...this.#active.values()].map((a) => a.chain));
    this.#active.clear();
  }

  /** Resolves when every workflow coordinated here has taken every step it can take now. */
  async idle(): Promise<void> {
    let chains: Promise<void>[] = [];
    do {
      chains = [...this.#active.values()].map((a) => a.chain);
      await Promise.all(chains);
    } while ([...this.#active.values()].some((a, i) => a.chain !== chains[i]));
  }

  #coordinatesHere(request: Message): boolean {
    try {
      const target = resolveAddress(request.to[0] ?? "", this.#bus.config);
      return target.kind !== "workflow" || target.alias === undefined ||
        target.alias === this.#alias;
    } catch {
      return true;
    }
  }

  async #take(request: Message): Promise<void> {
    if (!this.#coordinatesHere(request)) return;
    const key: ClaimKey = { channel: request.channel, id: request.id, model: WORKFLOW_CLAIM };
    const ref = `${request.channel}/${request.id}`;
    if (this.#taking.has(ref)) return;
    this.#taking.add(ref);
    let generation: number | undefined;
    try {
      generation = await this.#claims.acquire(key, this.#holder, { urgent: true });
    } finally {
      if (generation === undefined) this.#taking.delete(ref);
    }
    // #admit lets go of the request once the claim is confirmed (or lost).
    if (generation !== undefined) await this.#admit(request, key, generation);
  }

  /** Starts coordinating; on a shared transport once the remote confirms the claim. */
  async #admit(request: Message, key: ClaimKey, generation: number): Promise<void> {
    const ref = `${key.channel}/${key.id}`;
    this.#taking.add(ref);
    const child = await childChannelOf(request);
    const start = () => {
      if (this.#stopped) return;
      const active: Active = {
        request,
        child,
        key,
        generation,
        chain: Promise.resolve(),
        childSeen: false,
      };
      this.#active.set(child, active);
      this.#log.info("workflow.coordinating", { trace: traceOf(request), child, generation });
      this.#kick(active);
    };
    if (!this.#claims.shared) {
      start();
      this.#taking.delete(ref);
      return;
    }
    this.#claims.confirm(key, generation, this.#holder).then((won) => {
      if (won) start();
      else this.#log.info("workflow.claim_lost", { trace: traceOf(request), child });
    }, (error) => {
      this.#log.warn("workflow.unconfirmed", { trace: traceOf(request), reason: String(error) });
    }).finally(() => this.#taking.delete(ref));
  }

  #kick(active: Active): void {
    active.chain = active.chain.then(() => this.#advance(active)).catch((error) => {
      this.#log.error("workflow.step_failed", { trace: traceOf(active.request), error });
    });
  }

  /** Reads the workflow from the bus and takes the next step it is ready for. */
  async #advance(active: Active): Promise<void> {
    if (this.#stopped || this.#active.get(active.child) !== active) return;
    const { request, child } = active;
    const bus = this.#bus;
    const config = bus.config;
    if (!(await this.#ensureChild(active))) return;
    if ((await bus.transport.readChannelFile(child, "COMPLETE")) !== undefined) {
      return await this.#close(active);
    }
    let planFile = parsePlanFile(await bus.transport.readChannelFile(child, "PLAN.json"));
    const messages = await readAll(bus, child);
    const steps = stepsOf(messages);

    if (!planFile) {
      let plan: Plan | undefined;
      let planner: string | null = null;
      try {
        plan = planInBody(request.body, config);
      } catch (error) {
        if (!(error instanceof CrosstalkError)) throw error;
        return await this.#finish(active, { failed: error.message });
      }
      if (!plan) {
        planner = request.to[0]!;
        if (resolveAddress(planner, config).kind !== "model") {
          return await this.#finish(active, {
            failed:
              "A workflow in prose needs a model to plan it: send it to a model (to: opus), or write the plan in a fenced yaml block",
          });
        }
        const compile = steps.find((s) => s.phase === "compile");
        if (!compile) {
          await this.#sendStep(active, {
            step: "compile",
            to: planner,
            body: plannerPrompt(request.body, config),
          });
          return this.#phase(active, "compile");
        }
        const reply = await this.#answer(active, compile, { messages, who: "The planner" });
        if (!reply) return;
        try {
          plan = planInReply(reply.body, config);
        } catch (error) {
          if (!(error instanceof CrosstalkError)) throw error;
          return await this.#finish(active, { failed: error.message });
        }
      }
      planFile = {
        version: 1,
        request: { channel: request.channel, id: request.id, from: request.from },
        planner,
        dispatch_host: this.#alias,
        created: new Date().toISOString(),
        plan,
      };
      await bus.transport.writeChannelFile(
        child,
        "PLAN.json",
        `${JSON.stringify(planFile, null, 2)}\n`,
      );
      this.#log.info("workflow.planned", {
        trace: traceOf(request),
        child,
        runs: plan.fanout.reduce((n, s) => n + s.count, 0),
        synthesize: plan.synthesize?.to ?? null,
      });
    }

    const plan = planFile.plan;
    const prose = proseOf(request.body);
    const total = plan.fanout.reduce((n, s) => n + s.count, 0);
    let n = 0;
    let sent = false;
    for (const entry of plan.fanout) {
      for (let i = 0; i < entry.count; i++) {
        const step = `fanout-${++n}`;
        if (steps.some((s) => s.step === step)) continue;
        const context = prose
          ? `\n\n---\n\nThis is run ${n} of ${total} of a workflow that ${request.from} asked for:\n\n${prose}`
          : "";
        await this.#sendStep(active, {
          step,
          to: entry.to,
          body: `${entry.prompt}${context}`,
          ...(entry.as ? { as: entry.as } : {}),
        });
        sent = true;
      }
    }
    if (sent) return this.#phase(active, "fanout");
    // A run with no reply by its deadline counts as failed: the others need not wait for it.
    const fanout = steps.filter((s) => s.phase === "fanout");
    if (fanout.some((s) => !s.reply && !this.#overdue(s))) return;
    const drafts = fanout.map((s) => ({
      step: s,
      reply: s.reply && messages.find((m) => m.id === s.reply!.id),
    }));
    const good = drafts.filter((d) => d.reply && !d.reply.failed);
    if (good.length === 0) {
      const why = fanout.map((s) =>
        `${s.step} (${s.to}): ${s.reply ? s.reply.error ?? "failed" : "no reply in time"}`
      ).join("; ");
      return await this.#finish(active, { failed: `Every fan-out run failed: ${why}` });
    }
    const missing = drafts.length - good.length;
    const draftText = good.map((d, i) =>
      `## Draft ${i + 1} of ${good.length}, by ${d.reply!.from}\n\n${d.reply!.body}`
    ).join("\n\n");
    const note = missing > 0
      ? `\n\n(${missing} of ${drafts.length} runs failed and are left out.)`
      : "";
    if (!plan.synthesize) {
      return await this.#finish(active, { body: `${draftText}${note}` });
    }
    const synthesis = steps.find((s) => s.phase === "synthesize");
    if (!synthesis) {
      const context = prose ? `\n\nThe request, from ${request.from}:\n\n${prose}` : "";
      await this.#sendStep(active, {
        step: "synthesize",
        to: plan.synthesize.to,
        body: `${plan.synthesize.prompt}${context}\n\n---\n\n${draftText}${note}`,
        ...(plan.synthesize.as ? { as: plan.synthesize.as } : {}),
      });
      return this.#phase(active, "synthesize");
    }
    const result = await this.#answer(active, synthesis, { messages, who: "The synthesis" });
    if (result) await this.#finish(active, { body: result.body });
  }

  /**
   * The reply to a step that the workflow waits on alone (the planning, the synthesis), once it
   * came and did not fail. Undefined while it is awaited; also when it failed or is overdue, and
   * then the workflow is finished as failed.
   */
  async #answer(
    active: Active,
    step: WorkflowStep,
    { messages, who }: { messages: Message[]; who: string },
  ): Promise<Message | undefined> {
    if (!step.reply) {
      if (this.#overdue(step)) {
        await this.#finish(active, { failed: `${who} (${step.to}) did not reply in time` });
      }
      return undefined;
    }
    if (step.reply.failed) {
      await this.#finish(active, {
        failed: `${who} (${step.reply.from}) failed: ${step.reply.error ?? ""}`,
      });
      return undefined;
    }
    return messages.find((m) => m.id === step.reply!.id);
  }

  /**
   * True for a step with no reply long after it was sent: its runs (at most MAX_ATTEMPTS, each
   * within `timeout_seconds`) are over, or no engine runs its model.
   */
  #overdue(step: WorkflowStep): boolean {
    const deadlineMs = (MAX_ATTEMPTS + 1) * this.#bus.config.engine.timeout_seconds * 1000;
    return !step.reply && Date.now() - Date.parse(step.sent) > deadlineMs;
  }

  /** Makes the child channel when it is not there yet; false when the request's channel is gone. */
  async #ensureChild(active: Active): Promise<boolean> {
    const transport = this.#bus.transport;
    try {
      await transport.getChannel(active.child);
      active.childSeen = true;
      return true;
    } catch (error) {
      if (!(error instanceof CrosstalkError) || error.code !== "ERR_CHANNEL_NOT_FOUND") throw error;
    }
    // Made before (seen here, or marked by an engine that crashed or stopped since) and gone:
    // deleted to cancel the workflow, which is not started again.
    if (active.childSeen || await this.#claims.marked(active.key, CHILD_MADE)) {
      await this.#finish(active, {
        failed: "Cancelled: its channel was deleted while it ran",
      });
      return false;
    }
    let parent;
    try {
      parent = await transport.getChannel(active.request.channel);
    } catch (error) {
      if (!(error instanceof CrosstalkError) || error.code !== "ERR_CHANNEL_NOT_FOUND") throw error;
      this.#log.info("workflow.dropped", {
        trace: traceOf(active.request),
        reason: "its channel was deleted",
      });
      await this.#close(active);
      return false;
    }
    const stem = active.request.id.slice(-11, -3);
    await transport.createChannel({
      id: active.child,
      name: `${parent.name.slice(0, 80)}.workflow-${stem}`,
      parent: parent.id,
      extra: { workflow: active.request.id },
    });
    await this.#claims.mark(active.key, CHILD_MADE);
    active.childSeen = true;
    this.#log.info("workflow.started", {
      trace: traceOf(active.request),
      child: active.child,
      from: active.request.from,
    });
    return true;
  }

  async #sendStep(
    active: Active,
    step: { step: string; to: string; body: string; as?: string },
  ): Promise<void> {
    const phase = step.step.startsWith("fanout-") ? "fanout" : step.step;
    await this.#bus.send({
      channel: active.child,
      from: "workflow",
      to: [step.to],
      body: step.body,
      as: step.as,
      extra: { workflow_phase: phase, workflow_step: step.step, dispatch_host: this.#alias },
    });
  }

  #phase(active: Active, phase: WorkflowPhase): void {
    this.#log.info("workflow.phase", {
      trace: traceOf(active.request),
      child: active.child,
      phase,
    });
  }

  /** Sends the result (or the failure) back to the requester, marks the child complete, closes. */
  async #finish(
    active: Active,
    outcome: { body: string } | { failed: string },
  ): Promise<void> {
    const { request, child } = active;
    const bus = this.#bus;
    const failed = "failed" in outcome;
    const existing = await resultOf(bus, request, child);
    let id = existing?.id;
    if (!existing) {
      try {
        const sent = await bus.send({
          channel: request.channel,
          from: "workflow",
          to: [request.from],
          re: [request.id],
          body: failed ? await this.#failureText(outcome.failed, child) : outcome.body,
          extra: {
            child_channel: child,
            workflow_phase: failed ? "failed" : "complete",
            dispatch_host: this.#alias,
          },
          ...(failed ? { failed: { error: outcome.failed } } : {}),
        });
        id = sent.id;
      } catch (error) {
        if (!(error instanceof CrosstalkError) || error.code !== "ERR_CHANNEL_NOT_FOUND") {
          throw error;
        }
        this.#log.info("workflow.dropped", {
          trace: traceOf(request),
          reason: "its channel was deleted",
        });
        return await this.#close(active);
      }
    }
    await bus.transport.writeChannelFile(child, "COMPLETE", `${new Date().toISOString()}\n`)
      .catch((error) => {
        if (!(error instanceof CrosstalkError) || error.code !== "ERR_CHANNEL_NOT_FOUND") {
          throw error;
        }
      });
    this.#log[failed ? "warn" : "info"](failed ? "workflow.failed" : "workflow.complete", {
      trace: traceOf(request),
      child,
      result: id,
      ...(failed ? { error: outcome.failed } : {}),
    });
    await this.#close(active);
  }

  async #failureText(error: string, child: string): Promise<string> {
    const channel = await this.#bus.transport.getChannel(child).catch(() => undefined);
    const where = channel ? `\n\nIts steps are in channel "${channel.name}" (${child}).` : "";
    return `The workflow failed: ${error}${where}`;
  }

  async #close(active: Active): Promise<void> {
    await this.#claims.close(active.key);
    this.#active.delete(active.child);
  }
}

function parsePlanFile(text: string | undefined): PlanFile | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as PlanFile;
    return value?.plan?.fanout ? value : undefined;
  } catch {
    return undefined;
  }
}

async function readAll(bus: Bus, channel: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (const id of await bus.transport.listMessageIds(channel)) {
    try {
      messages.push(await bus.transport.readMessage(channel, id));
    } catch (error) {
      if (!(error instanceof CrosstalkError)) throw error;
    }
  }
  return messages;
}

function stepsOf(messages: Message[]): WorkflowStep[] {
  const steps: WorkflowStep[] = [];
  for (const message of messages) {
    const step = message.extra?.workflow_step;
    const phase = message.extra?.workflow_phase;
    if (message.from !== "workflow" || typeof step !== "string") continue;
    if (phase !== "compile" && phase !== "fanout" && phase !== "synthesize") continue;
    if (steps.some((s) => s.step === step)) continue;
    const entry: WorkflowStep = {
      step,
      phase,
      to: message.to[0] ?? "",
      id: message.id,
      sent: message.timestamp,
    };
    const reply = messages.find((m) => m.from !== "workflow" && m.re?.includes(message.id));
    if (reply) {
      entry.reply = { id: reply.id, from: reply.from, failed: reply.failed === true };
      if (reply.error) entry.reply.error = reply.error;
    }
    steps.push(entry);
  }
  // Steps sent within one millisecond have ids in random order: sorted by their place instead.
  return steps.sort((a, b) => stepRank(a.step) - stepRank(b.step));
}

function stepRank(step: string): number {
  if (step === "compile") return 0;
  if (step === "synthesize") return Number.MAX_SAFE_INTEGER;
  return Number(step.slice("fanout-".length)) || Number.MAX_SAFE_INTEGER - 1;
}

/** The result message the coordinator sent back for `request`, if any. */
async function resultOf(
  bus: Bus,
  request: { channel: string; id: string },
  child: string,
): Promise<Message | undefined> {
  let message: Message;
  try {
    message = await bus.transport.readMessage(request.channel, request.id);
  } catch (error) {
    if (!(error instanceof CrosstalkError)) throw error;
    return undefined;
  }
  return (await bus.replies(message)).find((m) =>
    m.from === "workflow" && m.extra?.child_channel === child
  );
}

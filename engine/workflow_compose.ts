/**
 * Compose: a workflow described in plain language becomes a written plan that the requester
 * reviews, edits and then runs (docs/WORKFLOWS.md). Nothing runs but the planning: the planning
 * prompt a workflow's coordinator sends its planner is sent here to the model named, as a message
 * in the channel `workflows`, and the model's reply (run by whichever engine claims it, as any
 * message) is read with the plan parser and checked.
 */
import { CrosstalkError } from "../schema/errors.ts";
import { stringifyYaml } from "../schema/yaml.ts";
import {
  BusWatcher,
  type Channel,
  ClaimStore,
  detectWatchMode,
  type Message,
} from "../transports/mod.ts";
import type { Bus } from "./bus.ts";
import { allModels, resolveAddress } from "./models.ts";
import { derivedChannelId } from "./workflow.ts";
import { type Plan, plannerPrompt, planProblems, planValueInReply } from "./workflow_plan.ts";

/**
 * Where compose round trips go unless told otherwise: one channel of their own, so that the
 * planning prompts and the planners' answers stay out of the channels people talk in.
 */
export const COMPOSE_CHANNEL = "workflows";

/** Longest wait for a planner that a caller may ask for, in seconds. */
export const MAX_COMPOSE_SECONDS = 3600;

/** Options for {@linkcode composeWorkflow}. */
export interface ComposeOptions {
  /** The model that plans it; default the first model of `data/crosstalk.yaml`. */
  to?: string | undefined;
  /** Who asks, recorded on the planning message (`requested_by`). */
  requester?: string | undefined;
  /** The channel of the round trip (name, uuid or prefix); default {@linkcode COMPOSE_CHANNEL}. */
  channel?: string | undefined;
  /** How long to wait for the planner's reply; default `engine.timeout_seconds`. */
  timeoutMs?: number | undefined;
  /** Ends the wait early (the engine stops, the caller went away). */
  signal?: AbortSignal | undefined;
}

/** A composed plan, ready to be reviewed. */
export interface ComposedPlan {
  /** The model the planning prompt went to, as addressed. */
  planner: string;
  /** The plan as YAML: what goes in a request's fenced `yaml` block. */
  plan_yaml: string;
  /** A workflow request's body: the text, then the plan in a fenced `yaml` block. */
  request: string;
  /** The plan as checked, or null when it has problems. */
  plan: Plan | null;
  /** What is wrong with the plan the planner wrote (`fanout[0].to: …`); empty when it is valid. */
  problems: string[];
  /** The planning message. */
  message: { channel: string; id: string };
  /** The planner's reply. */
  reply: { channel: string; id: string; from: string };
}

/**
 * Sends the planning prompt for `text` to a model, waits for its reply and reads the plan in it.
 * A plan that the checks refuse is still returned, with its problems, to be fixed by the
 * requester.
 *
 * @throws {CrosstalkError} `ERR_WORKFLOW_INVALID` when `text` is empty, the planner failed or its
 *   reply holds no plan; `ERR_UNKNOWN_MODEL` (or `ERR_AMBIGUOUS_MODEL`, `ERR_ADDRESS_INVALID`)
 *   when `to` is no model of this transport; `ERR_CHANNEL_NOT_FOUND` for an unknown `channel`;
 *   `ERR_TIMEOUT` when no reply comes in time
 */
export async function composeWorkflow(
  bus: Bus,
  text: string,
  options: ComposeOptions = {},
): Promise<ComposedPlan> {
  const config = bus.config;
  const prose = text.trim();
  if (prose === "") {
    throw new CrosstalkError(
      "ERR_WORKFLOW_INVALID",
      "Nothing to compose: describe the workflow in plain language",
    );
  }
  const planner = checkPlanner(options.to, bus);
  const channel = await composeChannel(bus, options.channel);
  const sent = await bus.send({
    channel: channel.id,
    // As the coordinator asks its planner: from `workflow`, a step of its own (never batched
    // with another request's planning into one run), so the reply wakes nobody.
    from: "workflow",
    to: [planner],
    body: plannerPrompt(prose, config),
    extra: {
      workflow_phase: "compose",
      workflow_step: "compose",
      ...(options.requester ? { requested_by: options.requester } : {}),
    },
  });
  const timeoutMs = options.timeoutMs ?? config.engine.timeout_seconds * 1000;
  // A planner that prints nothing writes no reply: its run's record ends the wait instead.
  const silent = new AbortController();
  const watch = watchSilentRun(bus, sent, silent);
  let replies: Message[];
  try {
    const stop = options.signal ? AbortSignal.any([options.signal, silent.signal]) : silent.signal;
    replies = await bus.waitForReplies([sent], timeoutMs, stop);
  } finally {
    await watch.close();
  }
  const reply = replies.find((m) => m.from !== "workflow");
  const where = `its planning message is ${channel.name}/${sent.id}`;
  if (!reply) {
    if (silent.signal.aborted) {
      throw new CrosstalkError(
        "ERR_WORKFLOW_INVALID",
        `The planner "${planner}" answered nothing: its run ended without printing a plan (${where})`,
      );
    }
    if (options.signal?.aborted) {
      throw new CrosstalkError(
        "ERR_TIMEOUT",
        `Stopped waiting for the planner "${planner}" (${where})`,
      );
    }
    const why = await whyNoReply(bus, sent);
    throw new CrosstalkError(
      "ERR_TIMEOUT",
      `The planner "${planner}" did not answer within ${seconds(timeoutMs)}: ${why} (${where})`,
    );
  }
  if (reply.failed) {
    throw new CrosstalkError(
      "ERR_WORKFLOW_INVALID",
      `The planner (${reply.from}) failed: ${reply.error ?? "no reason given"}`,
    );
  }
  const value = planValueInReply(reply.body);
  if (value === undefined) {
    throw new CrosstalkError(
      "ERR_WORKFLOW_INVALID",
      `The planner's reply (${reply.from}) holds no plan: expected a JSON object with a fanout ` +
        `list, got ${JSON.stringify(excerpt(reply.body))}`,
    );
  }
  const { plan, problems } = planProblems(value, config);
  const planYaml = stringifyYaml(ordered(plan ?? value));
  return {
    planner,
    plan_yaml: planYaml,
    request: `${prose}\n\n\`\`\`yaml\n${planYaml}\`\`\`\n`,
    plan: plan ?? null,
    problems,
    message: refOf(sent),
    reply: { ...refOf(reply), from: reply.from },
  };
}

/** The planner to ask: `to`, which must be a model, or the first model of the transport. */
function checkPlanner(to: string | undefined, bus: Bus): string {
  const config = bus.config;
  const known = allModels(config).map((m) => `${m.provider}/${m.name}`);
  if (to === undefined || to.trim() === "") {
    const first = allModels(config)[0];
    if (!first) {
      throw new CrosstalkError(
        "ERR_UNKNOWN_MODEL",
        "No model to plan the workflow: this transport has none (add one to data/crosstalk.yaml)",
      );
    }
    return `${first.provider}/${first.name}`;
  }
  const planner = to.trim();
  if (resolveAddress(planner, config).kind !== "model") {
    throw new CrosstalkError(
      "ERR_UNKNOWN_MODEL",
      `"${planner}" is not a model of this transport, so it cannot plan a workflow (known: ${
        known.length > 0 ? known.join(", ") : "none"
      })`,
    );
  }
  return planner;
}

/**
 * Aborts `silent` once a run of `sent` has ended with nothing to say (its claim's record says
 * `empty`): no reply will come. Follows the transport's claim records (`data/claims`), where
 * whichever engine ran it, on whichever machine, writes that record.
 */
function watchSilentRun(
  bus: Bus,
  sent: Message,
  silent: AbortController,
): { close(): Promise<void> } {
  const claims = new ClaimStore(bus.location.root);
  const look = async () => {
    const states = await claims.states(sent).catch(() => []);
    if (states.some((s) => s.outcome?.status === "empty")) silent.abort();
  };
  const started = (async () => {
    await Deno.mkdir(claims.dir, { recursive: true });
    const mode = bus.config.engine.watch === "auto"
      ? await detectWatchMode(claims.dir)
      : bus.config.engine.watch;
    const watcher = new BusWatcher(claims.dir, look, {
      mode,
      pollIntervalMs: mode === "poll" ? bus.config.engine.poll_interval_ms : 0,
    });
    watcher.start();
    // A run that ended before the watch began.
    await look();
    return watcher;
  })();
  // A watch that cannot start (Deno.watchFs past the inotify limits) leaves the wait to its
  // timeout; left unhandled until close(), its rejection would end the whole process.
  started.catch(() => {});
  return {
    async close() {
      await (await started.catch(() => undefined))?.close();
    },
  };
}

/** What became of an unanswered planning message, as its delivery record says. */
async function whyNoReply(bus: Bus, sent: Message): Promise<string> {
  const { deliveryStatus } = await import("./status.ts");
  const row = (await deliveryStatus(bus, sent)).deliveries[0];
  if (!row) return "no engine has taken it (is one running that runs this model?)";
  switch (row.state) {
    case "written":
      return "no engine has taken it (is one running that runs this model?)";
    case "claimed":
    case "running":
      return `it is still running${row.by ? ` on ${row.by}` : ""}`;
    case "empty":
      return "it answered nothing";
    default:
      return `its delivery is ${row.state}${row.detail ? ` (${row.detail})` : ""}`;
  }
}

/** One make of the default channel at a time in this process (two composes racing). */
const making = new WeakMap<Bus, Promise<Channel>>();

/**
 * The channel of the round trip: the one named, or {@linkcode COMPOSE_CHANNEL}, made on first
 * use with a uuid derived from its name (two machines making it meet in one folder).
 */
async function composeChannel(bus: Bus, handle: string | undefined): Promise<Channel> {
  if (handle !== undefined) return await bus.resolveChannel(handle);
  try {
    return await bus.resolveChannel(COMPOSE_CHANNEL);
  } catch (error) {
    if (!(error instanceof CrosstalkError) || error.code !== "ERR_CHANNEL_NOT_FOUND") throw error;
  }
  let pending = making.get(bus);
  if (!pending) {
    pending = makeComposeChannel(bus).finally(() => making.delete(bus));
    making.set(bus, pending);
  }
  return await pending;
}

async function makeComposeChannel(bus: Bus): Promise<Channel> {
  const id = await derivedChannelId(`crosstalk-compose:${COMPOSE_CHANNEL}`);
  try {
    return await bus.transport.createChannel({ id, name: COMPOSE_CHANNEL });
  } catch (error) {
    if (!(error instanceof CrosstalkError) || error.code !== "ERR_CHANNEL_EXISTS") throw error;
    return await bus.transport.getChannel(id);
  }
}

/** A plan's keys in the order people write them: who, how many, as whom, then the prompt. */
function ordered(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const plan = value as Record<string, unknown>;
  const step = (s: unknown) => {
    if (typeof s !== "object" || s === null || Array.isArray(s)) return s;
    const entry = s as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of ["to", "count", "as", "prompt"]) {
      if (entry[key] !== undefined) out[key] = entry[key];
    }
    return { ...out, ...entry };
  };
  const out: Record<string, unknown> = {};
  if (plan.fanout !== undefined) {
    out.fanout = Array.isArray(plan.fanout) ? plan.fanout.map(step) : plan.fanout;
  }
  if (plan.synthesize !== undefined) out.synthesize = step(plan.synthesize);
  // Keys a plan should not have stay too, after these, for the requester to see and remove.
  for (const [key, item] of Object.entries(plan)) if (!(key in out)) out[key] = item;
  return out;
}

function refOf(message: Message): { channel: string; id: string } {
  return { channel: message.channel, id: message.id };
}

function excerpt(text: string): string {
  const flat = text.trim().replace(/\s+/g, " ");
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/**
 * Tasks and badges: a workflow layer on messages, not a separate system. Any message can be
 * flagged as a task (optionally for a role or a working directory), claimed by exactly one
 * participant (across machines: the push race decides), and resolved with a result, which is
 * also written as a reply to the task message so the thread carries it. Badges are small labels
 * anyone may add to a message (importance, question, commit, …).
 */
import { CrosstalkError } from "../schema/errors.ts";
import {
  type Annotation,
  AnnotationStore,
  type Message,
  type MessageRef,
  newMessageId,
  parseMessageId,
} from "../transports/mod.ts";
import type { Bus } from "./bus.ts";

/** A task as it stands. */
export interface TaskState {
  state: "open" | "claimed" | "completed" | "failed";
  flaggedBy: string;
  flaggedAt: string;
  role?: string;
  cwd?: string;
  claimedBy?: string;
  claimedAt?: string;
  resolvedAt?: string;
  result?: string;
  /** The reply that carries the result. */
  reply?: string;
}

/** Who acts on a task, with what the engine knows of them (a live agent's role and folder). */
export interface TaskActor {
  name: string;
  role?: string | undefined;
  cwd?: string | undefined;
}

/** A badge on a message. */
export interface Badge {
  type: string;
  value: string;
  by: string;
  at: string;
}

const MAX_RESULT_CHARS = 64 * 1024;
const BADGE_TYPE = /^[a-z][a-z0-9_-]{0,31}$/;

/** The task on a message, when it is one. */
export async function taskOf(
  store: AnnotationStore,
  message: MessageRef,
): Promise<TaskState | undefined> {
  const flag = await store.get(message, "task");
  if (!flag) return undefined;
  return taskFrom(
    flag,
    await store.get(message, "task-claim"),
    await store.get(message, "task-done"),
  );
}

/** A task from its records: flagged, then claimed and resolved when those exist. */
function taskFrom(
  flag: Record<string, unknown>,
  claim: Record<string, unknown> | undefined,
  done: Record<string, unknown> | undefined,
): TaskState {
  const task: TaskState = {
    state: "open",
    flaggedBy: String(flag.by),
    flaggedAt: String(flag.at),
    ...(typeof flag.role === "string" ? { role: flag.role } : {}),
    ...(typeof flag.cwd === "string" ? { cwd: flag.cwd } : {}),
  };
  if (claim) {
    task.state = "claimed";
    task.claimedBy = String(claim.by);
    task.claimedAt = String(claim.at);
  }
  if (done) {
    task.state = done.status === "failed" ? "failed" : "completed";
    task.resolvedAt = String(done.at);
    if (typeof done.result === "string") task.result = done.result;
    if (typeof done.reply === "string") task.reply = done.reply;
  }
  return task;
}

/** What a message's row shows: its task (null when it is none) and its badges, oldest first. */
export interface MessageAnnotations {
  task: TaskState | null;
  badges: Badge[];
}

/** Options for {@linkcode annotationsOf}. */
export interface AnnotationsOfOptions {
  /** The channel: its uuid, name or a unique uuid prefix. */
  channel: string;
  /** Message ids in that channel (`YYYY/MM/DD/HHMMSSmmmZ-<8 hex>.md`). */
  ids: readonly string[];
}

/**
 * The task and badges of many messages of one channel, from their task and badge records alone
 * (not their delivery state, claims or replies): each day folder is listed once. A message
 * with no records, or none at all in that channel, has no task and no badges.
 *
 * @throws {CrosstalkError} `ERR_ID_INVALID` naming the first id that is not a message id (before
 *   anything is read), `ERR_CHANNEL_NOT_FOUND`, `ERR_CHANNEL_AMBIGUOUS`
 */
export async function annotationsOf(
  bus: Bus,
  options: AnnotationsOfOptions,
): Promise<{ channel: string; annotations: Map<string, MessageAnnotations> }> {
  for (const id of options.ids) parseMessageId(id);
  const channel = (await bus.resolveChannel(options.channel)).id;
  const ids = [...new Set(options.ids)];
  const store = new AnnotationStore(bus.location.root);
  const records = await store.listMany(ids.map((id) => ({ channel, id })), {
    kinds: ["task", "task-claim", "task-done", "badge"],
  });
  const annotations = new Map<string, MessageAnnotations>();
  ids.forEach((id, i) => {
    const of = (kind: Annotation["kind"]) => records[i]!.find((a) => a.kind === kind)?.data;
    const flag = of("task");
    annotations.set(id, {
      task: flag ? taskFrom(flag, of("task-claim"), of("task-done")) : null,
      badges: badgesFrom(records[i]!),
    });
  });
  return { channel, annotations };
}

/** A task with the message it is on. */
export interface TaskEntry extends TaskState {
  channel: string;
  id: string;
  from: string;
  /** The message's first line. */
  title: string;
}

/**
 * The tasks on the bus, newest first: only those not resolved yet (open or claimed) unless
 * `all`. Tasks whose message can no longer be read are left out.
 */
export async function listTasks(
  store: AnnotationStore,
  bus: Bus,
  options: { all?: boolean } = {},
): Promise<TaskEntry[]> {
  const entries: TaskEntry[] = [];
  for (const ref of await store.taskRefs()) {
    let message: Message;
    try {
      message = await bus.transport.readMessage(ref.channel, ref.id);
    } catch (error) {
      if (!(error instanceof CrosstalkError)) throw error;
      continue;
    }
    const task = await taskOf(store, message);
    if (!task || (!options.all && task.state !== "open" && task.state !== "claimed")) continue;
    const title = message.body.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
    entries.push({ ...task, channel: ref.channel, id: ref.id, from: message.from, title });
  }
  // Flags made within one millisecond: the newer message first.
  return entries.sort((a, b) =>
    b.flaggedAt.localeCompare(a.flaggedAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
  );
}

/**
 * Flags a message as a task. Flagging a task twice is refused, unless it is the same flag again
 * (by the same sender, for the same role and folder): a retry of a call whose answer was lost.
 *
 * @throws {CrosstalkError} `ERR_TASK_CONFLICT`, `ERR_BODY_INVALID`
 */
export async function flagTask(
  store: AnnotationStore,
  message: Message,
  options: { by: string; role?: string | undefined; cwd?: string | undefined },
): Promise<TaskState> {
  if (options.role !== undefined && !/^[\w .-]{1,64}$/.test(options.role)) {
    throw new CrosstalkError("ERR_BODY_INVALID", "A task role is 1 to 64 letters, digits, . _ -");
  }
  if (
    options.cwd !== undefined &&
    (!options.cwd.startsWith("/") || options.cwd.length > 1024 || /[\0\n]/.test(options.cwd))
  ) {
    throw new CrosstalkError("ERR_BODY_INVALID", "A task's working directory is an absolute path");
  }
  const { won, data } = await store.createExclusive(message, "task", {
    by: options.by,
    at: new Date().toISOString(),
    ...(options.role ? { role: options.role } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const same = data.by === options.by && data.role === options.role && data.cwd === options.cwd;
  if (!won && !same) {
    throw new CrosstalkError(
      "ERR_TASK_CONFLICT",
      `This message is already a task (flagged by ${JSON.stringify(data.by)})`,
    );
  }
  return (await taskOf(store, message))!;
}

/**
 * Claims a task: exactly one claimant wins, on every machine of the transport.
 *
 * @throws {CrosstalkError} `ERR_TASK_CONFLICT` when it is no task, is meant for another role
 *   or folder, or somebody else claimed it first
 */
export async function claimTask(
  store: AnnotationStore,
  message: Message,
  actor: TaskActor,
): Promise<TaskState> {
  const task = await taskOf(store, message);
  if (!task) {
    throw new CrosstalkError("ERR_TASK_CONFLICT", "This message is not a task (flag it first)");
  }
  const refused = whyNotFor(task, actor);
  if (refused) throw new CrosstalkError("ERR_TASK_CONFLICT", refused);
  const { won, data } = await store.createExclusive(message, "task-claim", {
    by: actor.name,
    at: new Date().toISOString(),
  });
  if (!won && data.by !== actor.name) {
    throw new CrosstalkError(
      "ERR_TASK_CONFLICT",
      `The task was claimed by ${JSON.stringify(data.by)} first`,
    );
  }
  return (await taskOf(store, message))!;
}

/**
 * Resolves a claimed task with a result; only its claimant may. The result also goes into the
 * channel as a reply to the task message, addressed to whoever flagged it.
 *
 * @throws {CrosstalkError} `ERR_TASK_CONFLICT`, `ERR_BODY_INVALID`
 */
export async function resolveTask(
  bus: Bus,
  store: AnnotationStore,
  message: Message,
  options: { by: string; status: "completed" | "failed"; result: string },
): Promise<TaskState> {
  if (options.result.trim() === "" || options.result.length > MAX_RESULT_CHARS) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `A task result is 1 to ${MAX_RESULT_CHARS} characters`,
    );
  }
  const task = await taskOf(store, message);
  if (!task) throw new CrosstalkError("ERR_TASK_CONFLICT", "This message is not a task");
  if (task.claimedBy !== options.by) {
    throw new CrosstalkError(
      "ERR_TASK_CONFLICT",
      task.claimedBy
        ? `Only ${JSON.stringify(task.claimedBy)}, who claimed the task, can resolve it`
        : "Claim the task before resolving it",
    );
  }
  if (task.state === "completed" || task.state === "failed") {
    // The same resolve again (a live agent's relay sends a call again when the engine died
    // before answering it) succeeds, and sends the reply if the first attempt died before that.
    if (task.state !== options.status || task.result !== options.result || !task.reply) {
      throw new CrosstalkError("ERR_TASK_CONFLICT", `The task is already ${task.state}`);
    }
    await sendResult(bus, message, task.flaggedBy, options, task.reply);
    return task;
  }
  // The outcome is recorded first, exclusively (on git, confirmed on the remote), naming the
  // reply it will send: of two resolves at once, only the one that recorded it sends.
  const now = new Date();
  const reply = newMessageId(now);
  const { won } = await store.createExclusive(message, "task-done", {
    by: options.by,
    at: now.toISOString(),
    status: options.status,
    result: options.result,
    reply,
  });
  if (!won) {
    // The same resolve, racing itself (a retry while the first attempt still ran): the first
    // sends the reply; this one succeeds with it.
    const done = await taskOf(store, message);
    if (done?.state !== options.status || done.result !== options.result) {
      throw new CrosstalkError("ERR_TASK_CONFLICT", "The task was resolved meanwhile");
    }
    return done;
  }
  await sendResult(bus, message, task.flaggedBy, options, reply);
  return (await taskOf(store, message))!;
}

/** Sends a task's result as the reply `id` recorded for it, unless that reply exists. */
async function sendResult(
  bus: Bus,
  message: Message,
  flaggedBy: string,
  outcome: { by: string; status: "completed" | "failed"; result: string },
  id: string,
): Promise<void> {
  try {
    await bus.send({
      channel: message.channel,
      from: outcome.by,
      to: [flaggedBy],
      re: [message.id],
      body: `Task ${outcome.status}: ${outcome.result}`,
      id,
    });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
}

/**
 * Adds a badge; the same badge (type, value, sender) again adds nothing (a retried call).
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID`
 */
export async function addBadge(
  store: AnnotationStore,
  message: Message,
  badge: { type: string; value?: string | undefined; by: string },
): Promise<Badge> {
  if (!BADGE_TYPE.test(badge.type)) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      "A badge type is 1 to 32 lowercase letters, digits, _ or - (e.g. importance, question, commit)",
    );
  }
  const value = (badge.value ?? "").trim();
  if (value.length > 200) {
    throw new CrosstalkError("ERR_BODY_INVALID", "A badge value is at most 200 characters");
  }
  const existing = (await badgesOf(store, message)).find((b) =>
    b.type === badge.type && b.value === value && b.by === badge.by
  );
  if (existing) return existing;
  const record: Badge = { type: badge.type, value, by: badge.by, at: new Date().toISOString() };
  await store.add(message, "badge", { ...record });
  return record;
}

/** The badges on a message, oldest first. */
export async function badgesOf(store: AnnotationStore, message: Message): Promise<Badge[]> {
  return badgesFrom(await store.list(message));
}

function badgesFrom(records: readonly Annotation[]): Badge[] {
  return records
    .filter((a) => a.kind === "badge")
    .map((a) => a.data as unknown as Badge)
    .sort((a, b) => a.at.localeCompare(b.at));
}

/**
 * Why `actor` may not claim `task` (its role or folder is another), or undefined when it may.
 * An actor who does not say its role or folder (a person) may claim any task.
 */
export function whyNotFor(task: TaskState, actor: TaskActor): string | undefined {
  if (task.role && actor.role !== undefined && actor.role !== task.role) {
    return `This task is for the role "${task.role}", not "${actor.role}"`;
  }
  if (task.cwd && actor.cwd !== undefined && !within(actor.cwd, task.cwd)) {
    return `This task is for agents working in "${task.cwd}"`;
  }
  return undefined;
}

function within(path: string, folder: string): boolean {
  const base = folder.endsWith("/") ? folder : `${folder}/`;
  return path === folder || path.startsWith(base);
}

// /api/messages: send (with Idempotency-Key), list, show, replies (long-poll), delivery status.
import { Hono } from "hono";
import { traceOf } from "../engine/dispatcher.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { IdempotencyStore } from "../engine/idempotency.ts";
import { deliveryStatus } from "../engine/status.ts";
import { addBadge, claimTask, flagTask, resolveTask, type TaskActor } from "../engine/tasks.ts";
import type { Message } from "../transports/mod.ts";
import {
  actingAs,
  type AppDeps,
  checkShape,
  type Env,
  identityOf,
  jsonBody,
  numberQuery,
  optionalJsonBody,
} from "./_context.ts";

const ID =
  ":channel{[0-9a-f-]{36}}/:y{[0-9]{4}}/:m{[0-9]{2}}/:d{[0-9]{2}}/:file{[0-9]{9}Z-[0-9a-f]{8}\\.md}";
const MAX_WAIT_SECONDS = 120;
const MAX_PAGE = 500;

/** The messages resource. */
export function messageRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  // Without an engine's store, one in memory: made once (a promise, so that requests racing the
  // first one share it).
  let memory: Promise<IdempotencyStore> | undefined;
  const keys = () =>
    deps.idempotency ? Promise.resolve(deps.idempotency) : (memory ??= IdempotencyStore.open());

  app.post("/", async (c) => {
    const identity = identityOf(c);
    const body = await jsonBody(c);
    checkShape(body, {
      // Left out: the body's @mentions (engine/mentions.ts).
      to: "string|string[]?",
      exclude: "string|string[]?",
      body: "string",
      channel: "string?",
      re: "string|string[]?",
      as: "string?",
      from: "string?",
      type: "string?",
      create_channel: "boolean?",
    });
    if (body.type !== undefined && body.type !== "workflow") {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `type must be "workflow" when present, not ${JSON.stringify(body.type)}`,
      );
    }
    // A token sends as its own identity; only an admin may speak for someone else.
    const from = body.from as string | undefined;
    actingAs(identity, from, "sends");
    const key = c.req.header("Idempotency-Key");
    if (key !== undefined && (key.length === 0 || key.length > 200)) {
      throw new CrosstalkError("ERR_BODY_INVALID", "Idempotency-Key must be 1 to 200 characters");
    }
    const list = (
      v: unknown,
    ) => (v === undefined ? undefined : Array.isArray(v) ? v as string[] : [v as string]);
    // A live agent's messages say which model wrote them (as it registered), for those who read.
    const model = identity.kind === "live" ? liveModel(deps, identity.subject) : undefined;
    const send = (id?: string) =>
      deps.bus.send({
        ...(id === undefined ? {} : { id }),
        ...(model ? { extra: { model } } : {}),
        to: list(body.to),
        exclude: list(body.exclude),
        body: body.body as string,
        channel: body.channel as string | undefined,
        from: from ?? identity.subject,
        as: body.as as string | undefined,
        re: list(body.re),
        type: body.type as "workflow" | undefined,
        createChannel: body.create_channel === true,
      });
    // Written all the same (someone of that name may come), but the sender hears of a name
    // nobody answers to: most often a typo.
    const warned = async (message: Message) => {
      const unknown = await deps.live?.unknownAddressees(message.to) ?? [];
      // An exclude with a typo leaves out nobody: the one it meant is woken.
      const unexcluded = await deps.live?.unknownAddressees(message.exclude ?? []) ?? [];
      if (unknown.length === 0 && unexcluded.length === 0) return message;
      return {
        ...message,
        warnings: [
          ...unknown.map((name) =>
            `No user, live agent or model is called "${name}": the message waits for one of that name`
          ),
          ...unexcluded.map((name) =>
            `No user, live agent or model is called "${name}": exclude leaves nobody out by that name`
          ),
        ],
      };
    };
    if (key === undefined) return c.json(await warned(await send()), 201);
    // A retry (even one racing the first attempt) returns the first message; the same key for
    // another message is a client's mistake, refused.
    const sent = await (await keys()).once(identity.subject, key, fingerprintOf(body), {
      newId: () => deps.bus.newMessageId(),
      send,
      find: (id) =>
        deps.bus.findMessage(id).catch((error) => {
          if (error instanceof CrosstalkError && error.code === "ERR_MESSAGE_NOT_FOUND") {
            return undefined;
          }
          throw error;
        }),
    });
    if (sent.first) return c.json(await warned(sent.message), 201);
    return c.json(await deps.bus.transport.readMessage(sent.ref.channel, sent.ref.id), 200);
  });

  app.get("/", async (c) => {
    const limit = numberQuery(c, "limit", {
      min: 1,
      max: MAX_PAGE,
      fallback: 100,
      unit: "messages",
    });
    const before = c.req.query("before");
    const { channel, messages, skipped, next, previous } = await deps.bus.listMessages(
      c.req.query("channel"),
      { since: c.req.query("since"), before, limit },
    );
    return c.json({
      channel: channel.id,
      messages,
      next: next ?? null,
      ...(before === undefined ? {} : { previous: previous ?? null }),
      skipped,
    });
  });

  const find = (c: { req: { param(name: string): string } }): Promise<Message> => {
    const id = ["y", "m", "d", "file"].map((p) => c.req.param(p)).join("/");
    return deps.bus.findMessage(`${c.req.param("channel")}/${id}`);
  };

  app.get(`/${ID}`, async (c) => c.json(await find(c)));

  app.get(`/${ID}/replies`, async (c) => {
    const message = await find(c);
    const wait = numberQuery(c, "wait", {
      min: 0,
      max: MAX_WAIT_SECONDS,
      fallback: 0,
      fraction: true,
      unit: "seconds",
    });
    if (wait > 0) {
      deps.log?.debug("api.replies_wait", {
        trace: traceOf(message),
        seconds: Math.min(wait, MAX_WAIT_SECONDS),
      });
    }
    const replies = wait > 0
      ? await deps.bus.waitForReplies(
        [message],
        Math.min(wait, MAX_WAIT_SECONDS) * 1000,
        deps.shutdown,
      )
      : await deps.bus.replies(message);
    return c.json({ replies });
  });

  app.get(`/${ID}/status`, async (c) => c.json(await deliveryStatus(deps.bus, await find(c))));

  // Tasks and badges (engine only: they are recorded through the engine's sync).
  const engine = () => {
    if (!deps.live) {
      throw new CrosstalkError("ERR_ROUTE_NOT_FOUND", "Tasks and badges need a running engine");
    }
    return deps.live;
  };
  /**
   * Who a task or badge request acts as: the caller, or the body's `from` (only an admin's token
   * may name someone else, who must be a tmux agent, live agent, user or model). A live agent,
   * the caller's own token or one named, and a tmux agent named bring their role and folder, which
   * a claim must fit; anyone else only a name.
   */
  const actorOf = async (
    c: Parameters<typeof identityOf>[0],
    from: unknown,
  ): Promise<TaskActor> => {
    const identity = identityOf(c);
    const name = actingAs(identity, from as string | undefined);
    if (name !== identity.subject) return await engine().taskActor(name);
    if (identity.kind !== "live") return { name };
    const agent = engine().live.get(identity.subject);
    return { name: agent.name, role: agent.role, cwd: agent.cwd };
  };
  // The event's time is the record's own when it has one (a badge's), else now.
  const publish = (type: "task" | "badge", data: Record<string, unknown>) =>
    deps.events?.publish(type, { at: new Date().toISOString(), ...data });

  app.post(`/${ID}/task`, async (c) => {
    const message = await find(c);
    const body = await jsonBody(c);
    checkShape(body, { role: "string?", cwd: "string?", from: "string?" });
    const actor = await actorOf(c, body.from);
    const task = await flagTask(engine().annotations, message, {
      by: actor.name,
      role: body.role as string | undefined,
      cwd: body.cwd as string | undefined,
    });
    publish("task", { message: `${message.channel}/${message.id}`, ...task });
    return c.json(task, 201);
  });

  app.post(`/${ID}/task/claim`, async (c) => {
    const message = await find(c);
    // The body may be left out: the caller claims for itself.
    const body = await optionalJsonBody(c);
    checkShape(body, { from: "string?" });
    const task = await claimTask(engine().annotations, message, await actorOf(c, body.from));
    publish("task", { message: `${message.channel}/${message.id}`, ...task });
    return c.json(task);
  });

  app.post(`/${ID}/task/resolve`, async (c) => {
    const message = await find(c);
    const body = await jsonBody(c);
    checkShape(body, { status: "string?", result: "string", from: "string?" });
    const status = (body.status ?? "completed") as string;
    if (status !== "completed" && status !== "failed") {
      throw new CrosstalkError("ERR_BODY_INVALID", 'status must be "completed" or "failed"');
    }
    const actor = await actorOf(c, body.from);
    const task = await resolveTask(deps.bus, engine().annotations, message, {
      by: actor.name,
      status,
      result: body.result as string,
    });
    publish("task", { message: `${message.channel}/${message.id}`, ...task });
    return c.json(task);
  });

  app.post(`/${ID}/badges`, async (c) => {
    const message = await find(c);
    const body = await jsonBody(c);
    checkShape(body, { type: "string", value: "string?", from: "string?" });
    const actor = await actorOf(c, body.from);
    const badge = await addBadge(engine().annotations, message, {
      type: body.type as string,
      value: body.value as string | undefined,
      by: actor.name,
    });
    publish("badge", { message: `${message.channel}/${message.id}`, ...badge });
    return c.json(badge, 201);
  });
  return app;
}

/**
 * What identifies a send request for its Idempotency-Key: its fields in a fixed order (a retry
 * that lists them in another order is the same request).
 */
function fingerprintOf(body: Record<string, unknown>): string {
  const fields = Object.keys(body).sort().map((k) => [k, body[k]]);
  let hash = 0x811c9dc5;
  for (const char of JSON.stringify(fields)) {
    hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** The model a live agent registered with, if it said. */
function liveModel(deps: AppDeps, name: string): string | undefined {
  try {
    return deps.live?.live.get(name).model;
  } catch {
    return undefined;
  }
}

// /api/live and /api/peers: live agent sessions (register, wake stream, inbox, status, leave)
// and who can be reached on every machine of the transport.
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { CrosstalkError } from "../schema/errors.ts";
import { checkLiveLabel, type WakeKind } from "../engine/live.ts";
import { checkTmuxSocket } from "../engine/tmux_agents.ts";
import {
  type AppDeps,
  checkShape,
  type Env,
  identityOf,
  jsonBody,
  numberQuery,
} from "./_context.ts";

const WAKE_KINDS: readonly WakeKind[] = ["channel", "tmux", "webhook", "pull"];
const LIVE_TOKEN_SECONDS = 30 * 24 * 3600;
const MAX_WAIT_SECONDS = 300;
const KEEPALIVE_MS = 15_000;

/** The live agents and peers resources (mounted at /api). */
export function liveRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const engine = () => {
    if (!deps.live) {
      throw new CrosstalkError(
        "ERR_ROUTE_NOT_FOUND",
        "No engine runs behind this API, so there are no live agents",
      );
    }
    return deps.live;
  };
  /** The caller's own live agent: only a live agent token has one. */
  const me = (c: Parameters<typeof identityOf>[0]) => {
    const identity = identityOf(c);
    if (identity.kind !== "live") {
      throw new CrosstalkError(
        "ERR_FORBIDDEN",
        "Only a live agent session's token has an inbox (register with POST /api/live)",
      );
    }
    return identity.subject;
  };

  app.post("/live", async (c) => {
    const identity = identityOf(c);
    if (identity.kind !== "user") {
      throw new CrosstalkError("ERR_FORBIDDEN", "Only a user may register a live agent");
    }
    const body = await jsonBody(c);
    checkShape(body, {
      name: "string?",
      agent: "string",
      model: "string?",
      role: "string?",
      cwd: "string?",
      tmux: "string?",
      tmux_socket: "string?",
      wake: "string?",
      allow: "string[]?",
    });
    const wake = (body.wake ?? "channel") as WakeKind;
    if (!WAKE_KINDS.includes(wake)) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `wake must be one of ${WAKE_KINDS.join(", ")}, not ${JSON.stringify(body.wake)}`,
      );
    }
    for (const field of ["agent", "model", "role", "tmux"] as const) {
      if (body[field] !== undefined) checkLiveLabel(field, body[field]);
    }
    const tmuxSocket = body.tmux_socket as string | undefined;
    if (tmuxSocket !== undefined) checkTmuxSocket(tmuxSocket);
    const cwd = body.cwd as string | undefined;
    if (cwd !== undefined && (!cwd.startsWith("/") || cwd.length > 1024 || /[\0\n]/.test(cwd))) {
      throw new CrosstalkError("ERR_BODY_INVALID", "cwd must be an absolute path");
    }
    const { agent, jti } = await engine().registerLive({
      name: body.name as string | undefined,
      agent: body.agent as string,
      model: body.model as string | undefined,
      role: body.role as string | undefined,
      cwd,
      tmux: body.tmux as string | undefined,
      tmuxSocket,
      wake,
      allow: body.allow as string[] | undefined,
    }, identity.subject);
    const token = await deps.auth.mintLiveToken(agent.name, jti, LIVE_TOKEN_SECONDS);
    return c.json({ agent, token }, 201);
  });

  app.get("/live", (c) => c.json({ agents: engine().live.list() }));
  app.get("/peers", async (c) => c.json(await engine().peers()));

  app.get("/live/me", (c) => c.json(engine().live.get(me(c))));

  // What a session says of itself: its status, and the model and role it registered with (a
  // role decides which role-scoped tasks it may claim); null takes the model or the role away.
  app.patch("/live/me", async (c) => {
    const name = me(c);
    const body = await jsonBody(c);
    checkShape(body, { status: "string?", model: "string|null?", role: "string|null?" });
    return c.json(
      await engine().live.update(name, {
        status: body.status as string | undefined,
        model: body.model as string | null | undefined,
        role: body.role as string | null | undefined,
      }),
    );
  });

  app.delete("/live/me", async (c) => {
    await engine().live.leave(me(c));
    return c.json({ left: true });
  });

  // Messages a read handed out that never reached the agent (a cancelled call): unread again.
  app.post("/live/me/unread", async (c) => {
    const name = me(c);
    const body = await jsonBody(c);
    checkShape(body, { refs: "string[]" });
    const refs = body.refs as string[];
    if (refs.length > 200) {
      throw new CrosstalkError("ERR_BODY_INVALID", "refs: at most 200 messages at once");
    }
    return c.json({ unread: await engine().live.giveBack(name, refs) });
  });

  // The session's wake events. Comments keep the connection (and the agent's presence) honest.
  app.get("/live/me/wake", (c) => {
    const name = me(c);
    const live = engine().live;
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      const signal = deps.shutdown ? AbortSignal.any([abort.signal, deps.shutdown]) : abort.signal;
      const keepalive = setInterval(() => {
        stream.write(": keepalive\n\n").catch(() => abort.abort());
      }, KEEPALIVE_MS);
      try {
        await stream.writeSSE({ event: "hello", data: JSON.stringify(live.get(name)) });
        for await (const event of live.connect(name, signal)) {
          await stream.writeSSE({ event: "wake", data: JSON.stringify(event) });
        }
      } finally {
        clearInterval(keepalive);
      }
    });
  });

  app.post("/live/me/wake-report", async (c) => {
    const name = me(c);
    const body = await jsonBody(c);
    checkShape(body, { refs: "string[]", ok: "boolean", detail: "string?" });
    const refs = body.refs as string[];
    for (const ref of refs) checkRef(ref);
    await engine().live.reportWake(name, refs, {
      ok: body.ok as boolean,
      ...(body.detail === undefined ? {} : { detail: body.detail as string }),
    });
    return c.json({ recorded: refs.length });
  });

  app.get("/live/me/inbox", async (c) => {
    const name = me(c);
    const limit = numberQuery(c, "limit", { min: 1, max: 200, fallback: 20, unit: "messages" });
    const wait = numberQuery(c, "wait", {
      min: 0,
      max: 300,
      fallback: 0,
      fraction: true,
      unit: "seconds",
    });
    const signal = deps.shutdown
      ? AbortSignal.any([c.req.raw.signal, deps.shutdown])
      : c.req.raw.signal;
    return c.json(
      await engine().live.read(name, {
        limit,
        waitMs: Math.min(wait, MAX_WAIT_SECONDS) * 1000,
        signal,
      }),
    );
  });
  return app;
}

/** A message reference as the wake events carry it. */
function checkRef(ref: string): void {
  if (
    !/^[0-9a-f-]{36}\/[0-9]{4}\/[0-9]{2}\/[0-9]{2}\/[0-9]{9}Z-[0-9a-f]{8}\.md$/.test(ref)
  ) {
    throw new CrosstalkError("ERR_ID_INVALID", `Invalid message reference ${JSON.stringify(ref)}`);
  }
}

// /api/events: the bus as a Server-Sent Events stream, resumable with Last-Event-ID; and
// /api/logs/stream, every log record the same way.
import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { CrosstalkError } from "../schema/errors.ts";
import type { EventHub } from "../engine/events.ts";
import { type AppDeps, type Env, identityOf } from "./_context.ts";

/** How often an open stream checks its credential again (ms). */
const RECHECK_MS = 10_000;

/** The events resource. */
export function eventRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", (c) => stream(c, deps, deps.events, "there are no events"));
  return app;
}

/**
 * `/api/logs/stream`: every record of the engine's log as it is written, beginning with the
 * record of this follower (so that a client knows from when on it misses nothing).
 */
export function logStreamRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", (c) => {
    const since = deps.logStream?.lastId;
    deps.log?.info("api.log_followed", { by: identityOf(c).subject });
    return stream(c, deps, deps.logStream, "there is no log to follow", since);
  });
  return app;
}

/** A hub's events as Server-Sent Events, from after Last-Event-ID, until the client goes. */
function stream(
  c: Context<Env>,
  deps: AppDeps,
  hub: EventHub | undefined,
  none: string,
  since?: string,
): Response {
  if (!hub) {
    throw new CrosstalkError("ERR_ROUTE_NOT_FOUND", `No engine runs behind this API, so ${none}`);
  }
  const lastId = c.req.header("Last-Event-ID") ?? c.req.query("last_event_id") ?? since;
  const recheck = c.get("recheck");
  return streamSSE(c, async (stream) => {
    const abort = new AbortController();
    stream.onAbort(() => abort.abort());
    // The stream lives longer than the check made when it began: it ends once its token is
    // revoked or expired, its user deleted, its session signed out.
    const timer = setInterval(() => {
      recheck().catch(() => abort.abort());
    }, deps.recheckMs ?? RECHECK_MS);
    await stream.writeSSE({ event: "hello", data: JSON.stringify({ boot: hub.boot }) });
    try {
      for await (const event of hub.subscribe(lastId, abort.signal)) {
        await stream.writeSSE({
          id: event.id,
          event: event.type,
          data: JSON.stringify(event.data),
        });
      }
    } finally {
      clearInterval(timer);
    }
  });
}

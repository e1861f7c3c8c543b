// /api/events: the bus as a Server-Sent Events stream, resumable with Last-Event-ID.
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { CrosstalkError } from "../schema/errors.ts";
import type { AppDeps, Env } from "./_context.ts";

/** How often an open stream checks its credential again (ms). */
const RECHECK_MS = 10_000;

/** The events resource. */
export function eventRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", (c) => {
    const hub = deps.events;
    if (!hub) {
      throw new CrosstalkError(
        "ERR_ROUTE_NOT_FOUND",
        "No engine runs behind this API, so there are no events",
      );
    }
    const lastId = c.req.header("Last-Event-ID") ?? c.req.query("last_event_id");
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
  });
  return app;
}

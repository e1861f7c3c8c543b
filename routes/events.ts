// /api/events: the bus as a Server-Sent Events stream, resumable with Last-Event-ID.
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { CrosstalkError } from "../schema/errors.ts";
import type { AppDeps, Env } from "./_context.ts";

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
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      await stream.writeSSE({ event: "hello", data: JSON.stringify({ boot: hub.boot }) });
      for await (const event of hub.subscribe(lastId, abort.signal)) {
        await stream.writeSSE({
          id: event.id,
          event: event.type,
          data: JSON.stringify(event.data),
        });
      }
    });
  });
  return app;
}

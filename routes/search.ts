// /api/search: messages containing words, newest first (a scan of the bus, bounded).
import { Hono } from "hono";
import { searchMessages } from "../engine/search.ts";
import { type AppDeps, type Env, numberQuery } from "./_context.ts";

/** The search resource. */
export function searchRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", async (c) => {
    const limit = numberQuery(c, "limit", { min: 1, max: 500, fallback: 50, unit: "messages" });
    return c.json(
      await searchMessages(deps.bus, c.req.query("q") ?? "", {
        channel: c.req.query("channel"),
        limit,
      }),
    );
  });
  return app;
}

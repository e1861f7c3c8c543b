// /api/tasks: the tasks on the bus, across channels (open and claimed, or all with ?state=all).
import { Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import { listTasks } from "../engine/tasks.ts";
import type { AppDeps, Env } from "./_context.ts";

/** The task list (a message's own task is under /api/messages/…/task). */
export function taskRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", async (c) => {
    const state = c.req.query("state") ?? "open";
    if (state !== "open" && state !== "all") {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `state must be "open" or "all", not ${JSON.stringify(state)}`,
      );
    }
    if (!deps.live) {
      throw new CrosstalkError("ERR_ROUTE_NOT_FOUND", "Tasks need a running engine");
    }
    const tasks = await listTasks(deps.live.annotations, deps.bus, { all: state === "all" });
    return c.json({ tasks });
  });
  return app;
}

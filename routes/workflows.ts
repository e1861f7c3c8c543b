// /api/workflows: list workflows with their phase, show one, and check a plan without sending it.
import { Hono } from "hono";
import { listWorkflows, readWorkflow } from "../engine/workflow.ts";
import { requirePlan } from "../engine/workflow_plan.ts";
import { type AppDeps, checkShape, type Env, jsonBody } from "./_context.ts";

/** The workflows resource (requests themselves are sent through /api/messages with `type`). */
export function workflowRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/", async (c) => c.json({ workflows: await listWorkflows(deps.bus) }));

  app.get(
    "/:child{[0-9a-f-]{36}}",
    async (c) => c.json(await readWorkflow(deps.bus, c.req.param("child"))),
  );

  app.post("/check", async (c) => {
    const body = await jsonBody(c);
    checkShape(body, { body: "string" });
    return c.json({ plan: requirePlan(body.body as string, deps.bus.config) });
  });

  return app;
}

// /api/workflows: list workflows with their phase, show one, check a plan without sending it, and
// compose one from plain language for the requester to review.
import { Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import { listWorkflows, readWorkflow } from "../engine/workflow.ts";
import { composeWorkflow, MAX_COMPOSE_SECONDS } from "../engine/workflow_compose.ts";
import { requirePlan } from "../engine/workflow_plan.ts";
import { type AppDeps, checkShape, type Env, identityOf, jsonBody } from "./_context.ts";

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

  // Holds the request until the planner answers (or the wait is over): the plan comes back in
  // the answer, to be reviewed and then sent as a workflow request.
  app.post("/compose", async (c) => {
    const body = await jsonBody(c);
    checkShape(body, {
      text: "string",
      to: "string?",
      channel: "string?",
      timeout_seconds: "number?",
    });
    if ((body.text as string).trim() === "") {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        '"text" must describe the workflow in plain language',
      );
    }
    const timeout = body.timeout_seconds as number | undefined;
    if (
      timeout !== undefined &&
      (!Number.isFinite(timeout) || timeout <= 0 || timeout > MAX_COMPOSE_SECONDS)
    ) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `"timeout_seconds" must be a number of seconds above 0 and at most ${MAX_COMPOSE_SECONDS}`,
      );
    }
    const signal = deps.shutdown
      ? AbortSignal.any([c.req.raw.signal, deps.shutdown])
      : c.req.raw.signal;
    return c.json(
      await composeWorkflow(deps.bus, body.text as string, {
        to: body.to as string | undefined,
        channel: body.channel as string | undefined,
        requester: identityOf(c).subject,
        timeoutMs: timeout === undefined ? undefined : timeout * 1000,
        signal,
      }),
    );
  });

  return app;
}

// /api/approvals: an agent session's tool use put to the people on the bus (engine/approvals.ts).
import { Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import { ApprovalStore } from "../engine/approvals.ts";
import {
  type AppDeps,
  checkShape,
  type Env,
  identityOf,
  jsonBody,
  numberQuery,
  requireUser,
} from "./_context.ts";

const MAX_WAIT_SECONDS = 300;

/** The approvals resource. */
export function approvalRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const store = deps.approvals ?? new ApprovalStore({
    onChange: (approval) => deps.events?.publish("approval", { ...approval }),
  });

  app.post("/", async (c) => {
    const body = await jsonBody(c);
    checkShape(body, {
      agent: "string",
      tool: "string",
      input: "any",
      name: "string?",
      cwd: "string?",
      session: "string?",
      wait_seconds: "number?",
    });
    const wait = body.wait_seconds as number | undefined;
    if (wait !== undefined && !(Number.isInteger(wait) && wait >= 1 && wait <= 3600)) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `wait_seconds must be a whole number of seconds from 1 to 3600, not ${wait}`,
      );
    }
    for (const key of ["agent", "tool", "name", "cwd", "session"] as const) {
      const value = body[key] as string | undefined;
      if (
        value !== undefined && (value.length === 0 || value.length > 1024 || /[\0\n]/.test(value))
      ) {
        throw new CrosstalkError(
          "ERR_BODY_INVALID",
          `${key} must be 1 to 1024 characters on one line`,
        );
      }
    }
    const approval = store.request({
      agent: body.agent as string,
      tool: body.tool as string,
      input: body.input,
      by: identityOf(c).subject,
      ...(body.name === undefined ? {} : { name: body.name as string }),
      ...(body.cwd === undefined ? {} : { cwd: body.cwd as string }),
      ...(body.session === undefined ? {} : { session: body.session as string }),
      ...(wait === undefined ? {} : { waitSeconds: wait }),
    });
    return c.json(approval, 201);
  });

  app.get("/", (c) => {
    const state = c.req.query("state") ?? "pending";
    if (state !== "pending" && state !== "all") {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `state must be "pending" or "all", not ${JSON.stringify(state)}`,
      );
    }
    return c.json({ approvals: store.list(state) });
  });

  app.get("/:id{[0-9a-f-]{36}}", async (c) => {
    const wait = numberQuery(c, "wait", {
      min: 0,
      max: MAX_WAIT_SECONDS,
      fallback: 0,
      unit: "seconds",
    });
    return c.json(await store.wait(c.req.param("id"), wait * 1000, deps.shutdown));
  });

  app.post("/:id{[0-9a-f-]{36}}", async (c) => {
    // People decide: an agent's token may not approve tool use, its own or another's.
    const identity = requireUser(c, "decide an approval");
    const body = await jsonBody(c);
    checkShape(body, { decision: "string", reason: "string?" });
    if (body.decision !== "allow" && body.decision !== "deny") {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `decision must be "allow" or "deny", not ${JSON.stringify(body.decision)}`,
      );
    }
    const reason = body.reason as string | undefined;
    if (reason !== undefined && reason.length > 1000) {
      throw new CrosstalkError("ERR_BODY_INVALID", "reason must be at most 1000 characters");
    }
    return c.json(store.decide(c.req.param("id"), {
      allow: body.decision === "allow",
      by: identity.subject,
      ...(reason ? { reason } : {}),
    }));
  });

  return app;
}

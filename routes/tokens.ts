// /api/tokens: mint (shown once), list, revoke.
import { Hono } from "hono";
import { type AppDeps, checkShape, type Env, jsonBody, requireUser } from "./_context.ts";

/** The tokens resource. */
export function tokenRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", (c) => {
    const identity = requireUser(c, "list tokens");
    return c.json({ tokens: deps.auth.listTokens(identity.admin ? undefined : identity.subject) });
  });
  app.post("/", async (c) => {
    const identity = requireUser(c, "mint tokens");
    const body = await jsonBody(c);
    checkShape(body, { name: "string", ttl_seconds: "number?" });
    const ttl = body.ttl_seconds as number | undefined;
    const { token, record } = await deps.auth.mintToken(identity.subject, body.name as string, ttl);
    return c.json({ token, ...record }, 201);
  });
  app.delete("/:id", async (c) => {
    const identity = requireUser(c, "revoke tokens");
    const record = await deps.auth.revokeToken(
      c.req.param("id"),
      identity.admin ? undefined : identity.subject,
    );
    return c.json(record);
  });
  return app;
}

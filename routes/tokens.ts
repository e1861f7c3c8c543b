// /api/tokens: mint (shown once), list, revoke.
import { Hono } from "hono";
import { type AppDeps, checkShape, type Env, identityOf, jsonBody } from "./_context.ts";

/** The tokens resource. */
export function tokenRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", (c) => {
    const identity = identityOf(c);
    return c.json({ tokens: deps.auth.listTokens(identity.admin ? undefined : identity.subject) });
  });
  app.post("/", async (c) => {
    const identity = identityOf(c);
    const body = await jsonBody(c);
    checkShape(body, { name: "string", ttl_seconds: "number?" });
    const ttl = body.ttl_seconds as number | undefined;
    const { token, record } = await deps.auth.mintToken(identity.subject, body.name as string, ttl);
    return c.json({ token, ...record }, 201);
  });
  app.delete("/:id", async (c) => {
    const identity = identityOf(c);
    const record = await deps.auth.revokeToken(
      c.req.param("id"),
      identity.admin ? undefined : identity.subject,
    );
    return c.json(record);
  });
  return app;
}

// /api/users: admins create, list, delete users and reset passphrases; anyone changes their own.
import { Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import {
  type AppDeps,
  checkShape,
  type Env,
  identityOf,
  jsonBody,
  requireAdmin,
} from "./_context.ts";

/** The users resource. */
export function userRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", (c) => {
    requireAdmin(c);
    return c.json({ users: deps.auth.listUsers() });
  });
  app.post("/", async (c) => {
    requireAdmin(c);
    const body = await jsonBody(c);
    checkShape(body, { username: "string", passphrase: "string", admin: "boolean?" });
    const user = await deps.auth.createUser(
      body.username as string,
      body.passphrase as string,
      body.admin === true,
    );
    return c.json(user, 201);
  });
  app.delete("/:username", async (c) => {
    const admin = requireAdmin(c);
    const username = c.req.param("username");
    if (username === admin.subject) {
      throw new CrosstalkError("ERR_FORBIDDEN", "An admin cannot delete themselves");
    }
    await deps.auth.deleteUser(username);
    return c.json({ deleted: username });
  });
  app.post("/:username/passphrase", async (c) => {
    const identity = identityOf(c);
    const username = c.req.param("username");
    if (username !== identity.subject) requireAdmin(c);
    const body = await jsonBody(c);
    checkShape(body, { passphrase: "string" });
    await deps.auth.setPassphrase(username, body.passphrase as string);
    return c.json({ changed: username });
  });
  return app;
}

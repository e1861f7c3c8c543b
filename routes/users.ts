// /api/users: admins create, list, delete users, make them admins (or not) and reset passphrases;
// anyone changes their own passphrase.
import { Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import {
  type AppDeps,
  checkShape,
  type Env,
  jsonBody,
  requireAdmin,
  requireUser,
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
    if (deps.live?.live.has(body.username as string)) {
      // A live agent's token names its agent: a user of that name would be acted for by it.
      throw new CrosstalkError(
        "ERR_USER_EXISTS",
        `A live agent is named ${JSON.stringify(body.username)}: choose another username`,
      );
    }
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
    // Their live agents' sessions end with them (those tokens are not in the token store).
    await deps.live?.live.leaveOwnedBy(username);
    return c.json({ deleted: username });
  });
  app.patch("/:username", async (c) => {
    const admin = requireAdmin(c);
    const username = c.req.param("username");
    const body = await jsonBody(c);
    checkShape(body, { admin: "boolean" });
    // Self-protected: an admin cannot lock themselves out (another admin can).
    if (username === admin.subject && body.admin === false) {
      throw new CrosstalkError("ERR_FORBIDDEN", "An admin cannot take their own admin rights");
    }
    return c.json(await deps.auth.setAdmin(username, body.admin as boolean));
  });
  app.post("/:username/passphrase", async (c) => {
    const identity = requireUser(c, "change a passphrase");
    const username = c.req.param("username");
    if (username !== identity.subject) requireAdmin(c);
    const body = await jsonBody(c);
    checkShape(body, { passphrase: "string" });
    await deps.auth.setPassphrase(username, body.passphrase as string);
    return c.json({ changed: username });
  });
  return app;
}

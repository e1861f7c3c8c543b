// /api/channels: list, create, show, rename, delete.
import { Hono } from "hono";
import { type AppDeps, checkShape, type Env, jsonBody } from "./_context.ts";

/** The channels resource. */
export function channelRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/", async (c) => c.json({ channels: await deps.bus.listChannels() }));
  app.post("/", async (c) => {
    const body = await jsonBody(c);
    checkShape(body, { name: "string", parent: "string?" });
    const channel = await deps.bus.createChannel(
      body.name as string,
      body.parent as string | undefined,
    );
    return c.json(channel, 201);
  });
  app.get("/:channel", async (c) => {
    const channel = await deps.bus.resolveChannel(c.req.param("channel"));
    const messages = (await deps.bus.transport.listMessageIds(channel.id)).length;
    return c.json({ ...channel, messages });
  });
  app.patch("/:channel", async (c) => {
    const body = await jsonBody(c);
    checkShape(body, { name: "string" });
    return c.json(await deps.bus.renameChannel(c.req.param("channel"), body.name as string));
  });
  app.delete(
    "/:channel",
    async (c) => c.json(await deps.bus.deleteChannel(c.req.param("channel"))),
  );
  return app;
}

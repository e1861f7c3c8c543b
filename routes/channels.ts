// /api/channels: list, create, show, rename, delete; the tasks and badges of many messages.
import { Hono } from "hono";
import { annotationsOf } from "../engine/tasks.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { type AppDeps, checkShape, type Env, jsonBody } from "./_context.ts";

/** How many messages one annotations request may ask about (a page of the web UI's rows). */
const MAX_ANNOTATION_IDS = 200;

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
  // A read, but a POST: 200 message ids do not fit a URL.
  app.post("/:channel/annotations", async (c) => {
    const body = await jsonBody(c);
    checkShape(body, { ids: "string[]" });
    const ids = body.ids as string[];
    if (ids.length > MAX_ANNOTATION_IDS) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `"ids" may name at most ${MAX_ANNOTATION_IDS} messages, not ${ids.length}`,
      );
    }
    const { annotations } = await annotationsOf(deps.bus, { channel: c.req.param("channel"), ids });
    return c.json({ annotations: Object.fromEntries(annotations) });
  });
  return app;
}

// /api/models, /api/agents, /api/dispatchers: what the yaml declares, what this machine has,
// and which engines serve the transport.
import { Hono } from "hono";
import { allModels } from "../engine/models.ts";
import { listRegistry } from "../engine/registry.ts";
import { agentReport } from "../engine/status.ts";
import type { AppDeps, Env } from "./_context.ts";

/** The models, agents and dispatchers resources (mounted at /api). */
export function agentRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/models", (c) =>
    c.json({
      models: allModels(deps.bus.config).map((m) => ({
        model: `${m.provider}/${m.name}`,
        command: m.command,
      })),
    }));
  app.get("/agents", async (c) => c.json(await agentReport(deps.bus, deps.env ?? {})));
  app.get(
    "/agents/installed",
    async (c) => c.json({ installed: (await agentReport(deps.bus, deps.env ?? {})).installed }),
  );
  app.get(
    "/dispatchers",
    async (c) => c.json({ dispatchers: await listRegistry(deps.bus.transport.root) }),
  );
  return app;
}

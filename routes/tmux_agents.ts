// /api/tmux-agents: tmux panes registered on this machine under a name, which the engine types
// messages into (engine/tmux_agents.ts). Any user may list them; only an admin (the local CLI's
// credential is one) may change them (add, edit with PATCH, remove, enable, disable, start), since
// typing into a pane is as good as a shell, and a revive command is a shell command the engine runs
// (at a message, or now with `POST …/{name}/start`). Only an admin sees a revive command and its
// folder, and the panes that could be registered (`GET …/candidates`). Agents' tokens are refused.
import { Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import type { TmuxAgentPatch, TmuxAgentSpec } from "../engine/tmux_agents.ts";
import { type AppDeps, checkShape, type Env, jsonBody, requireUser } from "./_context.ts";

/** The fields of a registration besides its name, as `POST` takes them. */
const FIELDS = {
  target: "string?",
  agent: "string?",
  model: "string?",
  role: "string?",
  enter_delay_ms: "number?",
  marker: "string?",
  max_chars: "number?",
  socket: "string?",
  revive: "string?",
  cwd: "string?",
  revive_timeout_ms: "number?",
  revive_grace_ms: "number?",
};
/** The same as `PATCH` takes them: each but the target may be `null` (back to its default). */
const PATCH_FIELDS = Object.fromEntries(
  Object.entries(FIELDS).map((
    [key, type],
  ) => [key, key === "target" ? type : type.replace(/\?$/, "|null?")]),
);

/** The tmux agents resource (mounted at /api/tmux-agents). */
export function tmuxAgentRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const agents = () => {
    if (!deps.live) {
      throw new CrosstalkError(
        "ERR_ROUTE_NOT_FOUND",
        "No engine runs behind this API, so there are no tmux agents",
      );
    }
    return deps.live.tmuxAgents;
  };
  /** A user's token, and an admin's for a change. */
  const allowed = (c: Parameters<typeof requireUser>[0], change: boolean) => {
    const identity = requireUser(c, change ? "change tmux agents" : "list tmux agents");
    if (change && !identity.admin) {
      throw new CrosstalkError(
        "ERR_FORBIDDEN",
        "Only an admin may change tmux agents (typing into a pane is as good as a shell)",
      );
    }
    return identity;
  };

  app.get("/", async (c) => {
    const identity = allowed(c, false);
    const list = await agents().list();
    return c.json({
      // `revivable` says whether there is a revive command; what it runs is an admin's to see
      // (a command line may hold a secret).
      agents: identity.admin ? list : list.map(({ revive: _r, cwd: _c, ...rest }) => rest),
    });
  });

  // The panes of a tmux server as registrations they could become (`agent discover`): an admin's,
  // as adding is, since it shows what runs in the user's panes and where.
  app.get("/candidates", async (c) => {
    const identity = requireUser(c, "list tmux pane candidates");
    if (!identity.admin) {
      throw new CrosstalkError(
        "ERR_FORBIDDEN",
        "Only an admin may list tmux pane candidates (they show what runs in the user's panes)",
      );
    }
    return c.json(
      await agents().candidates({ socket: c.req.query("socket"), own: c.req.query("own") }),
    );
  });

  app.post("/", async (c) => {
    const identity = allowed(c, true);
    const body = await jsonBody(c);
    checkShape(body, { name: "string", ...FIELDS, target: "string" });
    const agent = await agents().add(body as unknown as TmuxAgentSpec, identity.subject);
    return c.json(agent, 201);
  });

  // A change in place: the fields given replace the stored ones, `null` takes an optional one back
  // to its default (`revive: null` drops the revive command with its settings); the inbox stays.
  app.patch("/:name", async (c) => {
    const identity = allowed(c, true);
    const body = await jsonBody(c);
    checkShape(body, PATCH_FIELDS);
    const patch = body as unknown as TmuxAgentPatch;
    return c.json(await agents().edit(c.req.param("name"), patch, identity.subject));
  });

  app.delete("/:name", async (c) => {
    allowed(c, true);
    return c.json({ removed: await agents().remove(c.req.param("name")) });
  });

  app.post("/:name/enable", async (c) => {
    allowed(c, true);
    return c.json(await agents().setEnabled(c.req.param("name"), true));
  });

  // Answers once the agent is up (a revive's timeout and grace later), or with why it did not come
  // up: a failed start is an error, never a 200.
  app.post("/:name/start", async (c) => {
    const identity = allowed(c, true);
    return c.json(await agents().startAgent(c.req.param("name"), identity.subject));
  });

  app.post("/:name/disable", async (c) => {
    allowed(c, true);
    return c.json(await agents().setEnabled(c.req.param("name"), false));
  });
  return app;
}

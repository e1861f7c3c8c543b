// GET /api/live/me/mcp: a live agent session's MCP over a WebSocket. The checks are here; the
// MCP server itself (routes/mcp_session.ts, with the SDK and zod) is loaded at the first session.
import { Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import { reportDelay } from "../engine/wake.ts";
import { type AppDeps, type Env, identityOf } from "./_context.ts";

/**
 * GET /api/live/me/mcp (mounted at /api): upgrades to a WebSocket that carries the session's
 * MCP messages, one JSON-RPC message per text frame. `self` is the API itself, which the tools
 * call in process with the session's token.
 */
export function mcpRoutes(
  deps: AppDeps,
  self: (request: Request) => Response | Promise<Response>,
): Hono<Env> {
  const app = new Hono<Env>();
  app.get("/live/me/mcp", async (c) => {
    const identity = identityOf(c);
    if (identity.kind !== "live") {
      throw new CrosstalkError(
        "ERR_FORBIDDEN",
        "Only a live agent session's token has an MCP session (register with POST /api/live)",
      );
    }
    if (!deps.live) {
      throw new CrosstalkError("ERR_ROUTE_NOT_FOUND", "No engine runs behind this API");
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new CrosstalkError("ERR_BODY_INVALID", "This route needs a WebSocket upgrade");
    }
    const reportDelayMs = reportDelay(
      c.req.query("woken_report_ms"),
      "woken_report_ms",
      "ERR_BODY_INVALID",
    );
    const agent = deps.live.live.get(identity.subject);
    // The auth middleware checked this bearer token; a session cookie is no live agent's.
    const token = /^Bearer (\S+)$/.exec(c.req.header("authorization") ?? "")?.[1];
    if (!token) {
      throw new CrosstalkError("ERR_FORBIDDEN", "The MCP session needs its bearer token");
    }
    const { serveSession, InProcessApi } = await import("./mcp_session.ts");
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    serveSession(socket, {
      name: agent.name,
      tokenId: identity.tokenId,
      reportDelayMs,
      live: deps.live,
      bus: deps.bus,
      // As /openapi.json: the address the session reached the engine by, not the default port
      // (the engine may listen on any).
      webUi: new URL("/ui/", c.req.url).href,
      ...(deps.log ? { log: deps.log } : {}),
      ...(deps.shutdown ? { shutdown: deps.shutdown } : {}),
      api: (signal) => new InProcessApi(self, token, signal),
    });
    return response;
  });
  return app;
}

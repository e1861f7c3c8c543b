// GET /api/live/me/mcp: a live agent session's MCP over a WebSocket, and
// POST /api/live/me/mcp/pump: the same over two loopback connections its process hands to byte
// pumps (routes/mcp_pump.ts). The checks are here; the MCP server itself (routes/mcp_session.ts,
// with the SDK and zod) is loaded at the first session.
import { type Context, Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import { reportDelay } from "../engine/wake.ts";
import { type AppDeps, type Env, identityOf } from "./_context.ts";
import type { PumpListener, SessionSocket } from "./mcp_pump.ts";

/**
 * GET /api/live/me/mcp (mounted at /api): upgrades to a WebSocket that carries the session's
 * MCP messages, one JSON-RPC message per text frame. POST /api/live/me/mcp/pump: a ticket for
 * the session's pumps on this machine (`{ port, ticket, answered }`). `self` is the API itself,
 * which the tools call in process with the session's token.
 */
export function mcpRoutes(
  deps: AppDeps,
  self: (request: Request) => Response | Promise<Response>,
): Hono<Env> {
  const app = new Hono<Env>();
  /**
   * The session of the request's live agent token, checked, and how to serve it on a socket.
   * Everything that can fail (or take a while: the first session loads the SDK) is done before
   * a socket is opened.
   */
  const sessionFor = async (c: Context<Env>) => {
    const { name, identity, token, reportDelayMs } = sessionOf(c, deps);
    const { serveSession, InProcessApi } = await import("./mcp_session.ts");
    return (socket: SessionSocket) =>
      serveSession(socket, {
        name,
        tokenId: identity.tokenId,
        reportDelayMs,
        live: deps.live!,
        bus: deps.bus,
        // As /openapi.json: the address the session reached the engine by, not the default
        // port (the engine may listen on any).
        webUi: new URL("/ui/", c.req.url).href,
        ...(deps.log ? { log: deps.log } : {}),
        ...(deps.shutdown ? { shutdown: deps.shutdown } : {}),
        api: (signal) => new InProcessApi(self, token, signal),
      });
  };
  app.get("/live/me/mcp", async (c) => {
    const serve = await sessionFor(c);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new CrosstalkError("ERR_BODY_INVALID", "This route needs a WebSocket upgrade");
    }
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    serve(socket);
    return response;
  });
  let pumps: PumpListener | undefined;
  app.post("/live/me/mcp/pump", async (c) => {
    const serve = await sessionFor(c);
    const { PumpListener } = await import("./mcp_pump.ts");
    pumps ??= new PumpListener(deps.bus.location.stateDir, deps.shutdown);
    const { ticket, socket } = await pumps.open();
    serve(socket);
    return c.json(ticket);
  });
  return app;
}

/**
 * The live agent session a request is of (its name, identity and bearer token) and the delay of
 * its wake reports.
 *
 * @throws {CrosstalkError} `ERR_FORBIDDEN` for any other token (or a session cookie),
 *   `ERR_ROUTE_NOT_FOUND` with no engine behind the API, `ERR_BODY_INVALID` for a bad
 *   `woken_report_ms`
 */
function sessionOf(c: Context<Env>, deps: AppDeps) {
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
  const reportDelayMs = reportDelay(
    c.req.query("woken_report_ms"),
    "woken_report_ms",
    "ERR_BODY_INVALID",
  );
  // The auth middleware checked this bearer token; a session cookie is no live agent's.
  const token = /^Bearer (\S+)$/.exec(c.req.header("authorization") ?? "")?.[1];
  if (!token) {
    throw new CrosstalkError("ERR_FORBIDDEN", "The MCP session needs its bearer token");
  }
  // Before anything is opened: an agent the engine no longer has is refused here.
  const { name } = deps.live.live.get(identity.subject);
  return { name, identity, token, reportDelayMs };
}

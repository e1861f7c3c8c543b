// GET /api/live/me/mcp: a live agent session's MCP over a WebSocket, and
// POST /api/live/me/mcp/pump: the same over two loopback connections its process hands to byte
// pumps (routes/mcp_pump.ts). The checks are here; the MCP server itself (routes/mcp_session.ts,
// with the SDK and zod) is loaded at the first session.
import { type Context, Hono } from "hono";
import { CrosstalkError } from "../schema/errors.ts";
import { type Handshake, reportDelay } from "../engine/wake.ts";
import { type AppDeps, checkShape, type Env, identityOf, jsonBody } from "./_context.ts";
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
    // A session whose relay comes back to pumps says how its client opened the session: the
    // new session hears that first, once its pumps are there, and the client never sees the
    // answer (it has had one).
    const handshake = await handshakeOf(c);
    const { PumpListener } = await import("./mcp_pump.ts");
    pumps ??= new PumpListener(deps.bus.location.stateDir, deps.shutdown);
    const { ticket, socket } = await pumps.open();
    serve(socket);
    if (!handshake) return c.json(ticket);
    socket.replay(handshake);
    // Said, so that the session's process knows its new session will be the one its client
    // opened (an older engine would ignore the handshake).
    return c.json({ ...ticket, replayed: true });
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

/** The longest handshake line a resuming session may send (an initialize is a few hundred bytes). */
const MAX_HANDSHAKE_LINE = 64 * 1024;

/**
 * The handshake of POST /api/live/me/mcp/pump's optional body, `{initialize, initialized?}`:
 * the client's `initialize` request and `notifications/initialized` lines, as its relay keeps
 * them. Undefined with no body.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID` for anything else
 */
async function handshakeOf(c: Context<Env>): Promise<Handshake | undefined> {
  if ((await c.req.text()) === "") return undefined;
  const body = await jsonBody(c);
  checkShape(body, { initialize: "string", initialized: "string?" });
  const line = (field: "initialize" | "initialized", method: string) => {
    const text = body[field] as string;
    let message: { jsonrpc?: unknown; id?: unknown; method?: unknown } | undefined;
    try {
      const bytes = new TextEncoder().encode(text).length;
      message = bytes <= MAX_HANDSHAKE_LINE && !text.includes("\n") ? JSON.parse(text) : undefined;
    } catch {
      // Said below.
    }
    const id = message?.id;
    const idOk = field === "initialized" ? id === undefined : typeof id === "string" ||
      (typeof id === "number" && Number.isSafeInteger(id));
    if (message?.jsonrpc !== "2.0" || message?.method !== method || !idOk) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `${field} must be the client's ${method} ${
          field === "initialize" ? "request" : "notification"
        }, one JSON-RPC line of at most ${MAX_HANDSHAKE_LINE} bytes`,
      );
    }
    return { id: id as string | number, line: text };
  };
  const initialize = line("initialize", "initialize");
  return {
    initialize,
    ...(body.initialized === undefined
      ? {}
      : { initialized: line("initialized", "notifications/initialized").line }),
  };
}

/**
 * @module
 * The HTTP API: one Hono sub-app per resource, mounted by {@linkcode createApp}, which also sets
 * up the error shape, body limits, bearer-token auth and the open routes. Routes call `engine/`;
 * tests call `app.request()` without a socket.
 */
import { timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { CrosstalkError, type ErrorCode } from "../schema/errors.ts";
import { effectiveDocument } from "../engine/config.ts";
import { PROTOCOL_VERSION } from "../transports/mod.ts";
import { type AppDeps, checkShape, type Env, jsonBody, numberQuery } from "./_context.ts";
import { agentRoutes } from "./agents.ts";
import { channelRoutes } from "./channels.ts";
import { eventRoutes, logStreamRoutes } from "./events.ts";
import { messageRoutes } from "./messages.ts";
import { liveRoutes } from "./live.ts";
import { tmuxAgentRoutes } from "./tmux_agents.ts";
import { mcpRoutes } from "./mcp.ts";
import { OPENAPI } from "./openapi.ts";
import { tokenRoutes } from "./tokens.ts";
import { userRoutes } from "./users.ts";
import { webRoutes } from "./web.ts";
import { workflowRoutes } from "./workflows.ts";
import { searchRoutes } from "./search.ts";
import { taskRoutes } from "./tasks.ts";
import { approvalRoutes } from "./approvals.ts";

export type { AppDeps } from "./_context.ts";

const STATUS_BY_CODE: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  ERR_USAGE: 400,
  ERR_BODY_INVALID: 400,
  ERR_ID_INVALID: 400,
  ERR_ADDRESS_INVALID: 400,
  ERR_CHANNEL_INVALID: 400,
  ERR_WORKFLOW_INVALID: 400,
  ERR_MESSAGE_INVALID: 400,
  ERR_USER_INVALID: 400,
  ERR_UNKNOWN_MODEL: 400,
  ERR_AMBIGUOUS_MODEL: 400,
  ERR_CHANNEL_AMBIGUOUS: 400,
  ERR_MESSAGE_AMBIGUOUS: 400,
  ERR_TOKEN_INVALID: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_REVOKED: 401,
  ERR_UNAUTHENTICATED: 401,
  ERR_LOGIN_FAILED: 401,
  ERR_FORBIDDEN: 403,
  ERR_CHANNEL_NOT_FOUND: 404,
  ERR_MESSAGE_NOT_FOUND: 404,
  ERR_USER_NOT_FOUND: 404,
  ERR_TOKEN_NOT_FOUND: 404,
  ERR_AGENT_NOT_FOUND: 404,
  ERR_ROUTE_NOT_FOUND: 404,
  ERR_CHANNEL_EXISTS: 409,
  ERR_USER_EXISTS: 409,
  ERR_TASK_CONFLICT: 409,
  ERR_REMOTE_CONFLICT: 409,
  ERR_MESSAGE_TOO_LARGE: 413,
  ERR_BODY_TOO_LARGE: 413,
  ERR_RATE_LIMITED: 429,
  // Something the request waited on (a planner's reply) did not come in time.
  ERR_TIMEOUT: 504,
};

/** The HTTP status for an error code (500 for anything unexpected). */
export function statusOf(code: ErrorCode): ContentfulStatusCode {
  return STATUS_BY_CODE[code] ?? 500;
}

const LOGIN_WINDOW_MS = 60_000;
const SESSION_SECONDS = 12 * 3600;
const LOGIN_MAX_FAILURES = 5;

/**
 * The web session's cookie names, one pair per engine key: engines on one host (port 7000 and
 * 7001) each keep their own session in the same browser.
 */
export function cookieNames(keyName: string): { session: string; csrf: string } {
  return { session: `crosstalk_session_${keyName}`, csrf: `crosstalk_csrf_${keyName}` };
}

/** Builds the whole HTTP API. */
export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const failures = new Map<string, number[]>();
  const { session: SESSION_COOKIE, csrf: CSRF_COOKIE } = cookieNames(deps.auth.keyName);

  app.onError((error, c) => {
    if (error instanceof CrosstalkError) {
      const status = statusOf(error.code);
      const message = status === 401 && error.code !== "ERR_LOGIN_FAILED"
        ? `${error.message} (run "crosstalk auth login")`
        : error.message;
      return c.json({ error: { code: error.code, message } }, status);
    }
    return c.json({
      error: { code: "ERR_INTERNAL", message: "Internal error (see the engine log)" },
    }, 500);
  });
  app.notFound((c) =>
    c.json({
      error: { code: "ERR_ROUTE_NOT_FOUND", message: `No route ${c.req.method} ${c.req.path}` },
    }, 404)
  );
  app.use(bodyLimit({
    maxSize: deps.maxBodyBytes ?? 2 * 1024 * 1024,
    onError: () => {
      throw new CrosstalkError("ERR_BODY_TOO_LARGE", "The request body is too large");
    },
  }));

  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/version", (c) => c.json({ version: deps.version, protocol: PROTOCOL_VERSION }));
  // The address the client reached, not the default port: the engine may listen on any.
  app.get(
    "/openapi.json",
    (c) => c.json({ ...OPENAPI, servers: [{ url: new URL(c.req.url).origin }] }),
  );
  app.route("/", webRoutes(CSRF_COOKIE));

  // Engine to engine: authenticated by the sender's own key, not by a user's token.
  app.post("/api/nudge", async (c) => {
    if (!deps.nudge) {
      throw new CrosstalkError(
        "ERR_ROUTE_NOT_FOUND",
        "This engine takes no nudges (no git remote)",
      );
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header);
    if (!match) {
      throw new CrosstalkError(
        "ERR_UNAUTHENTICATED",
        "A nudge needs a bearer token signed by an engine",
      );
    }
    const from = await deps.nudge(match[1]!);
    return c.json({ ok: true, from }, 202);
  });

  /** Checks a login, at most LOGIN_MAX_FAILURES wrong tries per user per minute. */
  const login = async (username: string, passphrase: string) => {
    const now = Date.now();
    const recent = (failures.get(username) ?? []).filter((t) => now - t < LOGIN_WINDOW_MS);
    if (recent.length >= LOGIN_MAX_FAILURES) {
      throw new CrosstalkError(
        "ERR_RATE_LIMITED",
        "Too many failed logins; wait a minute and try again",
      );
    }
    try {
      await deps.auth.verifyPassphrase(username, passphrase);
    } catch (error) {
      failures.set(username, [...recent, now]);
      throw error;
    }
    failures.delete(username);
  };

  app.post("/api/login", async (c) => {
    const body = await jsonBody(c);
    checkShape(body, { username: "string", passphrase: "string", token_name: "string?" });
    await login(body.username as string, body.passphrase as string);
    const name = (body.token_name as string | undefined) ?? "login";
    const { token, record } = await deps.auth.mintToken(body.username as string, name);
    return c.json({ token, ...record }, 201);
  });

  // Web sessions: a fresh HttpOnly SameSite=Strict cookie per login (never one the client
  // brought), and a CSRF token the page must echo in X-CSRF-Token on every state change.
  app.post("/session", async (c) => {
    // Only the page's own script signs in: a form on another site can post text/plain (a login
    // CSRF, or failures to lock a user out), and a browser marks cross-site requests.
    if (!/^application\/json\b/i.test(c.req.header("Content-Type") ?? "")) {
      throw new CrosstalkError("ERR_BODY_INVALID", "POST /session takes application/json");
    }
    if (c.req.header("Sec-Fetch-Site") === "cross-site") {
      throw new CrosstalkError("ERR_FORBIDDEN", "Sign in from the crosstalk page itself");
    }
    const body = await jsonBody(c);
    checkShape(body, { username: "string", passphrase: "string" });
    await login(body.username as string, body.passphrase as string);
    const { token, record } = await deps.auth.mintToken(
      body.username as string,
      "web session",
      SESSION_SECONDS,
    );
    const csrf = randomToken();
    const secure = c.req.url.startsWith("https:") || c.req.header("X-Forwarded-Proto") === "https";
    const options = { path: "/", sameSite: "Strict", secure, maxAge: SESSION_SECONDS } as const;
    setCookie(c, SESSION_COOKIE, token, { ...options, httpOnly: true });
    setCookie(c, CSRF_COOKIE, csrf, options);
    return c.json({ username: record.username, csrf, expires: record.expires }, 201);
  });

  app.get("/setup", (c) => {
    if (!deps.setupToken?.value || !deps.auth.empty) {
      return c.html(
        "<!doctype html><title>crosstalk</title><p>Setup is done. Sign in with your account.</p>",
        410,
      );
    }
    return c.html(SETUP_PAGE);
  });
  app.post("/setup", async (c) => {
    const body = await jsonBody(c);
    checkShape(body, { token: "string", username: "string", passphrase: "string" });
    const expected = deps.setupToken?.value;
    if (!expected || !deps.auth.empty || !sameSecret(body.token as string, expected)) {
      throw new CrosstalkError(
        "ERR_FORBIDDEN",
        "The setup token is not valid (it works once, before any user exists)",
      );
    }
    // Taken at once, so that two posts cannot both create an admin; given back when the user
    // cannot be created (a bad name or passphrase), so that the form can be sent again.
    deps.setupToken!.value = undefined;
    let user;
    try {
      user = await deps.auth.createUser(body.username as string, body.passphrase as string, true);
    } catch (error) {
      deps.setupToken!.value = expected;
      throw error;
    }
    const { token, record } = await deps.auth.mintToken(user.username, "setup");
    await deps.onAdminCreated?.(user.username);
    return c.json({ user, token, ...record }, 201);
  });

  /** A bearer token's identity; a live agent's holds only while its session is registered. */
  const verifyBearer = async (token: string) => {
    const identity = await deps.auth.verifyToken(token);
    if (
      identity.kind === "live" && !deps.live?.live.tokenValid(identity.subject, identity.tokenId)
    ) {
      throw new CrosstalkError("ERR_TOKEN_REVOKED", "This live agent session has ended");
    }
    return identity;
  };

  // Everything else needs a bearer token or a session cookie, loopback or not.
  app.use("*", async (c, next) => {
    const header = c.req.header("Authorization");
    if (header !== undefined) {
      const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header);
      if (!match) {
        throw new CrosstalkError(
          "ERR_UNAUTHENTICATED",
          'The Authorization header must be "Bearer <token>"',
        );
      }
      c.set("identity", await verifyBearer(match[1]!));
      c.set("recheck", async () => void await verifyBearer(match[1]!));
      return await next();
    }
    const session = getCookie(c, SESSION_COOKIE);
    if (session === undefined) {
      throw new CrosstalkError(
        "ERR_UNAUTHENTICATED",
        "This route needs an Authorization: Bearer <token> header or a session",
      );
    }
    const identity = await deps.auth.verifyToken(session);
    // Login sets a user token as the cookie; any other token there was put by hand, where the
    // CSRF check below is no defence (the caller sets both halves).
    if (identity.kind !== "user") {
      throw new CrosstalkError(
        "ERR_UNAUTHENTICATED",
        "A session cookie must hold a login session (send other tokens as Authorization: Bearer)",
      );
    }
    c.set("identity", identity);
    c.set("recheck", async () => void await deps.auth.verifyToken(session));
    if (!["GET", "HEAD", "OPTIONS"].includes(c.req.method)) {
      const expected = getCookie(c, CSRF_COOKIE);
      const given = c.req.header("X-CSRF-Token");
      if (!expected || !given || !sameSecret(given, expected)) {
        throw new CrosstalkError(
          "ERR_FORBIDDEN",
          "A change made with a session cookie needs the X-CSRF-Token header",
        );
      }
    }
    await next();
  });

  app.post("/session/logout", async (c) => {
    await deps.auth.revokeToken(c.get("identity").tokenId);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    deleteCookie(c, CSRF_COOKIE, { path: "/" });
    return c.json({ loggedOut: true });
  });

  app.route("/api", agentRoutes(deps));
  app.route("/", agentRoutes(deps));
  app.get("/api/settings", async (c) => {
    const report = deps.report ? await deps.report() : undefined;
    return c.json({
      version: deps.version,
      alias: report?.status?.alias ?? null,
      root: deps.bus.transport.root,
      settings: effectiveDocument(deps.bus.config),
      problems: deps.bus.config.problems,
    });
  });
  for (const prefix of ["/api", ""]) {
    app.route(`${prefix}/channels`, channelRoutes(deps));
    app.route(`${prefix}/messages`, messageRoutes(deps));
    app.get(
      `${prefix}/status`,
      async (c) => c.json(deps.report ? await deps.report() : { state: "never" }),
    );
  }
  app.route("/api", liveRoutes(deps));
  app.route("/api/tmux-agents", tmuxAgentRoutes(deps));
  app.route("/api", mcpRoutes(deps, (request) => app.fetch(request)));
  app.route("/api/events", eventRoutes(deps));
  app.route("/api/workflows", workflowRoutes(deps));
  app.route("/api/search", searchRoutes(deps));
  app.route("/api/tasks", taskRoutes(deps));
  app.route("/api/approvals", approvalRoutes(deps));
  app.route("/api/logs/stream", logStreamRoutes(deps));
  app.get("/api/logs", async (c) => {
    const lines = numberQuery(c, "lines", { min: 1, max: 10_000, fallback: 200, unit: "lines" });
    return c.json({ records: deps.logs ? await deps.logs(lines) : [] });
  });
  app.get("/replies", async (c) => {
    const id = c.req.query("id");
    if (!id) {
      throw new CrosstalkError("ERR_BODY_INVALID", "GET /replies needs ?id=<channel>/<message id>");
    }
    const message = await deps.bus.findMessage(id);
    const wait = numberQuery(c, "wait", {
      min: 0,
      max: 120,
      fallback: 0,
      fraction: true,
      unit: "seconds",
    });
    const replies = wait > 0
      ? await deps.bus.waitForReplies([message], wait * 1000, deps.shutdown)
      : await deps.bus.replies(message);
    return c.json({ replies });
  });
  app.route("/api/tokens", tokenRoutes(deps));
  app.route("/api/users", userRoutes(deps));
  app.get("/api/whoami", (c) => c.json(c.get("identity")));
  return app;
}

function randomToken(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(24)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function sameSecret(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const SETUP_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crosstalk setup</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>Create the first admin</h1>
<form id="setup">
  <label>Username <input name="username" required pattern="[A-Za-z0-9][A-Za-z0-9._-]{0,63}"></label><br>
  <label>Passphrase <input name="passphrase" type="password" required minlength="8"></label><br>
  <button>Create</button>
</form>
<p id="result"></p>
<script>
document.getElementById("setup").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const token = new URLSearchParams(location.search).get("token");
  const response = await fetch("/setup", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, username: form.get("username"), passphrase: form.get("passphrase") }),
  });
  const body = await response.json();
  document.getElementById("result").textContent = response.ok
    ? "Done. Your API token (shown once): " + body.token
    : body.error.message;
});
</script>
</body></html>
`;

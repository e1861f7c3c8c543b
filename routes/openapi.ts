// The OpenAPI 3.1 description of the HTTP API, served at /openapi.json. A test checks that every
// route of the app is described here and every path described here is a route of the app.
import { CROSSTALK8_PAGES } from "./web.ts";

const error = { $ref: "#/components/responses/Error" };
const json = (description: string, schema: Record<string, unknown> = { type: "object" }) => ({
  description,
  content: { "application/json": { schema } },
});
const body = (properties: Record<string, unknown>, required: string[]) => ({
  required: true,
  content: {
    "application/json": {
      schema: { type: "object", additionalProperties: false, properties, required },
    },
  },
});
const str = { type: "string" };
const strOrList = { oneOf: [str, { type: "array", items: str }] };
const message = { $ref: "#/components/schemas/Message" };
const channel = { $ref: "#/components/schemas/Channel" };
const messageId = [
  { name: "channel", in: "path", required: true, schema: { type: "string", format: "uuid" } },
  ...["y", "m", "d"].map((name) => ({
    name,
    in: "path",
    required: true,
    schema: { type: "string", pattern: "^[0-9]+$" },
  })),
  {
    name: "file",
    in: "path",
    required: true,
    schema: { type: "string", pattern: "^[0-9]{9}Z-[0-9a-f]{8}\\.md$" },
  },
];
const channelParam = [{
  name: "channel",
  in: "path",
  required: true,
  description: "name, uuid or unique uuid prefix",
  schema: str,
}];
const op = (
  summary: string,
  responses: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) => ({
  summary,
  responses: { ...responses, default: error },
  ...extra,
});
const open = { security: [] };
const page = { 200: { description: "HTML" }, 301: { description: "/ui to /ui/" } };
const asset = (type: string) => ({
  200: { description: type, content: { [type]: { schema: { type: "string" } } } },
});

/** The fields of a tmux agent's registration but its name (POST, and PATCH with nulls). */
const tmuxAgentFields = {
  target: {
    type: "string",
    pattern: "^(%[0-9]+|[A-Za-z0-9_][A-Za-z0-9_-]*(:.+)?)$",
    description: "a session, session:window[.pane] or pane id; a window or pane its session " +
      "lacks, or a pane id the running server lacks, is refused (400)",
  },
  agent: str,
  model: { type: "string", description: "the model the agent runs, shown to peers" },
  role: str,
  enter_delay_ms: { type: "integer", minimum: 0, maximum: 10000 },
  marker: {
    type: "string",
    maxLength: 40,
    description: 'put before every text typed (default "[crosstalk]"; "" for none)',
  },
  max_chars: {
    type: "integer",
    minimum: 200,
    maximum: 100000,
    description: "the most characters typed for one message, marker included (default 4000); " +
      "at least 500 more than the marker",
  },
  socket: str,
  revive: { type: "string", minLength: 1, maxLength: 2000 },
  cwd: str,
  revive_timeout_ms: { type: "integer", minimum: 1000, maximum: 600000 },
  revive_grace_ms: { type: "integer", minimum: 0, maximum: 120000 },
};

/**
 * `from` of the task and badge routes: whom the request acts as (only an admin's token may name
 * someone else).
 */
const taskFrom = {
  type: "string",
  description: "act as this tmux agent, live agent, user or model instead of the token's own " +
    "name (only an admin's token may; others get 403 ERR_FORBIDDEN): a tmux or live agent " +
    "brings its role and folder, which a claim must fit; a name nobody has is 400 " +
    "ERR_ADDRESS_INVALID",
};

/** The task and badge routes of a message, under one prefix. */
function taskPaths(prefix: string): Record<string, unknown> {
  const at = `${prefix}/messages/{channel}/{y}/{m}/{d}/{file}`;
  return {
    [`${at}/task`]: {
      post: op("Flag the message as a task, optionally for a role or a folder", {
        201: json("The task"),
      }, {
        parameters: messageId,
        requestBody: body({ role: str, cwd: str, from: taskFrom }, []),
      }),
    },
    [`${at}/task/claim`]: {
      post: op("Claim the task: exactly one claimant wins, across machines", {
        200: json("The task"),
      }, {
        parameters: messageId,
        requestBody: { ...body({ from: taskFrom }, []), required: false },
      }),
    },
    [`${at}/task/resolve`]: {
      post: op("Resolve the claimed task with a result (also posted as a reply)", {
        200: json("The task"),
      }, {
        parameters: messageId,
        requestBody: body({
          status: { enum: ["completed", "failed"] },
          result: str,
          from: taskFrom,
        }, ["result"]),
      }),
    },
    [`${at}/badges`]: {
      post: op("Add a badge to the message", { 201: json("The badge") }, {
        parameters: messageId,
        requestBody: body({ type: str, value: str, from: taskFrom }, ["type"]),
      }),
    },
  };
}

const channels = {
  get: op("List channels", {
    200: json("Channels", {
      type: "object",
      properties: { channels: { type: "array", items: channel } },
    }),
  }),
  post: op("Create a channel", { 201: json("The channel", channel) }, {
    requestBody: body({ name: str, parent: str }, ["name"]),
  }),
};
const oneChannel = {
  get: op("Show a channel", { 200: json("The channel and its message count", channel) }, {
    parameters: channelParam,
  }),
  patch: op("Rename a channel", { 200: json("The channel", channel) }, {
    parameters: channelParam,
    requestBody: body({ name: str }, ["name"]),
  }),
  delete: op("Delete a channel and its messages", { 200: json("The deleted channel", channel) }, {
    parameters: channelParam,
  }),
};
const annotations = {
  post: op(
    "The task (null when none) and badges of up to 200 messages of the channel, by message id",
    {
      200: json("Each id asked for, with its task and badges", {
        type: "object",
        properties: {
          annotations: {
            type: "object",
            additionalProperties: {
              type: "object",
              properties: {
                task: { oneOf: [{ type: "object" }, { type: "null" }] },
                badges: { type: "array", items: { type: "object" } },
              },
              required: ["task", "badges"],
            },
          },
        },
      }),
    },
    {
      description: "A read made a POST so that the ids fit. Ids are message ids in the channel " +
        "(YYYY/MM/DD/HHMMSSmmmZ-<8 hex>.md), all checked before anything is read: one that is " +
        "not is a 400 ERR_ID_INVALID naming it. A message without records, or not in the " +
        "channel, has task null and no badges.",
      parameters: channelParam,
      requestBody: body({
        ids: { type: "array", maxItems: 200, items: { type: "string" } },
      }, ["ids"]),
    },
  ),
};
const workflow = {
  type: "object",
  properties: {
    child: str,
    name: str,
    request: { type: "object", properties: { channel: str, id: str } },
    phase: { enum: ["compile", "fanout", "synthesize", "complete", "failed"] },
    plan: { type: "object" },
    host: str,
    created: str,
    completed: str,
    steps: { type: "array", items: { type: "object" } },
    result: { type: "object" },
  },
  required: ["child", "name", "request", "phase", "steps"],
};
const messages = {
  get: op("List a channel's messages in order (cursor pages)", {
    200: json("A page", {
      type: "object",
      properties: {
        channel: str,
        messages: { type: "array", items: message },
        next: { type: ["string", "null"] },
        previous: { type: ["string", "null"] },
        skipped: { type: "integer" },
      },
    }),
  }, {
    parameters: [
      { name: "channel", in: "query", schema: str },
      { name: "since", in: "query", description: "a message id: only later ones", schema: str },
      {
        name: "before",
        in: "query",
        description: "a message id: only earlier ones, the last `limit` of them",
        schema: str,
      },
      { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500 } },
    ],
  }),
  post: op("Send a message as the token's identity", {
    200: json("The first message for a retried Idempotency-Key", message),
    201: json(
      "The new message, its `to` as written (the @mentions when `to` was left out), with `warnings` for addressees nobody answers to",
      message,
    ),
  }, {
    parameters: [{
      name: "Idempotency-Key",
      in: "header",
      schema: { type: "string", maxLength: 200 },
    }],
    requestBody: body(
      {
        to: {
          ...strOrList,
          description:
            "the addressees; left out, the @mentions of `body` (`@bob`, `@here`; none is a 400), never for a workflow",
        },
        exclude: {
          ...strOrList,
          description: "who not to wake, whatever `to` says (`to: all` with a few left out)",
        },
        body: str,
        channel: str,
        re: strOrList,
        as: str,
        from: str,
        type: { const: "workflow", description: "a workflow request (docs/WORKFLOWS.md)" },
        create_channel: {
          type: "boolean",
          description: "create `channel` (a name) when there is none by that name",
        },
      },
      ["body"],
    ),
  }),
};
const replies = op(
  "Replies to a message; with ?wait=S, wait up to S seconds (at most 120) for one",
  {
    200: json("Replies", {
      type: "object",
      properties: { replies: { type: "array", items: message } },
    }),
  },
  {
    parameters: [...messageId, {
      name: "wait",
      in: "query",
      schema: { type: "number", minimum: 0 },
    }],
  },
);

/** The OpenAPI document. */
export const OPENAPI = {
  openapi: "3.1.0",
  info: { title: "crosstalk engine API", version: "1" },
  servers: [{ url: "http://127.0.0.1:7000" }],
  security: [{ bearer: [] }],
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    responses: {
      Error: json("An error: a stable code and a message", {
        type: "object",
        properties: {
          error: {
            type: "object",
            properties: { code: str, message: str },
            required: ["code", "message"],
          },
        },
      }),
    },
    schemas: {
      Message: {
        type: "object",
        properties: {
          channel: str,
          id: str,
          from: str,
          to: { type: "array", items: str },
          exclude: { type: "array", items: str },
          timestamp: str,
          re: { type: "array", items: str },
          as: str,
          type: { const: "workflow" },
          failed: { type: "boolean" },
          error: str,
          body: str,
        },
        required: ["channel", "id", "from", "to", "timestamp", "body"],
      },
      Channel: {
        type: "object",
        properties: {
          id: str,
          name: str,
          parent: str,
          created: str,
          messages: { type: "integer" },
        },
        required: ["id", "name"],
      },
    },
  },
  paths: {
    "/healthz": { get: op("Liveness", { 200: json("ok") }, open) },
    "/version": { get: op("Version and protocol version", { 200: json("Versions") }, open) },
    "/openapi.json": { get: op("This document", { 200: json("OpenAPI 3.1") }, open) },
    "/": { get: op("Redirects to the web UI", { 302: { description: "To /ui/" } }, open) },
    "/ui": { get: op("The web UI: its page (it signs in with POST /session)", page, open) },
    "/ui/app.js": { get: op("The web UI's script", asset("text/javascript"), open) },
    "/ui/app.css": { get: op("The web UI's style", asset("text/css"), open) },
    ...crosstalk8Pages(),
    "/setup": {
      get: op("The first-run page (with ?token=)", {
        200: { description: "HTML" },
        410: { description: "Setup is done" },
      }, open),
      post: op("Create the first admin with the one-time setup token", {
        201: json("The admin and a token"),
      }, {
        ...open,
        requestBody: body({ token: str, username: str, passphrase: str }, [
          "token",
          "username",
          "passphrase",
        ]),
      }),
    },
    "/api/nudge": {
      post: op(
        "Another engine of the transport pushed: fetch now (bearer: a JWT signed with that engine's key)",
        {
          202: json("Accepted; the sender's alias"),
          401: json("Error"),
        },
        open,
      ),
    },
    "/api/login": {
      post: op("Exchange a username and passphrase for a token (rate-limited)", {
        201: json("A token, shown once"),
      }, {
        ...open,
        requestBody: body({ username: str, passphrase: str, token_name: str }, [
          "username",
          "passphrase",
        ]),
      }),
    },
    "/session": {
      post: op(
        "Log in for the web UI: sets an HttpOnly SameSite session cookie and a CSRF cookie",
        { 201: json("The user and the CSRF token") },
        {
          ...open,
          requestBody: body({ username: str, passphrase: str }, ["username", "passphrase"]),
        },
      ),
    },
    "/session/logout": {
      post: op("End the session (needs X-CSRF-Token)", { 200: json("Logged out") }),
    },
    "/api/whoami": { get: op("The token's identity", { 200: json("Identity") }) },
    "/api/workflows": {
      get: op("Every workflow (child channels), newest first, with its phase and steps", {
        200: json("The workflows", {
          type: "object",
          properties: { workflows: { type: "array", items: workflow } },
        }),
      }),
    },
    "/api/workflows/{child}": {
      get: op(
        "One workflow, by its child channel's uuid",
        { 200: json("The workflow", workflow) },
        {
          parameters: [{ name: "child", in: "path", required: true, schema: str }],
        },
      ),
    },
    "/api/workflows/check": {
      post: op("Check the plan written in a workflow request's text, without sending it", {
        200: json("The plan"),
      }, { requestBody: body({ body: str }, ["body"]) }),
    },
    "/api/workflows/compose": {
      post: op(
        "Have a model plan a workflow described in plain language; answers once it replied",
        {
          200: json(
            "The plan to review: plan_yaml, request (the text and the plan), plan, problems",
            {
              type: "object",
              properties: {
                planner: str,
                plan_yaml: str,
                request: str,
                plan: { type: ["object", "null"] },
                problems: { type: "array", items: str },
                message: { type: "object" },
                reply: { type: "object" },
              },
            },
          ),
        },
        {
          requestBody: body({
            text: str,
            to: { type: "string", description: "the model that plans it" },
            channel: { type: "string", description: "where the round trip goes (workflows)" },
            timeout_seconds: { type: "number", exclusiveMinimum: 0, maximum: 3600 },
          }, ["text"]),
        },
      ),
    },
    "/api/search": {
      get: op("Messages containing every word of q (body, sender, addressees), newest first", {
        200: json("What was found", {
          type: "object",
          properties: {
            messages: { type: "array", items: message },
            scanned: { type: "integer" },
            complete: { type: "boolean" },
          },
        }),
      }, {
        parameters: [
          { name: "q", in: "query", required: true, schema: str },
          { name: "channel", in: "query", schema: str },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500 } },
        ],
      }),
    },
    "/api/tasks": {
      get: op("Tasks across channels, newest first: open and claimed, or all", {
        200: json("The tasks"),
      }, {
        parameters: [{ name: "state", in: "query", schema: { enum: ["open", "all"] } }],
      }),
    },
    "/api/logs/stream": {
      get: op("Every record of the engine's log as it is written, as Server-Sent Events", {
        200: { description: "text/event-stream of log events" },
      }),
    },
    "/api/approvals": {
      get: op("Tool-use approvals agents asked for: pending ones, or all remembered", {
        200: json("The approvals"),
      }, { parameters: [{ name: "state", in: "query", schema: { enum: ["pending", "all"] } }] }),
      post: op("Ask people to allow a tool use (an agent CLI's permission hook)", {
        201: json("The pending approval"),
      }, {
        requestBody: body({
          agent: str,
          tool: str,
          input: {},
          name: str,
          cwd: str,
          session: str,
          wait_seconds: { type: "integer", minimum: 1, maximum: 3600 },
        }, ["agent", "tool", "input"]),
      }),
    },
    "/api/approvals/{id}": {
      get: op("One approval; with wait=S, when it is decided or after S seconds (at most 300)", {
        200: json("The approval"),
      }, {
        parameters: [
          { name: "id", in: "path", required: true, schema: str },
          { name: "wait", in: "query", schema: { type: "integer", minimum: 0, maximum: 300 } },
        ],
      }),
      post: op("Allow or deny it (users only, not agents' tokens)", {
        200: json("The decided approval"),
      }, {
        parameters: [{ name: "id", in: "path", required: true, schema: str }],
        requestBody: body({ decision: { enum: ["allow", "deny"] }, reason: str }, ["decision"]),
      }),
    },
    "/api/channels": channels,
    "/channels": channels,
    "/api/channels/{channel}": oneChannel,
    "/channels/{channel}": oneChannel,
    "/api/channels/{channel}/annotations": annotations,
    "/channels/{channel}/annotations": annotations,
    "/api/messages": messages,
    "/messages": messages,
    "/api/messages/{channel}/{y}/{m}/{d}/{file}": {
      get: op("Show a message", { 200: json("The message", message) }, { parameters: messageId }),
    },
    "/messages/{channel}/{y}/{m}/{d}/{file}": {
      get: op("Show a message", { 200: json("The message", message) }, { parameters: messageId }),
    },
    "/api/messages/{channel}/{y}/{m}/{d}/{file}/replies": { get: replies },
    "/messages/{channel}/{y}/{m}/{d}/{file}/replies": { get: replies },
    "/api/messages/{channel}/{y}/{m}/{d}/{file}/status": {
      get: op(
        "Delivery state per addressee: written, claimed, running, stalled, replied, failed, empty, skipped",
        { 200: json("Delivery") },
        { parameters: messageId },
      ),
    },
    "/messages/{channel}/{y}/{m}/{d}/{file}/status": {
      get: op("Delivery state per addressee", { 200: json("Delivery") }, { parameters: messageId }),
    },
    "/replies": {
      get: op("Replies to ?id=<channel>/<message id> (the reference engine's path)", {
        200: json("Replies"),
      }, {
        parameters: [{ name: "id", in: "query", required: true, schema: str }, {
          name: "wait",
          in: "query",
          schema: { type: "number" },
        }],
      }),
    },
    "/api/status": {
      get: op("The engine: heartbeat, claimed models, pending work, dispatchers", {
        200: json("Status"),
      }),
    },
    "/status": { get: op("The engine's status", { 200: json("Status") }) },
    "/api/settings": {
      get: op(
        "The configuration in effect, every default filled in (as data/crosstalk.yaml would write it), with the engine's alias and version",
        { 200: json("Settings") },
      ),
    },
    "/api/models": { get: op("Models in data/crosstalk.yaml", { 200: json("Models") }) },
    "/models": { get: op("Models in data/crosstalk.yaml", { 200: json("Models") }) },
    "/api/agents": {
      get: op("Installed agent CLIs and which models this machine claims", { 200: json("Agents") }),
    },
    "/agents": { get: op("Installed agent CLIs and claimed models", { 200: json("Agents") }) },
    "/api/agents/installed": { get: op("Installed agent CLIs", { 200: json("Installed") }) },
    "/agents/installed": { get: op("Installed agent CLIs", { 200: json("Installed") }) },
    "/api/dispatchers": {
      get: op("Engines on this transport, alive or stale", { 200: json("Dispatchers") }),
    },
    "/dispatchers": { get: op("Engines on this transport", { 200: json("Dispatchers") }) },
    "/api/events": {
      get: op(
        "Server-Sent Events: message, claimed, running, replied, failed, empty, skipped, engine, live, woken, unwoken, read, task, badge; resume with Last-Event-ID",
        {
          200: { description: "text/event-stream" },
        },
        { parameters: [{ name: "Last-Event-ID", in: "header", schema: str }] },
      ),
    },
    "/api/logs": {
      get: op("The engine's last log records", { 200: json("Records") }, {
        parameters: [{ name: "lines", in: "query", schema: { type: "integer" } }],
      }),
    },
    "/api/tokens": {
      get: op("Your tokens (an admin's: everyone's)", { 200: json("Tokens") }),
      post: op("Mint a token, shown once", { 201: json("The token and its record") }, {
        requestBody: body({ name: str, ttl_seconds: { type: "number" } }, ["name"]),
      }),
    },
    "/api/tokens/{id}": {
      delete: op("Revoke a token at once", { 200: json("The revoked record") }, {
        parameters: [{ name: "id", in: "path", required: true, schema: str }],
      }),
    },
    "/api/users": {
      get: op("Users (admins)", { 200: json("Users") }),
      post: op("Create a user (admins)", { 201: json("The user") }, {
        requestBody: body({ username: str, passphrase: str, admin: { type: "boolean" } }, [
          "username",
          "passphrase",
        ]),
      }),
    },
    "/api/users/{username}": {
      delete: op("Delete a user and revoke their tokens (admins)", { 200: json("Deleted") }, {
        parameters: [{ name: "username", in: "path", required: true, schema: str }],
      }),
      patch: op(
        "Make a user an admin or not (admins; not your own, not the last admin)",
        { 200: json("The user") },
        {
          parameters: [{ name: "username", in: "path", required: true, schema: str }],
          requestBody: body({ admin: { type: "boolean" } }, ["admin"]),
        },
      ),
    },
    ...taskPaths("/api"),
    ...taskPaths(""),
    "/api/live": {
      get: op("This machine's live agent sessions", { 200: json("Live agents") }),
      post: op(
        "Register a live agent session (a user's token); returns the agent and its own token, shown once",
        { 201: json("The agent and its token") },
        {
          requestBody: body({
            name: str,
            agent: str,
            model: str,
            role: str,
            cwd: str,
            tmux: str,
            tmux_socket: {
              type: "string",
              description: "the socket of the tmux server of its pane (the first field of $TMUX)",
            },
            wake: { enum: ["channel", "tmux", "webhook", "pull"] },
            allow: { type: "array", items: str },
          }, ["agent"]),
        },
      ),
    },
    "/api/live/me": {
      get: op("The caller's live agent (a live agent token)", { 200: json("The agent") }),
      patch: op("Set the caller's status, model or role", { 200: json("The agent") }, {
        description: "At least one field. null takes the model or the role away. The role " +
          "decides which role-scoped tasks the agent may claim. Peers see the change at once. " +
          "400 ERR_BODY_INVALID for an empty change or status, or a model or role that is not " +
          "1 to 100 letters, digits, spaces or @ % : . / + - _.",
        requestBody: body({
          status: str,
          model: { oneOf: [str, { type: "null" }] },
          role: { oneOf: [str, { type: "null" }] },
        }, []),
      }),
      delete: op("End the session: the agent goes offline, its token stops working", {
        200: json("Left"),
      }),
    },
    "/api/live/me/wake": {
      get: op("Server-Sent Events: hello, then one wake per new message for the caller", {
        200: { description: "text/event-stream" },
      }),
    },
    "/api/live/me/mcp": {
      get: op(
        "WebSocket: the caller's MCP session, one JSON-RPC message per text frame (what " +
          "crosstalk mcp relays its stdio to); Claude Code channel wakes arrive on it",
        { 101: { description: "Switching Protocols" } },
        {
          parameters: [
            { name: "woken_report_ms", in: "query", schema: { type: "integer" } },
          ],
        },
      ),
    },
    "/api/live/me/mcp/pump": {
      post: op(
        "A ticket for the caller's MCP session over two loopback connections to the engine " +
          "(what crosstalk mcp hands to tee and cat on the engine's machine): connect to " +
          "127.0.0.1:port, send `in <ticket>` or `out <ticket>` and a newline; `in` hears ok " +
          "once `out` is connected, then carries one JSON-RPC message per line each way. The " +
          "engine appends the id of every request it answers to the answered file. A session " +
          "that relayed and comes back to pumps sends its client's handshake lines: the new " +
          "session hears them first once both connections are there, the answer to the " +
          "initialize is not sent, and the ticket says replayed: true",
        { 200: json("The ticket") },
        {
          parameters: [
            { name: "woken_report_ms", in: "query", schema: { type: "integer" } },
          ],
          requestBody: {
            ...body({ initialize: str, initialized: str }, ["initialize"]),
            required: false,
          },
        },
      ),
    },
    "/api/live/me/wake-report": {
      post: op("How wakes went: recorded on the bus as woken or unwoken", {
        200: json("Recorded"),
      }, {
        requestBody: body({
          refs: { type: "array", items: str },
          ok: { type: "boolean" },
          detail: str,
        }, ["refs", "ok"]),
      }),
    },
    "/api/live/me/unread": {
      post: op("Give back messages a read handed out that never reached the agent", {
        200: json("How many are unread again"),
      }, {
        requestBody: body({ refs: { type: "array", items: str } }, ["refs"]),
      }),
    },
    "/api/live/me/inbox": {
      get: op("The caller's unread messages, marked read; ?wait= seconds long-polls", {
        200: json("Messages and how many more are unread"),
      }, {
        parameters: [
          { name: "limit", in: "query", schema: { type: "integer" } },
          { name: "wait", in: "query", schema: { type: "number" } },
        ],
      }),
    },
    "/api/peers": {
      get: op("Live agents, models and humans on every machine of the transport", {
        200: json("Peers"),
      }),
    },
    "/api/tmux-agents": {
      get: op(
        "The tmux panes registered on this machine: target, pane, up, enabled, unread, the " +
          "marker and max_chars in effect, and for a pane id the run of its tmux server " +
          "(tmux_server: pid, start_time)",
        { 200: json("Tmux agents") },
      ),
      post: op(
        "Register a tmux pane under a name (an admin); the engine types its messages into it",
        { 201: json("The tmux agent") },
        {
          requestBody: body({ name: str, ...tmuxAgentFields }, ["name", "target"]),
        },
      ),
    },
    "/api/tmux-agents/candidates": {
      get: op(
        "The panes of a tmux server as registrations they could become (an admin): target, " +
          "pane, command, folder, a guessed agent CLI, who has it already, a proposed name",
        { 200: json("The socket asked (null: the engine's default server) and the candidates") },
        {
          description: "Registers nothing. No tmux server running there: an empty list. " +
            "400 ERR_BODY_INVALID for a bad socket or own pane, 500 ERR_SERVICE_FAILED when " +
            "tmux cannot be run (not installed) or fails.",
          parameters: [
            {
              name: "socket",
              in: "query",
              description: "the tmux server's socket, an absolute path (default the engine's)",
              schema: str,
            },
            {
              name: "own",
              in: "query",
              description: "the caller's own pane ($TMUX_PANE): listed, never proposed",
              schema: { type: "string", pattern: "^%[0-9]+$" },
            },
          ],
        },
      ),
    },
    "/api/tmux-agents/{name}": {
      patch: op(
        "Change a registration in place (an admin); its inbox and enabled state stay",
        { 200: json("The tmux agent") },
        {
          description: "The fields given replace the stored ones, checked as a registration " +
            "is; null takes a field back to its default (revive: null drops the revive command " +
            "with cwd, revive_timeout_ms and revive_grace_ms). A change of target, socket, " +
            "revive or cwd stops a revive under way and types what waits to the new target. " +
            "400 ERR_BODY_INVALID for an empty change, 404 ERR_AGENT_NOT_FOUND for an unknown name.",
          parameters: [{ name: "name", in: "path", required: true, schema: str }],
          requestBody: body(
            Object.fromEntries(
              Object.entries(tmuxAgentFields).map((
                [key, schema],
              ) => [key, key === "target" ? schema : { oneOf: [schema, { type: "null" }] }]),
            ),
            [],
          ),
        },
      ),
      delete: op("Unregister a tmux pane (an admin); its inbox goes", { 200: json("Removed") }, {
        parameters: [{ name: "name", in: "path", required: true, schema: str }],
      }),
    },
    "/api/tmux-agents/{name}/enable": {
      post: op("Type into the pane again, what waits first (an admin)", {
        200: json("The tmux agent"),
      }, { parameters: [{ name: "name", in: "path", required: true, schema: str }] }),
    },
    "/api/tmux-agents/{name}/start": {
      post: op(
        "Start the agent's session now with its revive command if its pane is down (an admin)",
        { 200: json("The tmux agent once it is up, with started (false: it was up already)") },
        {
          description: "A failed start is an error: 400 ERR_USAGE without a revive command or " +
            "for a disabled agent, 504 ERR_TIMEOUT when its pane was not ready in time, 500 " +
            "ERR_SERVICE_FAILED when it did not come up for another reason.",
          parameters: [{ name: "name", in: "path", required: true, schema: str }],
        },
      ),
    },
    "/api/tmux-agents/{name}/disable": {
      post: op("Stop typing into the pane; messages still reach its inbox (an admin)", {
        200: json("The tmux agent"),
      }, { parameters: [{ name: "name", in: "path", required: true, schema: str }] }),
    },
    "/api/users/{username}/passphrase": {
      post: op("Set a passphrase (yours, or anyone's as an admin)", { 200: json("Changed") }, {
        parameters: [{ name: "username", in: "path", required: true, schema: str }],
        requestBody: body({ passphrase: str }, ["passphrase"]),
      }),
    },
  },
} as const;

/**
 * Crosstalk 8's page addresses: a browser's load is sent to the view of the web UI that shows the
 * same. `/agents` is the API's route, described with it.
 */
function crosstalk8Pages(): Record<string, unknown> {
  const name = [{ name: "name", in: "path", required: true, schema: str }];
  const redirect = (to: string, parameters: unknown[] = []) =>
    op(`A browser's page load (Accept: text/html, no Authorization) goes to ${to}`, {
      302: { description: `To ${to}` },
    }, { ...open, ...(parameters.length > 0 ? { parameters } : {}) });
  const pages: Record<string, unknown> = {
    "/c/{name}": { get: redirect("/ui/#/c/{name}", name) },
    "/w/{name}": { get: redirect("/ui/#/w/{name}", name) },
  };
  for (const [path, view] of CROSSTALK8_PAGES) {
    if (path !== "/agents") pages[path] = { get: redirect(`/ui/#/${view}`) };
  }
  return pages;
}

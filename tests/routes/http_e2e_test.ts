// The HTTP API of a real engine on loopback: login, send, long-poll for the reply, and a
// dispatched CLI calling back with its own short-lived token.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import { AGENTS, EngineProcess, makeTransport } from "../engine/_harness.ts";

Deno.test("a real engine serves the API on loopback: login, send, long-poll replies, agent callback", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const state = join(dir.path, "state");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n      caller: ${
      join(AGENTS, "callback.sh")
    }\n`,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: {
      CROSSTALK_INIT_USERNAME: "tester",
      CROSSTALK_INIT_PASSPHRASE: "a long enough passphrase",
    },
  });
  const listening = await engine.waitFor((r) => r.event === "api.listening");
  const base = listening.url as string;
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await Deno.readTextFile(join(state, "api-port"))).trim(), base.split(":").at(-1));
  const credential = JSON.parse(await Deno.readTextFile(join(state, "cli-credential.json")));
  assert.equal((await Deno.stat(join(state, "cli-credential.json"))).mode! & 0o777, 0o600);
  assert.equal(credential.server, base);

  const health = await fetch(`${base}/healthz`);
  assert.deepEqual(await health.json(), { ok: true });
  const anonymous = await fetch(`${base}/api/channels`);
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();

  const login = await fetch(`${base}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "tester", passphrase: "a long enough passphrase" }),
  });
  const { token } = await login.json();
  const api = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${base}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
    });
    return { status: response.status, json: await response.json() };
  };

  const sent = await api("/api/messages", {
    method: "POST",
    body: JSON.stringify({ to: "reply", body: "over http" }),
  });
  assert.equal(sent.status, 201);
  const replies = await api(`/api/messages/${sent.json.channel}/${sent.json.id}/replies?wait=15`);
  assert.equal(replies.json.replies.length, 1);
  assert.equal(replies.json.replies[0].body, "reply from test/reply (1 messages) to: over http");

  const ask = await api("/api/messages", {
    method: "POST",
    body: JSON.stringify({ to: "caller", body: "call me back" }),
  });
  const answer = await api(`/api/messages/${ask.json.channel}/${ask.json.id}/replies?wait=15`);
  assert.equal(answer.json.replies[0].body, "replied after calling back");
  const list = await api(`/api/messages?channel=${ask.json.channel}&since=${ask.json.id}`);
  const callback = list.json.messages.find((m: { body: string }) =>
    m.body.startsWith("called back")
  );
  assert.equal(callback.from, "test/caller", "the agent's token speaks as its model");
  assert.equal(callback.body, "called back as test/caller");

  // The event stream: a reply to a new message shows up, and a reconnect resumes after an id.
  const third = await openEvents(base, token);
  assert.equal((await third.next()).event, "hello");
  const watched = await api("/api/messages", {
    method: "POST",
    body: JSON.stringify({ to: "reply", body: "watch me" }),
  });
  const about = (e: SseEvent) => e.data?.includes(watched.json.id);
  const messageEvent = await third.until((e) => e.event === "message" && about(e));
  await third.until((e) => e.event === "replied" && about(e));
  await third.close();

  const resumed = await openEvents(base, token, messageEvent.id);
  assert.equal((await resumed.next()).event, "hello");
  const first = await resumed.next();
  assert.ok(seqOf(first.id!) > seqOf(messageEvent.id!), "replay starts after the last id seen");
  await resumed.until((e) => e.event === "replied" && about(e));
  await resumed.close();

  // The log stream: every record as it is written, not only the bus events among them.
  const logs = await openEvents(base, token, undefined, "/api/logs/stream");
  assert.equal((await logs.next()).event, "hello");
  const logged = await api("/api/messages", {
    method: "POST",
    body: JSON.stringify({ to: "reply", body: "log me" }),
  });
  const start = await logs.until((e) =>
    e.event === "log" && e.data?.includes('"run.start"') && e.data.includes(logged.json.id)
  );
  const record = JSON.parse(start.data!);
  assert.equal(record.level, "info");
  assert.equal(record.model, "test/reply");
  assert.match(record.ts, /^\d{4}-\d{2}-\d{2}T/);
  await logs.close();

  // Clients still listening (an event stream, a long-poll nobody will answer) do not keep the
  // engine from stopping: both end when it stops.
  const lingering = await openEvents(base, token);
  assert.equal((await lingering.next()).event, "hello");
  const unanswered = await api("/api/messages", {
    method: "POST",
    body: JSON.stringify({ to: "nobody", body: "wait" }),
  });
  const longPoll = api(
    `/api/messages/${unanswered.json.channel}/${unanswered.json.id}/replies?wait=110`,
  );
  // Stopped only once the engine holds the long-poll (stopped before it connects, the request
  // would find no listener at all).
  await engine.waitFor((r) =>
    r.event === "api.replies_wait" && String(r.trace).endsWith(unanswered.json.id)
  );
  // Without ending the wait, the server's shutdown would hold the engine for the full 110 s.
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const stopped = await Promise.race([
    engine.stop(),
    new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error("the engine did not stop within 30 s")), 30_000);
    }),
  ]).finally(() => clearTimeout(deadline));
  assert.equal(stopped.code, 0);
  const ended = await longPoll;
  assert.equal(ended.status, 200);
  assert.deepEqual(ended.json.replies, []);
  await lingering.close().catch(() => {});
});

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

const seqOf = (id: string) => Number(id.split("-")[1]);

/** A minimal SSE reader over fetch. */
async function openEvents(
  base: string,
  token: string,
  lastEventId?: string,
  path = "/api/events",
) {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const response = await fetch(`${base}${path}`, { headers });
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const next = async (): Promise<SseEvent> => {
    while (!buffer.includes("\n\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the event stream ended");
      buffer += value;
    }
    const end = buffer.indexOf("\n\n");
    const chunk = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const event: SseEvent = {};
    for (const line of chunk.split("\n")) {
      const colon = line.indexOf(":");
      const key = line.slice(0, colon) as keyof SseEvent;
      event[key] = line.slice(colon + 1).trimStart();
    }
    return event;
  };
  return {
    next,
    async until(pred: (e: SseEvent) => boolean | undefined): Promise<SseEvent> {
      for (;;) {
        const e = await next();
        if (pred(e)) return e;
      }
    },
    close: () => reader.cancel(),
  };
}

Deno.test("a real engine keeps agent tokens in their place: no cookie replay, no user powers, gone with their owner; a task resolves once", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
    env: { CROSSTALK_INIT_USERNAME: "root", CROSSTALK_INIT_PASSPHRASE: "a long enough passphrase" },
  });
  const base = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  // This engine's cookie names, as its page tells its script.
  const page = await (await fetch(`${base}/ui/`)).text();
  const csrfCookie = /name="crosstalk-csrf-cookie" content="([^"]+)"/.exec(page)![1]!;
  const sessionCookie = csrfCookie.replace("crosstalk_csrf_", "crosstalk_session_");
  const call = async (
    method: string,
    path: string,
    options: { bearer?: string; cookie?: string; body?: unknown } = {},
  ) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.bearer) headers.Authorization = `Bearer ${options.bearer}`;
    if (options.cookie) {
      headers.Cookie = `${sessionCookie}=${options.cookie}; ${csrfCookie}=x`;
      headers["X-CSRF-Token"] = "x";
    }
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const json = await response.json();
    return { status: response.status, json, code: json.error?.code as string | undefined };
  };
  const login = async (username: string, passphrase: string) =>
    (await call("POST", "/api/login", { body: { username, passphrase } })).json.token as string;
  const root_ = await login("root", "a long enough passphrase");
  assert.equal(
    (await call("POST", "/api/users", {
      bearer: root_,
      body: { username: "bob", passphrase: "bob's passphrase" },
    })).status,
    201,
  );
  const bob = await login("bob", "bob's passphrase");
  const register = async (name: string) =>
    (await call("POST", "/api/live", { bearer: bob, body: { agent: "claude", name } })).json
      .token as string;

  // A name asked for is used as it is or refused, never quietly changed.
  const odd = await call("POST", "/api/live", {
    bearer: bob,
    body: { agent: "claude", name: "../../etc" },
  });
  assert.equal(odd.status, 400);
  assert.match(odd.json.error.message, /Invalid live agent name "\.\.\/\.\.\/etc"/);

  // An ended session's token works neither as a bearer nor replayed as a session cookie.
  const worker = await register("worker");
  assert.equal((await call("DELETE", "/api/live/me", { bearer: worker })).status, 200);
  assert.equal((await call("GET", "/api/whoami", { bearer: worker })).code, "ERR_TOKEN_REVOKED");
  const replayed = await call("POST", "/api/messages", {
    cookie: worker,
    body: { to: "root", body: "from an ended session" },
  });
  assert.equal(replayed.status, 401);
  assert.equal(replayed.code, "ERR_UNAUTHENTICATED");
  assert.match(replayed.json.error.message, /must hold a login session/);

  // A live agent's token has no user powers, and no user can take a live agent's name.
  const carol = await register("carol");
  const taken = await call("POST", "/api/users", {
    bearer: root_,
    body: { username: "carol", passphrase: "carol's passphrase", admin: true },
  });
  assert.equal(taken.code, "ERR_USER_EXISTS");
  for (
    const [method, path, body] of [
      ["GET", "/api/tokens", undefined],
      ["POST", "/api/tokens", { name: "stolen" }],
      ["POST", "/api/users/carol/passphrase", { passphrase: "set by an agent" }],
    ] as const
  ) {
    const r = await call(method, path, { bearer: carol, body });
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(r.code, "ERR_FORBIDDEN");
  }

  // Deleting bob ends the sessions of the agents he registered.
  assert.equal(
    (await call("POST", "/api/messages", {
      bearer: carol,
      body: { to: "root", body: "while bob exists" },
    })).status,
    201,
  );
  assert.equal((await call("DELETE", "/api/users/bob", { bearer: root_ })).status, 200);
  const orphan = await call("POST", "/api/messages", {
    bearer: carol,
    body: { to: "root", body: "after bob is gone" },
  });
  assert.equal(orphan.code, "ERR_TOKEN_REVOKED");

  // Three resolves of one task at once: one wins, the others change nothing.
  const task = (await call("POST", "/api/messages", {
    bearer: root_,
    body: { to: "root", body: "do the thing" },
  })).json;
  const ref = `/api/messages/${task.channel}/${task.id}`;
  const nul = await call("POST", `${ref}/task`, { bearer: root_, body: { cwd: "/a\u0000b" } });
  assert.equal(nul.code, "ERR_BODY_INVALID");
  assert.equal((await call("POST", `${ref}/task`, { bearer: root_, body: {} })).status, 201);
  assert.equal((await call("POST", `${ref}/task/claim`, { bearer: root_ })).status, 200);
  const resolves = await Promise.all(
    [1, 2, 3].map((i) =>
      call("POST", `${ref}/task/resolve`, { bearer: root_, body: { result: `done #${i}` } })
    ),
  );
  assert.deepEqual(resolves.map((r) => r.status).sort(), [200, 409, 409]);
  const replies = (await call("GET", `${ref}/replies`, { bearer: root_ })).json.replies as {
    body: string;
  }[];
  const winner = resolves.find((r) => r.status === 200)!.json;
  assert.equal(replies.length, 1, "one reply for one resolve");
  assert.equal(replies[0]!.body, `Task completed: ${winner.result}`);
});

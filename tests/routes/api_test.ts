// The HTTP API through app.request(): auth, identity, resources, and a security suite.
import assert from "node:assert/strict";
import { join } from "node:path";
import { importJWK, type JWK, SignJWT } from "jose";
import { AuthStore } from "../../engine/auth.ts";
import { Bus } from "../../engine/bus.ts";
import { EventHub } from "../../engine/events.ts";
import { locateTransport } from "../../engine/paths.ts";
import { cookieNames, createApp } from "../../routes/mod.ts";
import { scaffoldTransport } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

async function setup(root: string, options: { admin?: boolean } = {}) {
  await scaffoldTransport(join(root, "bus"), { kind: "local" });
  const location = locateTransport({ path: join(root, "bus"), state: join(root, "state") }, {
    HOME: root,
  });
  const bus = await Bus.open(location, { env: { USER: "tester" } });
  const auth = await AuthStore.open(location.stateDir);
  const setupToken = { value: "s3tup-token-for-tests" as string | undefined };
  const app = createApp({ bus, auth, version: "0.1.0", setupToken, maxBodyBytes: 64 * 1024 });
  const call = async (
    method: string,
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    }
    const response = await app.request(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text);
    } catch {
      json = { text };
    }
    return { status: response.status, json };
  };
  if (options.admin === false) {
    return { bus, auth, call, adminToken: "", stateDir: location.stateDir };
  }
  const admin = await call("POST", "/setup", {
    body: { token: "s3tup-token-for-tests", username: "root", passphrase: "correct horse battery" },
  });
  assert.equal(admin.status, 201, JSON.stringify(admin.json));
  return { bus, auth, call, adminToken: admin.json.token as string, stateDir: location.stateDir };
}

const errorCode = (json: Record<string, unknown>) =>
  (json.error as { code: string } | undefined)?.code;

Deno.test("API: open routes answer without a token; everything else needs one", async () => {
  await using dir = await tempDir();
  const { call, bus } = await setup(dir.path);
  try {
    assert.deepEqual((await call("GET", "/healthz")).json, { ok: true });
    assert.equal((await call("GET", "/version")).json.protocol, "8");
    for (
      const path of [
        "/api/channels",
        "/channels",
        "/api/messages",
        "/status",
        "/api/tokens",
        "/nope",
      ]
    ) {
      const r = await call("GET", path);
      assert.equal(r.status, 401, path);
      assert.equal(errorCode(r.json), "ERR_UNAUTHENTICATED");
      assert.match((r.json.error as { message: string }).message, /crosstalk auth login/);
    }
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: the setup token works once, only while no user exists", async () => {
  await using dir = await tempDir();
  const { call, bus } = await setup(dir.path);
  try {
    const again = await call("POST", "/setup", {
      body: {
        token: "s3tup-token-for-tests",
        username: "mallory",
        passphrase: "another passphrase",
      },
    });
    assert.equal(again.status, 403);
    assert.equal((await call("GET", "/setup")).status, 410);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: a setup form that is refused (bad name, short passphrase) leaves the setup token usable", async () => {
  await using dir = await tempDir();
  const { call, bus, auth } = await setup(dir.path, { admin: false });
  try {
    const token = "s3tup-token-for-tests";
    for (
      const body of [{ username: "all", passphrase: "long enough" }, {
        username: "root",
        passphrase: "short",
      }]
    ) {
      const refused = await call("POST", "/setup", { body: { token, ...body } });
      assert.equal(refused.status, 400, JSON.stringify(refused.json));
      assert.equal(errorCode(refused.json), "ERR_USER_INVALID");
    }
    assert.equal(auth.listUsers().length, 0, "nothing was created");
    assert.equal((await call("GET", `/setup?token=${token}`)).status, 200);
    const created = await call("POST", "/setup", {
      body: { token, username: "root", passphrase: "correct horse battery" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: retries of one Idempotency-Key racing each other write one message; the key with other fields is refused", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken } = await setup(dir.path);
  try {
    const headers = { "Idempotency-Key": "race-1" };
    const body = { to: "echo", body: "exactly once" };
    const answers = await Promise.all(
      [1, 2, 3, 4].map(() => call("POST", "/api/messages", { token: adminToken, headers, body })),
    );
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 201]);
    assert.equal(new Set(answers.map((a) => a.json.id)).size, 1, "every answer names one message");
    // The same fields in another order are the same request.
    const reordered = await call("POST", "/api/messages", {
      token: adminToken,
      headers,
      body: { body: "exactly once", to: "echo" },
    });
    assert.equal(reordered.status, 200);
    const other = await call("POST", "/api/messages", {
      token: adminToken,
      headers,
      body: { to: "echo", body: "a different message" },
    });
    assert.equal(other.status, 400);
    assert.equal(errorCode(other.json), "ERR_BODY_INVALID");
    assert.match((other.json.error as { message: string }).message, /already used/);
    const list = await call("GET", "/api/messages?limit=50", { token: adminToken });
    assert.deepEqual((list.json.messages as { body: string }[]).map((m) => m.body), [
      "exactly once",
    ]);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: a token's lifetime and name are checked (400, nothing minted), and inherited field names are unknown fields", async () => {
  await using dir = await tempDir();
  const { call, bus, auth, adminToken } = await setup(dir.path);
  try {
    const before = auth.listTokens().length;
    for (
      const body of [
        { name: "huge", ttl_seconds: 1e16 },
        { name: "negative", ttl_seconds: -3600 },
        { name: "fraction", ttl_seconds: 90.5 },
        { name: "too short", ttl_seconds: 5 },
        { name: "" },
        { name: "a/b" },
      ]
    ) {
      const r = await call("POST", "/api/tokens", { token: adminToken, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.json)}`);
      assert.equal(errorCode(r.json), "ERR_BODY_INVALID");
    }
    assert.equal(auth.listTokens().length, before, "no token was minted");
    for (const field of ["constructor", "toString", "__proto__"]) {
      const r = await call("POST", "/api/messages", {
        token: adminToken,
        body: `{"to":"echo","body":"x","${field}":1}`,
      });
      assert.equal(r.status, 400, field);
      assert.match((r.json.error as { message: string }).message, new RegExp(`"${field}"`));
    }
    assert.equal(
      ((await call("GET", "/api/messages", { token: adminToken })).json.messages as []).length,
      0,
    );
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: numeric query parameters are plain numbers in range (400 naming the parameter), and too large ones are capped", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken } = await setup(dir.path);
  try {
    const sent = await call("POST", "/api/messages", {
      token: adminToken,
      body: { to: "echo", body: "one" },
    });
    const ref = `${sent.json.channel}/${sent.json.id}`;
    for (
      const path of [
        "/api/messages?limit=0x10",
        "/api/messages?limit=1e3",
        "/api/messages?limit=0",
        "/api/messages?limit=-1",
        "/api/messages?limit=",
        `/api/messages/${ref}/replies?wait=abc`,
        `/api/messages/${ref}/replies?wait=Infinity`,
        `/replies?id=${ref}&wait=abc`,
        "/api/logs?lines=abc",
      ]
    ) {
      const r = await call("GET", path, { token: adminToken });
      assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.json)}`);
      const name = /[?&](limit|wait|lines)=[^&]*$/.exec(path)![1]!;
      assert.match((r.json.error as { message: string }).message, new RegExp(`^${name} must be`));
    }
    const capped = await call("GET", "/api/messages?limit=100000", { token: adminToken });
    assert.equal(capped.status, 200);
    assert.equal((capped.json.messages as unknown[]).length, 1);
    const quick = await call("GET", `/api/messages/${ref}/replies?wait=0.5`, { token: adminToken });
    assert.deepEqual(quick.json.replies, []);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: users send as themselves, admins may speak for others, and a retried send is not written twice", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken } = await setup(dir.path);
  try {
    assert.equal(
      (await call("POST", "/api/users", {
        token: adminToken,
        body: { username: "ann", passphrase: "ann's passphrase" },
      })).status,
      201,
    );
    const login = await call("POST", "/api/login", {
      body: { username: "ann", passphrase: "ann's passphrase" },
    });
    assert.equal(login.status, 201);
    const ann = login.json.token as string;
    const sent = await call("POST", "/api/messages", {
      token: ann,
      body: { to: "echo", body: "hi" },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.json));
    assert.equal(sent.json.from, "ann");
    const spoof = await call("POST", "/api/messages", {
      token: ann,
      body: { to: "echo", body: "hi", from: "root" },
    });
    assert.equal(spoof.status, 403);
    assert.equal(errorCode(spoof.json), "ERR_FORBIDDEN");
    const onBehalf = await call("POST", "/api/messages", {
      token: adminToken,
      body: { to: "echo", body: "x", from: "ann" },
    });
    assert.equal(onBehalf.json.from, "ann");

    const headers = { "Idempotency-Key": "retry-1" };
    const first = await call("POST", "/api/messages", {
      token: ann,
      headers,
      body: { to: "echo", body: "once" },
    });
    const retry = await call("POST", "/api/messages", {
      token: ann,
      headers,
      body: { to: "echo", body: "once" },
    });
    assert.equal(retry.status, 200);
    assert.equal(retry.json.id, first.json.id);
    const list = await call("GET", "/api/messages?limit=50", { token: ann });
    assert.equal((list.json.messages as unknown[]).length, 3);

    const path = `/api/messages/${first.json.channel}/${first.json.id}`;
    assert.equal((await call("GET", path, { token: ann })).json.body, "once");
    const status = await call("GET", `${path}/status`, { token: ann });
    assert.equal((status.json.deliveries as { state: string }[])[0]!.state, "written");
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: channels are created, renamed and deleted, and bad names change nothing", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken: token } = await setup(dir.path);
  try {
    const created = await call("POST", "/api/channels", { token, body: { name: "design" } });
    assert.equal(created.status, 201);
    assert.equal(
      (await call("PATCH", "/api/channels/design", { token, body: { name: "plans" } })).json.name,
      "plans",
    );
    for (const name of ["../etc", "a/b", "..", "x\\y"]) {
      const bad = await call("POST", "/api/channels", { token, body: { name } });
      assert.equal(bad.status, 400, name);
      assert.equal(errorCode(bad.json), "ERR_CHANNEL_INVALID");
    }
    assert.equal((await call("GET", "/api/channels/..%2F..%2Fdata", { token })).status, 404);
    assert.equal(
      (await call("GET", "/api/messages/../../CROSSTALK-VERSION", { token })).status,
      404,
    );
    assert.equal((await call("GET", "/api/messages?since=../../x", { token })).status, 400);
    assert.equal((await call("DELETE", `/api/channels/${created.json.id}`, { token })).status, 200);
    assert.deepEqual(
      ((await call("GET", "/api/channels", { token })).json.channels as { name: string }[]).map((
        c,
      ) => c.name),
      ["general"],
    );
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: malformed, unknown-field and oversized bodies are refused with a clear error", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken: token } = await setup(dir.path);
  try {
    const garbled = await call("POST", "/api/messages", { token, body: "{not json" });
    assert.deepEqual([garbled.status, errorCode(garbled.json)], [400, "ERR_BODY_INVALID"]);
    const extra = await call("POST", "/api/messages", {
      token,
      body: { to: "echo", body: "x", sneaky: 1 },
    });
    assert.match((extra.json.error as { message: string }).message, /Unknown field "sneaky"/);
    const wrongType = await call("POST", "/api/messages", { token, body: { to: 5, body: "x" } });
    assert.equal(wrongType.status, 400);
    const huge = await call("POST", "/api/messages", {
      token,
      body: { to: "echo", body: "x".repeat(100 * 1024) },
    });
    assert.deepEqual([huge.status, errorCode(huge.json)], [413, "ERR_BODY_TOO_LARGE"]);
    const list = await call("GET", "/api/messages", { token });
    assert.deepEqual(list.json.messages, [], "nothing was written");
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API security: forged, tampered, expired, early, foreign and revoked tokens are all refused", async () => {
  await using dir = await tempDir();
  const { call, bus, auth, adminToken, stateDir } = await setup(dir.path);
  try {
    const jwk = JSON.parse(
      await Deno.readTextFile(join(stateDir, "auth", "signing-key.json")),
    ) as JWK;
    const key = await importJWK(jwk, "ES256");
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims: Record<string, unknown>, edit: (j: SignJWT) => SignJWT = (j) => j) =>
      edit(
        new SignJWT({ kind: "user", admin: true, ...claims }).setProtectedHeader({ alg: "ES256" })
          .setIssuer("crosstalk").setAudience("crosstalk-api").setSubject("root").setJti(
            crypto.randomUUID(),
          )
          .setIssuedAt(now),
      ).sign(key);
    const b64 = (v: unknown) =>
      btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    const [header, payload, signature] = adminToken.split(".");
    const forged: Record<string, string> = {
      "alg none": `${b64({ alg: "none", typ: "JWT" })}.${payload}.`,
      "HS256 with the public key": `${b64({ alg: "HS256", typ: "JWT" })}.${payload}.${signature}`,
      "tampered payload": `${header}.${
        b64({ ...JSON.parse(atob(payload!.replace(/-/g, "+").replace(/_/g, "/"))), sub: "ann" })
      }.${signature}`,
      "expired": await sign({}, (j) => j.setExpirationTime(now - 3600)),
      "not yet valid": await sign(
        {},
        (j) => j.setExpirationTime(now + 3600).setNotBefore(now + 600),
      ),
      "wrong issuer": await sign(
        {},
        (j) => j.setExpirationTime(now + 3600).setIssuer("someone-else"),
      ),
      "wrong audience": await sign(
        {},
        (j) => j.setExpirationTime(now + 3600).setAudience("other-api"),
      ),
      "unknown token id": await sign({}, (j) => j.setExpirationTime(now + 3600)),
    };
    for (const [what, token] of Object.entries(forged)) {
      const r = await call("GET", "/api/channels", { token });
      assert.equal(r.status, 401, what);
    }
    for (
      const header of [
        "Bearer",
        "Bearer  x.y.z",
        "Basic cm9vdDpwdw==",
        `bearer ${adminToken}`,
        `Bearer ${adminToken} extra`,
      ]
    ) {
      const r = await call("GET", "/api/channels", { headers: { Authorization: header } });
      assert.equal(r.status, 401, header);
    }

    const minted = await call("POST", "/api/tokens", { token: adminToken, body: { name: "ci" } });
    const ci = minted.json.token as string;
    assert.equal((await call("GET", "/api/channels", { token: ci })).status, 200);
    assert.equal(
      (await call("DELETE", `/api/tokens/${minted.json.id}`, { token: adminToken })).status,
      200,
    );
    assert.equal(
      (await call("GET", "/api/channels", { token: ci })).status,
      401,
      "revocation takes effect at once",
    );

    await auth.createUser("bob", "bob's passphrase", false);
    const { token: bob } = await auth.mintToken("bob", "cli");
    assert.equal((await call("GET", "/api/users", { token: bob })).status, 403, "not an admin");
    await call("DELETE", "/api/users/bob", { token: adminToken });
    assert.equal(
      (await call("GET", "/api/channels", { token: bob })).status,
      401,
      "a deleted user's token",
    );
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: an admin makes a user an admin and takes it back; not their own, never the last admin", async () => {
  await using dir = await tempDir();
  const { bus, auth, call, adminToken } = await setup(dir.path);
  try {
    await auth.createUser("ann", "ann's passphrase", false);
    const patch = (user: string, body: unknown, token = adminToken) =>
      call("PATCH", `/api/users/${user}`, { token, body });
    const made = await patch("ann", { admin: true });
    assert.equal(made.status, 200, JSON.stringify(made.json));
    assert.equal(made.json.admin, true);
    assert.equal(auth.getUser("ann").admin, true);
    assert.equal((await patch("root", { admin: false })).status, 403, "not their own");
    assert.equal(errorCode((await patch("ann", { admin: "yes" })).json), "ERR_BODY_INVALID");
    assert.equal((await patch("nobody", { admin: true })).status, 404);
    assert.equal((await patch("ann", { admin: false })).json.admin, false);
    // The store keeps one admin whoever asks.
    await assert.rejects(auth.setAdmin("root", false), /"root" is the last admin/);
    assert.equal(auth.getUser("root").admin, true);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API security: logins are rate-limited and an unknown user looks like a wrong passphrase", async () => {
  await using dir = await tempDir();
  const { call, bus } = await setup(dir.path);
  try {
    const unknown = await call("POST", "/api/login", {
      body: { username: "nobody", passphrase: "whatever123" },
    });
    const wrong = await call("POST", "/api/login", {
      body: { username: "root", passphrase: "wrong passphrase" },
    });
    assert.deepEqual(unknown.json, wrong.json);
    for (let i = 0; i < 4; i++) {
      await call("POST", "/api/login", {
        body: { username: "root", passphrase: "wrong passphrase" },
      });
    }
    const limited = await call("POST", "/api/login", {
      body: { username: "root", passphrase: "correct horse battery" },
    });
    assert.deepEqual([limited.status, errorCode(limited.json)], [429, "ERR_RATE_LIMITED"]);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API security: web sessions use fresh HttpOnly SameSite cookies and need the CSRF token to change anything", async () => {
  await using dir = await tempDir();
  const { bus, call } = await setup(dir.path);
  try {
    const auth = await AuthStore.open(join(dir.path, "state"));
    const app = createApp({ bus, auth, version: "0" });
    const names = cookieNames(auth.keyName);
    const planted = "planted.session.value";
    const login = await app.request("/session", {
      method: "POST",
      headers: { "content-type": "application/json", Cookie: `${names.session}=${planted}` },
      body: JSON.stringify({ username: "root", passphrase: "correct horse battery" }),
    });
    assert.equal(login.status, 201);
    const { csrf } = await login.json();
    const cookies = login.headers.getSetCookie();
    const session = cookies.find((c) => c.startsWith(`${names.session}=`))!;
    assert.match(session, /HttpOnly/);
    assert.match(session, /SameSite=Strict/);
    const value = session.slice(names.session.length + 1).split(";")[0]!;
    assert.notEqual(value, planted, "a new session, never the one the client brought");
    const cookie = `${names.session}=${value}; ${names.csrf}=${csrf}`;
    assert.equal(
      (await app.request("/api/channels", { headers: { Cookie: `${names.session}=${planted}` } }))
        .status,
      401,
    );

    const read = await app.request("/api/channels", { headers: { Cookie: cookie } });
    assert.equal(read.status, 200);
    await read.body?.cancel();
    const post = (headers: Record<string, string>) =>
      app.request("/api/channels", {
        method: "POST",
        headers: { "content-type": "application/json", Cookie: cookie, ...headers },
        body: JSON.stringify({ name: "from-the-web" }),
      });
    const forged = await post({});
    assert.equal(forged.status, 403, "a form post without its CSRF token");
    await forged.body?.cancel();
    const wrong = await post({ "X-CSRF-Token": "not-the-token" });
    assert.equal(wrong.status, 403);
    await wrong.body?.cancel();
    const right = await post({ "X-CSRF-Token": csrf });
    assert.equal(right.status, 201);
    await right.body?.cancel();

    const out = await app.request("/session/logout", {
      method: "POST",
      headers: { Cookie: cookie, "X-CSRF-Token": csrf },
    });
    assert.equal(out.status, 200);
    await out.body?.cancel();
    const after = await app.request("/api/channels", { headers: { Cookie: cookie } });
    assert.equal(after.status, 401, "the session is revoked at logout");
    await after.body?.cancel();
    assert.equal((await call("GET", "/healthz")).status, 200);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: two engines on one host keep separate web sessions in one browser (each engine's own cookie names)", async () => {
  await using dir = await tempDir();
  const one = await setup(join(dir.path, "one"));
  const two = await setup(join(dir.path, "two"));
  try {
    const engines = [one, two].map(({ bus, auth }) => ({
      app: createApp({ bus, auth, version: "0" }),
      names: cookieNames(auth.keyName),
    }));
    assert.notEqual(engines[0]!.names.session, engines[1]!.names.session);
    // A browser holds both engines' cookies for 127.0.0.1 and sends all of them to either port.
    const jar: string[] = [];
    for (const { app, names } of engines) {
      const login = await app.request("/session", {
        method: "POST",
        headers: { "content-type": "application/json", Cookie: jar.join("; ") },
        body: JSON.stringify({ username: "root", passphrase: "correct horse battery" }),
      });
      assert.equal(login.status, 201);
      await login.body?.cancel();
      const set = login.headers.getSetCookie().map((c) => c.split(";")[0]!);
      assert.ok(set.some((c) => c.startsWith(`${names.session}=`)), set.join(" "));
      jar.push(...set);
    }
    for (const { app } of engines) {
      const page = await app.request("/ui/");
      const meta = /name="crosstalk-csrf-cookie" content="([^"]+)"/.exec(await page.text());
      const csrfName = meta?.[1] ?? "";
      const csrf = jar.find((c) => c.startsWith(`${csrfName}=`))?.split("=")[1] ?? "";
      const made = await app.request("/api/channels", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          Cookie: jar.join("; "),
          "X-CSRF-Token": csrf,
        },
        body: JSON.stringify({ name: "both-signed-in" }),
      });
      assert.equal(made.status, 201, await made.text());
    }
  } finally {
    await one.bus[Symbol.asyncDispose]();
    await two.bus[Symbol.asyncDispose]();
  }
});

Deno.test("API security: only the page's own script signs in (JSON, not cross-site), so another site cannot post a login form", async () => {
  await using dir = await tempDir();
  const { bus } = await setup(dir.path);
  try {
    const app = createApp({
      bus,
      auth: await AuthStore.open(join(dir.path, "state")),
      version: "0",
    });
    const signIn = async (headers: Record<string, string>, body: string) => {
      const response = await app.request("/session", { method: "POST", headers, body });
      return [response.status, (await response.json()).error?.code];
    };
    const json = JSON.stringify({ username: "root", passphrase: "correct horse battery" });
    // What an HTML form on another site can send: text/plain, with the JSON in its field.
    assert.deepEqual(
      await signIn({ "content-type": "text/plain" }, json),
      [400, "ERR_BODY_INVALID"],
    );
    assert.deepEqual(
      await signIn({ "content-type": "application/json", "Sec-Fetch-Site": "cross-site" }, json),
      [403, "ERR_FORBIDDEN"],
    );
    assert.deepEqual(
      await signIn({ "content-type": "application/json", "Sec-Fetch-Site": "same-origin" }, json),
      [201, undefined],
    );
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API security: an event stream ends once its token is revoked", async () => {
  await using dir = await tempDir();
  const { bus } = await setup(dir.path);
  const events = new EventHub();
  try {
    const auth = await AuthStore.open(join(dir.path, "state"));
    const app = createApp({ bus, auth, events, version: "0", recheckMs: 50 });
    const login = await app.request("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "root", passphrase: "correct horse battery" }),
    });
    const { token, id } = await login.json() as { token: string; id: string };
    const response = await app.request("/api/events", {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await reader.read()).value ?? "", /event: hello/);
    await auth.revokeToken(id);
    // Read to the end: the stream closes by itself (or the test fails after 10 s).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"open">((resolve) =>
      timer = setTimeout(() => resolve("open"), 10_000)
    );
    const drained = (async () => {
      while (!(await reader.read()).done) { /* heartbeats, if any */ }
      return "closed" as const;
    })();
    const outcome = await Promise.race([drained, late]);
    clearTimeout(timer);
    if (outcome === "open") await reader.cancel();
    assert.equal(outcome, "closed", "the stream of a revoked token ends");
  } finally {
    events.close();
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: a page that holds a file that cannot be read still gives the cursor to the next page, and counts it as skipped", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken } = await setup(dir.path);
  try {
    const ids: string[] = [];
    for (const body of ["one", "two", "three", "four"]) {
      const sent = await call("POST", "/api/messages", {
        token: adminToken,
        body: { to: "someone", body },
      });
      ids.push(sent.json.id as string);
    }
    const channel = (await call("GET", "/api/channels/general", { token: adminToken })).json
      .id as string;
    // The second file is damaged (a crash of another tool, a bad merge).
    await Deno.writeTextFile(
      join(bus.transport.channelsDir, channel, ids[1]!),
      "not a message\n",
    );
    const first = await call("GET", "/api/messages?limit=2", { token: adminToken });
    assert.deepEqual(
      (first.json.messages as { body: string }[]).map((m) => m.body.trim()),
      ["one"],
    );
    assert.equal(first.json.skipped, 1);
    assert.equal(first.json.next, ids[1], "the last id listed, though it was skipped");
    const second = await call("GET", `/api/messages?limit=2&since=${first.json.next}`, {
      token: adminToken,
    });
    assert.deepEqual(
      (second.json.messages as { body: string }[]).map((m) => m.body.trim()),
      ["three", "four"],
    );
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: before pages a channel backwards, the last `limit` before an id, with the cursor to the page before", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken } = await setup(dir.path);
  try {
    const sent: { id: string; body: string }[] = [];
    for (const body of ["one", "two", "three", "four", "five"]) {
      const r = await call("POST", "/api/messages", {
        token: adminToken,
        body: { to: "someone", body },
      });
      sent.push({ id: r.json.id as string, body });
    }
    // A channel's order is its ids' (two sends in one millisecond order by their random part).
    sent.sort((a, b) => (a.id < b.id ? -1 : 1));
    const ids = sent.map((m) => m.id);
    const bodies = sent.map((m) => m.body);
    const page = async (before: string) => {
      const r = await call("GET", `/api/messages?limit=2&before=${before}`, { token: adminToken });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const bodies = (r.json.messages as { body: string }[]).map((m) => m.body.trim());
      return { bodies, previous: r.json.previous };
    };
    assert.deepEqual(await page(ids[4]!), { bodies: bodies.slice(2, 4), previous: ids[2] });
    assert.deepEqual(await page(ids[2]!), { bodies: bodies.slice(0, 2), previous: ids[0] });
    assert.deepEqual(await page(ids[0]!), { bodies: [], previous: null });
    const bad = await call("GET", "/api/messages?before=../../etc/passwd", { token: adminToken });
    assert.equal(bad.status, 400);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: workflow requests are sent with type, plans are checked without sending, and only workflows are shown", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken: token } = await setup(dir.path);
  try {
    assert.equal((await call("GET", "/api/workflows")).status, 401);
    const plan = "```yaml\nfanout:\n  - to: echo\n    count: 2\n    prompt: Say hi\n```\n";
    const checked = await call("POST", "/api/workflows/check", { token, body: { body: plan } });
    assert.equal(checked.status, 200, JSON.stringify(checked.json));
    assert.deepEqual(checked.json.plan, {
      fanout: [{ to: "echo", count: 2, prompt: "Say hi" }],
    });
    const wrong = await call("POST", "/api/workflows/check", {
      token,
      body: { body: "```yaml\nfanout:\n  - to: ghost/model\n    prompt: Hi\n```" },
    });
    assert.equal(wrong.status, 400);
    assert.equal(errorCode(wrong.json), "ERR_WORKFLOW_INVALID");
    assert.match(
      (wrong.json.error as { message: string }).message,
      /fanout\[0\]\.to: Unknown model "ghost\/model"/,
    );

    const banana = await call("POST", "/api/messages", {
      token,
      body: { to: "workflow", body: plan, type: "banana" },
    });
    assert.equal(banana.status, 400);
    assert.match((banana.json.error as { message: string }).message, /type must be "workflow"/);
    const toPerson = await call("POST", "/api/messages", {
      token,
      body: { to: ["echo", "steve"], body: plan, type: "workflow" },
    });
    assert.equal(toPerson.status, 400);
    assert.equal(errorCode(toPerson.json), "ERR_ADDRESS_INVALID");
    const sent = await call("POST", "/api/messages", {
      token,
      body: { to: "workflow", body: plan, type: "workflow" },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.json));
    assert.equal(sent.json.type, "workflow");
    assert.equal((await bus.listMessages(undefined, {})).messages.length, 1, "only the good one");

    assert.deepEqual((await call("GET", "/api/workflows", { token })).json, { workflows: [] });
    const general = (await bus.resolveChannel("general")).id;
    const notOne = await call("GET", `/api/workflows/${general}`, { token });
    assert.equal(notOne.status, 404);
    assert.match((notOne.json.error as { message: string }).message, /"general" is no workflow/);
    const traversal = await call("GET", "/api/workflows/..%2F..%2Fetc", { token });
    assert.equal(traversal.status, 404);
    assert.equal(errorCode(traversal.json), "ERR_ROUTE_NOT_FOUND");
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API: search needs words and a known channel; the task list needs an engine and a known state", async () => {
  await using dir = await tempDir();
  const { call, bus, adminToken: token } = await setup(dir.path);
  try {
    assert.equal((await call("GET", "/api/search?q=x")).status, 401);
    await bus.send({ to: ["steve"], body: "the quick brown fox" });
    const found = await call("GET", "/api/search?q=QUICK%20fox", { token });
    assert.equal(found.status, 200);
    assert.equal((found.json.messages as { body: string }[])[0]!.body, "the quick brown fox");
    assert.equal(found.json.complete, true);
    const empty = await call("GET", "/api/search", { token });
    assert.equal(empty.status, 400);
    assert.match((empty.json.error as { message: string }).message, /at least one word/);
    const channel = await call("GET", "/api/search?q=fox&channel=..%2F..", { token });
    assert.equal(channel.status, 404);
    const limit = await call("GET", "/api/search?q=fox&limit=-1", { token });
    assert.equal(limit.status, 400);
    const state = await call("GET", "/api/tasks?state=closed", { token });
    assert.equal(state.status, 400);
    assert.match(
      (state.json.error as { message: string }).message,
      /state must be "open" or "all"/,
    );
    const noEngine = await call("GET", "/api/tasks", { token });
    assert.equal(noEngine.status, 404);
    assert.match((noEngine.json.error as { message: string }).message, /need a running engine/);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("API security: only people decide approvals; an agent's token may ask but not allow", async () => {
  await using dir = await tempDir();
  const { call, bus, auth, adminToken: token } = await setup(dir.path);
  try {
    const agent = await auth.mintAgentToken("anthropic/sonnet", 600);
    const asked = await call("POST", "/api/approvals", {
      token: agent,
      body: { agent: "claude", tool: "Bash", input: { command: "make deploy" } },
    });
    assert.equal(asked.status, 201, JSON.stringify(asked.json));
    assert.equal(asked.json.by, "anthropic/sonnet");
    const id = asked.json.id as string;
    const self = await call("POST", `/api/approvals/${id}`, {
      token: agent,
      body: { decision: "allow" },
    });
    assert.equal(self.status, 403);
    assert.equal(errorCode(self.json), "ERR_FORBIDDEN");
    const odd = await call("POST", `/api/approvals/${id}`, { token, body: { decision: "maybe" } });
    assert.equal(odd.status, 400);
    const unknown = await call("POST", "/api/approvals", {
      token,
      body: { agent: "claude", tool: "Bash", input: 1, extra: true },
    });
    assert.equal(unknown.status, 400);
    const multiline = await call("POST", "/api/approvals", {
      token,
      body: { agent: "claude", tool: "Bash\nrm", input: 1 },
    });
    assert.equal(multiline.status, 400);
    const waiting = await call("GET", `/api/approvals/${id}?wait=0`, { token });
    assert.equal(waiting.json.state, "pending");
    const ok = await call("POST", `/api/approvals/${id}`, {
      token,
      body: { decision: "deny", reason: "not on Friday" },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.state, "denied");
    assert.equal(ok.json.decidedBy, "root");
    const list = (await call("GET", "/api/approvals", { token })).json.approvals as unknown[];
    assert.equal(list.length, 0);
    const bad = await call("GET", "/api/approvals/..%2F..%2Fetc", { token });
    assert.equal(bad.status, 404);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

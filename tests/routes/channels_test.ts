// The channels resource through app.request(): the tasks and badges of many messages at once.
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthStore } from "../../engine/auth.ts";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import { addBadge, claimTask, flagTask } from "../../engine/tasks.ts";
import { cookieNames, createApp } from "../../routes/mod.ts";
import { AnnotationStore, scaffoldTransport } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

/** An app on a new local transport with one user, and a caller with that user's token. */
async function setup(root: string) {
  await scaffoldTransport(join(root, "bus"), { kind: "local" });
  const location = locateTransport({ path: join(root, "bus"), state: join(root, "state") }, {
    HOME: root,
  });
  const bus = await Bus.open(location, { env: { USER: "boss" } });
  const auth = await AuthStore.open(location.stateDir);
  await auth.createUser("boss", "the boss's passphrase", true);
  const { token } = await auth.mintToken("boss", "test");
  const app = createApp({ bus, auth, version: "0" });
  const call = async (
    path: string,
    body: unknown,
    headers: Record<string, string> = { Authorization: `Bearer ${token}` },
  ) => {
    const response = await app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: response.status, json: await response.json() };
  };
  const store = new AnnotationStore(location.root);
  return { bus, auth, app, call, store, token };
}

Deno.test("POST /api/channels/{channel}/annotations answers each id with its task and badges, in the status route's shapes, and nothing of another channel's", async () => {
  await using dir = await tempDir();
  const { bus, app, call, store, token } = await setup(dir.path);
  await using _bus = bus;
  const claimed = await bus.send({ to: ["worker"], body: "a claimed task" });
  await flagTask(store, claimed, { by: "boss", role: "ops" });
  await claimTask(store, claimed, { name: "worker" });
  await addBadge(store, claimed, { type: "importance", value: "high", by: "boss" });
  const badged = await bus.send({ to: ["worker"], body: "only badges" });
  await addBadge(store, badged, { type: "question", by: "carol" });
  await addBadge(store, badged, { type: "commit", value: "abc123", by: "boss" });
  const plain = await bus.send({ to: ["worker"], body: "nothing on it" });
  await bus.createChannel("ops");
  const elsewhere = await bus.send({ channel: "ops", to: ["worker"], body: "another channel" });
  await flagTask(store, elsewhere, { by: "boss" });
  await addBadge(store, elsewhere, { type: "importance", value: "low", by: "boss" });
  const unknown = "2020/01/02/030405006Z-0badc0de.md";

  const ids = [claimed.id, badged.id, plain.id, elsewhere.id, unknown];
  for (const handle of [claimed.channel, "general"]) {
    const answer = await call(`/api/channels/${handle}/annotations`, { ids });
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    const annotations = answer.json.annotations;
    assert.deepEqual(Object.keys(annotations).sort(), [...ids].sort());
    // The same task and badges as the delivery status shows.
    for (const message of [claimed, badged]) {
      const status = await (await app.request(
        `/api/messages/${message.channel}/${message.id}/status`,
        { headers: { Authorization: `Bearer ${token}` } },
      )).json();
      assert.deepEqual(annotations[message.id], {
        task: status.task ?? null,
        badges: status.badges,
      });
    }
    assert.equal(annotations[claimed.id].task.state, "claimed");
    assert.equal(annotations[claimed.id].task.claimedBy, "worker");
    assert.equal(annotations[claimed.id].task.role, "ops");
    assert.deepEqual(
      annotations[badged.id].badges.map((b: { type: string }) => b.type).sort(),
      ["commit", "question"],
    );
    for (const id of [plain.id, elsewhere.id, unknown]) {
      assert.deepEqual(annotations[id], { task: null, badges: [] }, id);
    }
  }
  // Asked of its own channel, the other message's are there.
  const own = await call(`/api/channels/ops/annotations`, { ids: [elsewhere.id] });
  assert.equal(own.json.annotations[elsewhere.id].task.state, "open");
  assert.deepEqual(
    own.json.annotations[elsewhere.id].badges.map((b: { value: string }) => b.value),
    [
      "low",
    ],
  );
  // The reference engine's prefix too; no ids, no annotations.
  const bare = await call(`/channels/general/annotations`, { ids: [] });
  assert.deepEqual(bare, { status: 200, json: { annotations: {} } });
});

Deno.test("POST /api/channels/{channel}/annotations refuses bad ids (before it looks for the channel), too many ids, malformed bodies, and callers without a credential", async () => {
  await using dir = await tempDir();
  const { bus, app, call, auth } = await setup(dir.path);
  await using _bus = bus;
  const message = await bus.send({ to: ["worker"], body: "hello" });
  const path = `/api/channels/${message.channel}/annotations`;

  for (
    const bad of [
      "../x",
      "../../../../etc/passwd",
      "2026/02/31/000000000Z-00000000.md",
      `${message.channel}/${message.id}`,
      "",
    ]
  ) {
    // Refused as an id even of a channel that does not exist: nothing was looked up first.
    for (const at of [path, "/api/channels/no-such-channel/annotations"]) {
      const answer = await call(at, { ids: [message.id, bad] });
      assert.equal(answer.status, 400, `${at} ${bad}`);
      assert.equal(answer.json.error.code, "ERR_ID_INVALID");
      assert.ok(answer.json.error.message.includes(JSON.stringify(bad)), answer.json.error.message);
    }
  }
  const noChannel = await call("/api/channels/no-such-channel/annotations", { ids: [message.id] });
  assert.equal(noChannel.status, 404);
  assert.equal(noChannel.json.error.code, "ERR_CHANNEL_NOT_FOUND");

  const many = (n: number) =>
    Array.from(
      { length: n },
      (_, i) => `2026/01/01/000000${String(i).padStart(3, "0")}Z-00000000.md`,
    );
  assert.equal((await call(path, { ids: many(200) })).status, 200);
  const tooMany = await call(path, { ids: many(201) });
  assert.equal(tooMany.status, 400);
  assert.equal(tooMany.json.error.code, "ERR_BODY_INVALID");
  assert.match(tooMany.json.error.message, /at most 200 messages, not 201/);

  for (
    const [body, why] of [
      ["{not json", /must be a JSON object/],
      [[message.id], /must be a JSON object/],
      [{}, /needs "ids"/],
      [{ ids: message.id }, /"ids" must be string\[\]/],
      [{ ids: [1] }, /"ids" must be string\[\]/],
      [{ ids: [message.id], channel: "general" }, /Unknown field "channel"/],
    ] as const
  ) {
    const answer = await call(path, body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.equal(answer.json.error.code, "ERR_BODY_INVALID");
    assert.match(answer.json.error.message, why);
  }

  const anonymous = await call(path, { ids: [message.id] }, {});
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.json.error.code, "ERR_UNAUTHENTICATED");

  // A web session reads with its cookie and the CSRF header it must send with every POST.
  const signedIn = await app.request("/session", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "boss", passphrase: "the boss's passphrase" }),
  });
  assert.equal(signedIn.status, 201);
  const { csrf } = await signedIn.json();
  const names = cookieNames(auth.keyName);
  const session = signedIn.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  assert.ok(session.includes(`${names.session}=`));
  const withoutCsrf = await call(path, { ids: [message.id] }, { Cookie: session });
  assert.equal(withoutCsrf.status, 403);
  const withCsrf = await call(path, { ids: [message.id] }, {
    Cookie: session,
    "X-CSRF-Token": csrf,
  });
  assert.deepEqual(withCsrf, {
    status: 200,
    json: { annotations: { [message.id]: { task: null, badges: [] } } },
  });
});

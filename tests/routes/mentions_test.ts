// POST /api/messages without `to`: the body's @mentions address it (engine/mentions.ts), through
// app.request() on a real engine (which says which names nobody answers to).
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { engineWithApi } from "../engine/_in_process.ts";

// Models no engine runs (their CLI is not on PATH): addressees, never spawned.
const YAML = "providers:\n" +
  "  one:\n    models:\n      sonnet: no-such-agent-cli\n" +
  "  two:\n    models:\n      sonnet: no-such-agent-cli\n      solo: no-such-agent-cli\n";

type Api = Awaited<ReturnType<typeof engineWithApi>>;

async function messageCount(api: Api): Promise<number> {
  const list = await api.call(api.tokens.admin, "GET", "/api/messages?limit=500");
  assert.equal(list.status, 200, JSON.stringify(list.json));
  return list.json.messages.length;
}

Deno.test("POST /api/messages without to is addressed by the body's @mentions, the body written exactly as sent", async () => {
  await using dir = await tempDir();
  await using api = await engineWithApi(dir.path, { yaml: YAML });
  const body = "@guest, can you and (@mcp-one) look at `@boss`? Mail ann@example.com\n" +
    "```\n@solo\n```\n@two/solo: you too. Thanks @guest.";
  const sent = await api.call(api.tokens.admin, "POST", "/api/messages", { body });
  assert.equal(sent.status, 201, JSON.stringify(sent.json));
  assert.deepEqual(sent.json.to, ["guest", "mcp-one", "two/solo"], "the 201 says who");
  assert.equal(sent.json.warnings, undefined, "every one is known");
  const written = await api.engine.bus.transport.readMessage(sent.json.channel, sent.json.id);
  assert.deepEqual(written.to, ["guest", "mcp-one", "two/solo"]);
  assert.equal(written.body, body);

  // An empty `to` is one left out.
  for (const to of [[], "", " , "]) {
    const empty = await api.call(api.tokens.admin, "POST", "/api/messages", {
      to,
      body: "@here stand-up",
    });
    assert.equal(empty.status, 201, JSON.stringify(empty.json));
    assert.deepEqual(empty.json.to, ["here"]);
  }
  const all = await api.call(api.tokens.user, "POST", "/api/messages", { body: "@all hi" });
  assert.deepEqual([all.status, all.json.to, all.json.from], [201, ["all"], "guest"]);
});

Deno.test("POST /api/messages with neither to nor a mention is a 400 naming the fix, and writes nothing", async () => {
  await using dir = await tempDir();
  await using api = await engineWithApi(dir.path, { yaml: YAML });
  const before = await messageCount(api);
  const bodies = [
    "hello, anyone?",
    "mail ann@example.com",
    "only in code: `@guest`",
    "```\n@guest\n```",
    "@types/node is no model",
  ];
  for (const body of bodies) {
    for (const to of [undefined, []]) {
      const refused = await api.call(api.tokens.admin, "POST", "/api/messages", { to, body });
      assert.equal(refused.status, 400, body);
      assert.equal(refused.json.error.code, "ERR_USAGE");
      assert.match(
        refused.json.error.message,
        /^No addressee: name them with "to" \(--to\) or an @mention in the text, like "@bob" \(to reach every live agent: "@here"\)/,
      );
    }
  }
  const npm = await api.call(api.tokens.admin, "POST", "/api/messages", {
    body: "bump @types/node and @scope/pkg",
  });
  assert.match(
    npm.json.error.message,
    /; "@types\/node", "@scope\/pkg" are no models of this transport$/,
  );
  assert.equal(await messageCount(api), before, "nothing written");
  assert.equal((await api.engine.bus.listChannels()).length, 1, "no channel made");
  const create = await api.call(api.tokens.admin, "POST", "/api/messages", {
    body: "no one",
    channel: "new-topic",
    create_channel: true,
  });
  assert.equal(create.status, 400);
  assert.equal((await api.engine.bus.listChannels()).length, 1, "a refused send makes no channel");

  // A model's npm-like scope beside a mention is text; an ambiguous model name is refused.
  const scoped = await api.call(api.tokens.admin, "POST", "/api/messages", {
    body: "@guest please bump @types/node",
  });
  assert.deepEqual(scoped.json.to, ["guest"]);
  const ambiguous = await api.call(api.tokens.admin, "POST", "/api/messages", {
    body: "@sonnet plan this",
  });
  assert.equal(ambiguous.status, 400);
  assert.equal(ambiguous.json.error.code, "ERR_AMBIGUOUS_MODEL");
});

Deno.test("POST /api/messages with to ignores the body's mentions", async () => {
  await using dir = await tempDir();
  await using api = await engineWithApi(dir.path, { yaml: YAML });
  const sent = await api.call(api.tokens.admin, "POST", "/api/messages", {
    to: "guest",
    body: "@mcp-one @here fyi",
  });
  assert.equal(sent.status, 201, JSON.stringify(sent.json));
  assert.deepEqual(sent.json.to, ["guest"]);
});

Deno.test("POST /api/messages warns of a mentioned name nobody answers to, as of one in to", async () => {
  await using dir = await tempDir();
  await using api = await engineWithApi(dir.path, { yaml: YAML });
  const sent = await api.call(api.tokens.admin, "POST", "/api/messages", {
    body: "@revieewer and @guest, please look",
  });
  assert.equal(sent.status, 201, JSON.stringify(sent.json));
  assert.deepEqual(sent.json.to, ["revieewer", "guest"]);
  assert.deepEqual(sent.json.warnings, [
    'No user, live agent or model is called "revieewer": the message waits for one of that name',
  ]);
  // Through an Idempotency-Key too, the first answer of which is the one that warns.
  const keyed = await api.app.request("/api/messages", {
    method: "POST",
    headers: {
      Authorization: `Bearer ${api.tokens.admin}`,
      "content-type": "application/json",
      "Idempotency-Key": "mention-1",
    },
    body: JSON.stringify({ body: "@nobody-here hi" }),
  });
  assert.equal(keyed.status, 201);
  assert.deepEqual((await keyed.json()).warnings, [
    'No user, live agent or model is called "nobody-here": the message waits for one of that name',
  ]);
});

Deno.test("POST /api/messages: a workflow request needs its own to, and its mentions never address it", async () => {
  await using dir = await tempDir();
  await using api = await engineWithApi(dir.path, { yaml: YAML });
  const before = await messageCount(api);
  const refused = await api.call(api.tokens.admin, "POST", "/api/messages", {
    type: "workflow",
    body: "@solo and @two/solo: compare the two designs",
  });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error.code, "ERR_USAGE");
  assert.match(refused.json.error.message, /A workflow request needs "to": "workflow", or the one/);
  assert.equal(await messageCount(api), before, "nothing written");

  const refusedAgain = await api.call(api.tokens.admin, "POST", "/api/messages", {
    type: "workflow",
    to: "guest",
    body: "@solo plan this",
  });
  assert.equal(refusedAgain.status, 400, "to keeps the workflow's rule, mentions or not");
  assert.equal(refusedAgain.json.error.code, "ERR_ADDRESS_INVALID");
});

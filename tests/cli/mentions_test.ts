// Sends without `to`, addressed by their @mentions: `crosstalk message send` (through a real engine
// and straight to a folder) and a live agent's MCP `send` tool.
import assert from "node:assert/strict";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { pullSession, startTeam } from "./_live.ts";
import { initTransport } from "./_cli.ts";

// The built-in echo agent: the program itself, no agent CLI needed.
const ECHO = "providers:\n  builtin:\n    models:\n      echo: crosstalk agent echo\n";

const NO_ADDRESSEE =
  /^error: No addressee: name them with "to" \(--to\) or an @mention in the text, like "@bob" \(to reach every live agent: "@here"\)/;

Deno.test('message send "@echo hi" without --to goes to echo, and --wait prints its reply', async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using engine = await startTeam(home, { yaml: ECHO });
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });

  const sent = await cli("message", "send", "--wait", "--timeout", "60", "--json", "@echo hi");
  assert.equal(sent.code, 0, `${sent.stderr}\nengine log:\n${engine.stderrText.slice(-4000)}`);
  assert.equal(sent.stderr, "", "echo is a model: no warning");
  const { message, replies } = JSON.parse(sent.stdout);
  assert.deepEqual(message.to, ["echo"]);
  assert.equal(message.body, "@echo hi", "the body as typed");
  assert.equal(replies.length, 1);
  assert.equal(replies[0].from, "builtin/echo@a");
  assert.equal(replies[0].body, "echo: @echo hi");

  // A mention nobody answers to warns, as a --to of that name does.
  const typo = await cli("message", "send", "@ecco, are you there?");
  assert.equal(typo.code, 0, typo.stderr);
  assert.match(typo.stderr, /^warning: No user, live agent or model is called "ecco"/);
});

Deno.test("message send with neither --to nor a mention exits 64 naming the fix, and writes nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home, { yaml: ECHO });
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });
  const count = async () => {
    const list = await cli("message", "list", "--json");
    assert.equal(list.code, 0, list.stderr);
    return JSON.parse(list.stdout).length;
  };
  const before = await count();
  for (const args of [["hello, anyone?"], ["mail ann@example.com"], ["--to", ",", "`@echo`"]]) {
    const refused = await cli("message", "send", ...args);
    assert.equal(refused.code, 64, refused.stderr);
    assert.match(refused.stderr, NO_ADDRESSEE);
    assert.equal(refused.stdout, "");
  }
  assert.equal(await count(), before, "nothing written");

  // Given --to, the mentions change nothing.
  const explicit = await cli("message", "send", "--to", "boss", "--json", "@echo not you");
  assert.equal(explicit.code, 0, explicit.stderr);
  assert.deepEqual(JSON.parse(explicit.stdout).to, ["boss"]);
});

Deno.test("message send straight to a folder (no engine) follows the same rule", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const send = (...args: string[]) =>
    runCrosstalk(["message", "send", "--path", root, ...args], { home });
  const sent = await send("--json", "(@bob) and @carol: look");
  assert.equal(sent.code, 0, sent.stderr);
  assert.deepEqual(JSON.parse(sent.stdout).to, ["bob", "carol"]);
  const refused = await send("nobody");
  assert.equal(refused.code, 64);
  assert.match(refused.stderr, NO_ADDRESSEE);
  const list = await runCrosstalk(["message", "list", "--path", root, "--json"], { home });
  assert.deepEqual(JSON.parse(list.stdout).map((m: { body: string }) => m.body), [
    "(@bob) and @carol: look",
  ]);
});

Deno.test("the MCP send tool without to sends to the message's @mentions and says who", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  const session = (name: string) => pullSession(home, name);
  await using alice = await session("alice");
  await using bob = await session("bob");

  const tools = (await alice.client.listTools()).tools as {
    name: string;
    inputSchema: { required?: string[]; properties: Record<string, { description?: string }> };
  }[];
  const send = tools.find((t) => t.name === "send")!;
  assert.ok(!(send.inputSchema.required ?? []).includes("to"), "to is optional");
  assert.match(send.inputSchema.properties.to!.description!, /left out: the @names in the message/);

  const sent = await alice.call("send", { message: "@bob can you look at `@carol`'s branch?" });
  assert.match(sent, /^sent [0-9a-f-]{36}\/\S+\.md to bob$/);
  assert.match(
    await bob.call("wait", { seconds: 10 }),
    /\] from alice\n@bob can you look at `@carol`'s branch\?/,
  );

  const typo = await alice.call("send", { to: "", message: "@bobb hello" });
  assert.match(typo, /^sent \S+ to bobb\nwarning: No user, live agent or model is called "bobb"/);

  // With to, no " to …": the sender named them.
  assert.match(await alice.call("send", { to: "bob", message: "@here fyi" }), /^sent \S+\.md$/);

  const refused = await alice.call("send", { message: "hello, anyone?" }, true);
  assert.match(refused, /^error ERR_USAGE: No addressee: name them with "to"/);
  const workflow = await alice.call(
    "send",
    { message: "@bob plan this", workflow: true },
    true,
  );
  assert.match(workflow, /^error ERR_USAGE: A workflow request needs "to"/);
  // Nothing more reached bob than the two messages for him.
  assert.match(await bob.call("read"), /^\[[^\]]+\] from alice\n@here fyi$/);
  assert.equal(await bob.call("read"), "no new messages");
});

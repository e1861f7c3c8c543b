// The MCP history tool and `message list --last`: reading back a channel or a thread, without
// touching anyone's unread messages.
import assert from "node:assert/strict";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { pullSession, startTeam, teamCredential } from "./_live.ts";

const REF = /^sent (\S+)$/;

Deno.test("crosstalk mcp history: a channel's last messages or a thread, oldest first, and nothing marked read; send makes a topic channel when asked; join and inbox prompts, join naming the engine's web UI for the person", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  const session = (name: string) => pullSession(home, name);
  await using alice = await session("alice");
  await using bob = await session("bob");

  const refs: string[] = [];
  for (const text of ["first", "second", "third"]) {
    refs.push(REF.exec(await alice.call("send", { to: "bob", message: text }))![1]!);
  }
  const reply = REF.exec(await bob.call("send", { to: "alice", message: "answer", re: refs[0] }))!;

  const last = await alice.call("history", { last: 2 });
  const blocks = last.split("\n\n");
  assert.equal(blocks.length, 2, last);
  assert.match(blocks[0]!, /^\[\S+\] \S+ from alice \(you\) to bob\nthird$/);
  assert.match(
    blocks[1]!,
    new RegExp(`^\\[${reply[1]!.replaceAll(".", "\\.")}\\] .* from bob to alice re .*\\nanswer$`),
  );

  const thread = await bob.call("history", { thread: refs[0] });
  assert.deepEqual(thread.split("\n\n").map((b) => b.split("\n")[1]), ["first", "answer"]);

  // Browsing took nothing from bob's unread messages.
  const unread = await bob.call("wait", { seconds: 10 });
  assert.deepEqual([...unread.matchAll(/^\[\S+\] from alice\n(\w+)$/gm)].map((m) => m[1]), [
    "first",
    "second",
    "third",
  ]);
  assert.match(
    await alice.call("history", { channel: "nowhere" }, true),
    /ERR_CHANNEL_NOT_FOUND/,
  );

  // An agent starts a topic: a channel made on the way, only when asked.
  assert.match(
    await alice.call("send", { to: "bob", message: "new topic", channel: "topic-x" }, true),
    /ERR_CHANNEL_NOT_FOUND/,
  );
  await alice.call("send", {
    to: "bob",
    message: "new topic",
    channel: "topic-x",
    create_channel: true,
  });
  assert.match(await bob.call("history", { channel: "topic-x" }), /from alice to bob\nnew topic$/);

  // Prompts: the slash commands that start an agent's part on the bus.
  const prompts = (await alice.client.listPrompts()).prompts.map((p: { name: string }) => p.name);
  assert.deepEqual(prompts.sort(), ["inbox", "join"]);
  const join = await alice.client.getPrompt({ name: "join", arguments: { about: "the parser" } });
  const said = (join.messages[0]!.content as { text: string }).text;
  assert.match(said, /^You are "alice" on the crosstalk bus\./);
  assert.match(said, /send one short hello to "here" .*: the parser\./);
  // The engine's own address (its port is a free one, not the default), where the UI answers.
  const { server } = await teamCredential(home);
  const ui = `${server}/ui/`;
  assert.equal(/tell the person you work with .* web UI at (\S+) /.exec(said)?.[1], ui, said);
  const page = await fetch(ui);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);

  const listed = await runCrosstalk(
    ["message", "list", "--last", "2", "--containername", "team", "--json"],
    { home },
  );
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout).map((m: { body: string }) => m.body), [
    "third",
    "answer",
  ]);
  const both = await runCrosstalk(
    ["message", "list", "--last", "2", "--limit", "3", "--containername", "team"],
    { home },
  );
  assert.equal(both.code, 64);
  assert.match(both.stderr, /--last goes without --since and --limit/);
});

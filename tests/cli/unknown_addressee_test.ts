// A message to a name nobody on the transport answers to is written all the same, and its sender
// is told: on the command line, in the API's answer and in the MCP send tool.
import assert from "node:assert/strict";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { pullSession, startTeam } from "./_live.ts";

Deno.test("a send to a name no user, live agent or model has warns the sender and is still written; known names do not warn", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  await using alice = await McpSession.start(home, [
    ...["--containername", "team", "--name", "alice", "--wake", "pull"],
  ]);
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });

  const typo = await cli("message", "send", "--to", "revieewer,boss", "--json", "please look");
  assert.equal(typo.code, 0, typo.stderr);
  assert.match(
    typo.stderr,
    /^warning: No user, live agent or model is called "revieewer": the message waits for one of that name\n$/,
  );
  const written = JSON.parse(typo.stdout);
  assert.deepEqual(written.to, ["revieewer", "boss"], "written all the same");
  assert.equal(written.warnings.length, 1);

  for (const to of ["boss", "alice", "reply", "test/reply", "all"]) {
    const known = await cli("message", "send", "--to", to, "hello");
    assert.equal(known.code, 0, known.stderr);
    assert.equal(known.stderr, "", `no warning for ${to}`);
  }

  const fromAgent = await alice.call("send", { to: "bobb", message: "are you there?" });
  assert.match(fromAgent, /^sent \S+\nwarning: No user, live agent or model is called "bobb"/);
});

Deno.test("a message to here reaches every live agent but no model, and warns nobody", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using engine = await startTeam(home);
  const session = (name: string) => pullSession(home, name);
  await using alice = await session("alice");
  await using bob = await session("bob");
  const sent = await runCrosstalk(
    ["message", "send", "--to", "here", "--containername", "team", "--json", "stand-up in 5"],
    { home },
  );
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(sent.stderr, "", "here is no unknown name");
  const { channel, id } = JSON.parse(sent.stdout);
  for (const agent of [alice, bob]) {
    assert.match(await agent.call("wait", { seconds: 10 }), /from boss to here\nstand-up in 5/);
  }
  const trace = `${channel.slice(0, 8)}/${id}`;
  assert.equal(
    engine.records.filter((r) => r.trace === trace && r.event === "claim.won").length,
    0,
    "no model ran it",
  );

  // From an agent: the others, never itself.
  await alice.call("send", { to: "here", message: "who has the logs?" });
  assert.match(await bob.call("wait", { seconds: 10 }), /from alice to here\nwho has the logs\?/);
  assert.equal(await alice.call("read"), "no new messages");
});

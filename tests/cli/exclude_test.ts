// A message to all (or here) with some left out: `exclude` on the command line, in the API and in
// the MCP send tool. Nobody it names is woken or run; everybody else is, as for `all`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { AGENTS, type EngineProcess } from "../engine/_harness.ts";
import { pullSession, startTeam } from "./_live.ts";

/** The transport "team" with the models test/reply and test/other, both answering at once. */
function startTeamOfTwoModels(home: string): Promise<EngineProcess> {
  const reply = join(AGENTS, "reply.sh");
  return startTeam(home, {
    yaml: `providers:\n  test:\n    models:\n      reply: ${reply}\n      other: ${reply}\n`,
  });
}

Deno.test("a message to all with exclude runs and wakes everyone but those it names", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using engine = await startTeamOfTwoModels(home);
  const session = (name: string) => pullSession(home, name);
  await using alice = await session("alice");
  await using bob = await session("bob");
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });

  const sent = await cli(
    ...["message", "send", "--to", "all", "--exclude", "bob", "--exclude", "test/other"],
    ...["--json", "--wait", "--timeout", "20", "release at noon"],
  );
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(sent.stderr, "", "bob and test/other are known names: no warning");
  const { message, replies } = JSON.parse(sent.stdout);
  assert.deepEqual(message.exclude, ["bob", "test/other"]);
  assert.deepEqual(replies.map((r: { from: string }) => r.from), ["test/reply@a"]);
  assert.match(await alice.call("wait", { seconds: 10 }), /from boss to all\nrelease at noon/);

  // Barriers: what was sent after it reaches bob and test/other, so it would have come first.
  const after = await cli("message", "send", "--to", "here", "--wait", "--timeout", "1", "next");
  assert.equal(after.code, 75, "nothing answers here");
  const barrier = await cli("message", "send", "--to", "test/other", "--wait", "ping");
  assert.equal(barrier.code, 0, barrier.stderr);
  const bobs = await bob.call("read");
  assert.doesNotMatch(bobs, /release at noon/);
  assert.match(bobs, /from boss to here\nnext/);
  const trace = `${message.channel.slice(0, 8)}/${message.id}`;
  const ran = engine.records
    .filter((r) => r.trace === trace && r.event === "claim.won")
    .map((r) => r.model);
  assert.deepEqual(ran, ["test/reply"]);

  const shown = await cli("message", "show", message.id);
  assert.match(shown.stdout, /^to: {8}all\nexclude: {3}bob, test\/other\n/m);
  const listed = await cli("message", "list");
  assert.match(listed.stdout, /boss -> all \(not bob,test\/other\)/);

  // Named in to and left out: its status shows nothing on its way to it.
  const both = JSON.parse(
    (await cli(
      "message",
      "send",
      "--to",
      "test/other,alice",
      "--exclude",
      "test/other",
      "--json",
      "x",
    ))
      .stdout,
  );
  const status = JSON.parse((await cli("message", "status", both.id, "--json")).stdout);
  assert.deepEqual(status.deliveries.map((d: { to: string }) => d.to), ["alice"]);
  // Pinned to a machine on both sides, and pinned elsewhere (another machine may still run it).
  const cases: [string, string[]][] = [
    ["test/other@a", ["alice"]],
    ["test/other@b", ["test/other", "alice"]],
  ];
  for (const [exclude, rows] of cases) {
    const to = ["--to", "test/other@a,alice", "--exclude", exclude];
    const pinned = JSON.parse((await cli("message", "send", ...to, "--json", "x")).stdout);
    const shown = JSON.parse((await cli("message", "status", pinned.id, "--json")).stdout);
    assert.deepEqual(shown.deliveries.map((d: { to: string }) => d.to), rows, exclude);
  }
});

Deno.test("the MCP send tool leaves out the agents its exclude names, and warns of a name nobody has", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeamOfTwoModels(home);
  const session = (name: string) => pullSession(home, name);
  await using alice = await session("alice");
  await using bob = await session("bob");
  await using carol = await session("carol");

  const sent = await alice.call("send", {
    to: "here",
    exclude: "bob, bobby",
    message: "carol, the logs please",
  });
  assert.match(
    sent,
    /^sent \S+\nwarning: No user, live agent or model is called "bobby": exclude leaves nobody out by that name$/,
  );
  assert.match(await carol.call("wait", { seconds: 10 }), /from alice to here\ncarol, the logs/);
  await alice.call("send", { to: "here", message: "and now everyone" });
  const bobs = await bob.call("wait", { seconds: 10 });
  assert.doesNotMatch(bobs, /the logs please/);
  assert.match(bobs, /and now everyone/);
});

Deno.test("an exclude naming all, here, workflow or no address is refused and writes nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeamOfTwoModels(home);
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });
  for (
    const [exclude, error] of [
      ["all", /Cannot exclude "all": exclude names the agents, models and people to leave out/],
      ["here", /Cannot exclude "here"/],
      ["workflow", /Cannot exclude "workflow"/],
      ["bob@", /Invalid address "bob@"/],
    ] as const
  ) {
    const sent = await cli("message", "send", "--to", "all", "--exclude", exclude, "hi");
    assert.equal(sent.code, 65, `${exclude}: ${sent.stderr}`);
    assert.match(sent.stderr, error);
  }
  const listed = await cli("message", "list");
  assert.equal(listed.stdout, "", "nothing was written");
});

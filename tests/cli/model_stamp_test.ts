// A live agent's messages say which model wrote them, as the agent registered: in the message's
// frontmatter (`model:`, a key other readers keep and ignore), in `message show` and in the
// MCP tools' headers.
import assert from "node:assert/strict";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { startTeam } from "./_live.ts";

Deno.test("a live agent registered with --model stamps its messages with it; one without does not", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  const session = (...args: string[]) =>
    McpSession.start(home, ["--containername", "team", "--wake", "pull", ...args]);
  await using alice = await session("--name", "alice", "--agent", "claude", "--model", "opus");
  await using bob = await session("--name", "bob", "--agent", "codex");

  const ref = /^sent (\S+)/.exec(
    await alice.call("send", { to: "bob", message: "plan ready" }),
  )![1]!;
  assert.match(await bob.call("wait", { seconds: 10 }), /\] from alice \(opus\)\nplan ready/);
  const shown = await runCrosstalk(["message", "show", ref, "--containername", "team"], { home });
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^model: +opus$/m);
  const json = JSON.parse(
    (await runCrosstalk(["message", "show", ref, "--containername", "team", "--json"], { home }))
      .stdout,
  );
  assert.deepEqual(json.extra, { model: "opus" });

  await bob.call("send", { to: "alice", message: "thanks", re: ref });
  assert.match(await alice.call("wait", { seconds: 10 }), /\] from bob re \S+\nthanks/);
});

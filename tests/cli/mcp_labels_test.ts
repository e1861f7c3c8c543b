// The MCP read and history tools show each message's task and badges in its header, so an agent
// sees at a glance what is claimed, resolved or labelled; a message with neither shows nothing.
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { startTeam } from "./_live.ts";

const SENT = /^sent (\S+)$/;

/** Each shown message's header line, by its body's first line. */
function headers(text: string): Map<string, string> {
  return new Map(
    text.split("\n\n").map((block) => {
      const [head, body] = block.split("\n");
      return [body!, head!];
    }),
  );
}

Deno.test("crosstalk mcp read and history: a message's task state and badges in its header, nothing for a message with neither", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  const session = (name: string, ...more: string[]) =>
    McpSession.start(home, ["--containername", "team", "--name", name, "--wake", "pull", ...more]);
  await using alice = await session("alice");
  await using bob = await session("bob", "--role", "reviewer");

  const send = async (message: string, more: Record<string, unknown> = {}) =>
    SENT.exec(await alice.call("send", { to: "bob", message, ...more }))![1]!;
  const review = await send("review the parser");
  const plain = await send("just saying hello");
  const doomed = await send("port it to COBOL");
  const elsewhere = await send("in another channel", {
    channel: "side",
    create_channel: true,
  });

  await alice.call("task", { action: "flag", message: review, role: "reviewer" });
  await alice.call("badge", { message: review, type: "importance", value: "high" });
  await alice.call("badge", { message: review, type: "seen" });
  // The same badge by another sender shows once.
  await bob.call("badge", { message: review, type: "importance", value: "high" });
  await alice.call("task", { action: "flag", message: doomed });
  await bob.call("task", { action: "claim", message: doomed });
  await alice.call("badge", { message: elsewhere, type: "question" });

  // bob's read: the state each message has now, across both channels of the page.
  const read: string[] = [];
  while (read.length < 4) {
    const got = await bob.call("wait", { seconds: 10 });
    assert.notEqual(got, "no new messages");
    read.push(...got.split("\n\n"));
  }
  const inbox = headers(read.join("\n\n"));
  assert.equal(
    inbox.get("review the parser"),
    `[${review}] from alice [task: open for role reviewer] [badges: importance=high, seen]`,
  );
  assert.equal(inbox.get("just saying hello"), `[${plain}] from alice`);
  assert.equal(
    inbox.get("port it to COBOL"),
    `[${doomed}] from alice [task: claimed by bob (you)]`,
  );
  assert.equal(inbox.get("in another channel"), `[${elsewhere}] from alice [badges: question]`);

  // Resolved: history shows who resolved it and how, to anyone browsing.
  await bob.call("task", { action: "claim", message: review });
  await bob.call("task", { action: "resolve", message: review, result: "looks good" });
  await bob.call("task", { action: "resolve", message: doomed, result: "no", failed: true });
  const history = headers(await alice.call("history", { last: 10 }));
  const time = "\\S+";
  assert.match(
    history.get("review the parser")!,
    new RegExp(
      `^\\[${review}\\] ${time} from alice \\(you\\) to bob ` +
        `\\[task: completed by bob\\] \\[badges: importance=high, seen\\]$`,
    ),
  );
  assert.match(
    history.get("port it to COBOL")!,
    new RegExp(`^\\[${doomed}\\] ${time} from alice \\(you\\) to bob \\[task: failed by bob\\]$`),
  );
  assert.match(
    history.get("just saying hello")!,
    new RegExp(`^\\[${plain}\\] ${time} from alice \\(you\\) to bob$`),
  );
  // The result replies are plain messages: no bracket after the header's fields.
  assert.match(history.get("Task completed: looks good")!, / from bob to alice re \S+$/);
  assert.match(history.get("Task failed: no")!, / from bob to alice re \S+$/);

  // A thread carries its root's labels too, as the claimant sees them.
  const thread = headers(await bob.call("history", { thread: review }));
  assert.match(
    thread.get("review the parser")!,
    / \[task: completed by bob \(you\)\] \[badges: importance=high, seen\]$/,
  );
  assert.match(
    (await bob.call("history", { channel: "side" })).split("\n")[0]!,
    / from alice to bob \[badges: question\]$/,
  );
});

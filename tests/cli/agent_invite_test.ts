// `crosstalk agent invite NAME`: the text pasted into an agent that has a shell but no MCP server.
// Its commands are run here as printed, so that the text never tells an agent something that
// does not work.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { makeTransport } from "../engine/_harness.ts";

/** The command of the invite's line that starts with `label`, as arguments for runCrosstalk. */
function commandOf(text: string, label: string, fill: Record<string, string>): string[] {
  const line = text.split("\n").find((l) => l.startsWith(`- ${label}: `));
  assert.ok(line, `a "${label}" line in:\n${text}`);
  const words = line.slice(line.indexOf("crosstalk ") + "crosstalk ".length)
    .match(/"[^"]*"|\S+/g)!
    .map((w) => w.replace(/^"(.*)"$/, "$1"));
  return words.map((w) => fill[w] ?? w);
}

Deno.test("agent invite prints the read, send and show commands for the name and the transport, and each works as printed", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "bus");
  await makeTransport(root, "");
  assert.equal(
    (await runCrosstalk(["channel", "create", "design", "--path", root], { home })).code,
    0,
  );

  const invite = await runCrosstalk(
    ["agent", "invite", "aider", "--path", root, "--channel", "design"],
    { home },
  );
  assert.equal(invite.code, 0, invite.stderr);
  assert.match(invite.stdout, /^You are "aider" on crosstalk/);

  const sent = await runCrosstalk(
    commandOf(invite.stdout, "send", { NAME: "boss", text: "hello from the pane" }),
    { home },
  );
  assert.equal(sent.code, 0, sent.stderr);
  const read = await runCrosstalk(commandOf(invite.stdout, "read the latest messages", {}), {
    home,
  });
  assert.equal(read.code, 0, read.stderr);
  // Each message whole, with the id the send line tells the agent to answer with.
  const [, id] =
    /^id: +(\S+)\n(?:.+\n)*?from: +aider\nto: +boss\n(?:.+\n)*\nhello from the pane\n\n$/m
      .exec(read.stdout) ?? [];
  assert.ok(id, read.stdout);
  const shown = await runCrosstalk(
    commandOf(invite.stdout, "see one message whole", { ID: id }),
    { home },
  );
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /hello from the pane/);

  const bad = await runCrosstalk(["agent", "invite", "../x"], { home });
  assert.equal(bad.code, 65);
  assert.match(bad.stderr, /Invalid name "..\/x"/);
});

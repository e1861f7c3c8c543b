// engine.loop_warning: how many messages between two parties within how long make the wake of
// a live agent carry a loop warning.
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";

const REF = /^sent (\S+)/;

Deno.test("with engine.loop_warning at 2 messages, the second message between two agents already carries the warning", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  await makeTransport(root, "engine:\n  loop_warning:\n    messages: 2\n    window_seconds: 600\n");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  const session = (name: string) =>
    McpSession.start(home, ["--containername", "team", "--name", name, "--agent", "claude"]);
  await using alice = await session("alice");
  await using bob = await session("bob");
  const meta = (n: { params: Record<string, unknown> }) => n.params.meta as Record<string, string>;

  const first = REF.exec(await alice.call("send", { to: "bob", message: "first" }))![1]!;
  const woken = await bob.notification((n) => meta(n).message_id === first);
  assert.equal(meta(woken).loop_warning, undefined, "one message is no loop");
  const second = REF.exec(
    await bob.call("send", { to: "alice", message: "second", re: first }),
  )![1]!;
  const warned = await alice.notification((n) => meta(n).message_id === second);
  assert.equal(meta(warned).loop_warning, "true");
  assert.match(String(warned.params.content), /2 messages between you and bob in the last 600 s/);
});

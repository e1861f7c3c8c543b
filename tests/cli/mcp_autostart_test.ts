// `crosstalk mcp` with no engine running starts the transport's engine in the background, as
// `crosstalk server start` does, so that an agent session just works.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { makeTransport, namedTransport } from "../engine/_harness.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";

const USER_MODE = { CROSSTALK_USER_MODE: "1" };
const ADMIN = { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" };

Deno.test("crosstalk mcp with no engine running starts one in the background; two sessions starting at once share it", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  await makeTransport(root, "");
  const session = (name: string) =>
    McpSession.start(home, ["--containername", "team", "--name", name, "--agent", "claude"], {
      env: { ...USER_MODE, ...ADMIN },
    });
  const started = await Promise.allSettled([session("one"), session("two")]);
  try {
    const [one, two] = started.map((s) => {
      if (s.status === "rejected") throw s.reason;
      return s.value;
    });
    const peers = await one!.call("peers");
    assert.match(peers, /\btwo\b/, "both sessions are on the one engine");
    await one!.call("send", { to: "two", message: "hello over the engine mcp started" });
    assert.match(await two!.call("wait", { seconds: 30 }), /hello over the engine mcp started/);
    const pid = Number((await Deno.readTextFile(join(state, "engine.pid"))).trim());
    assert.ok(pid > 0, "a background engine holds the state dir");
  } finally {
    for (const s of started) if (s.status === "fulfilled") await s.value[Symbol.asyncDispose]();
    const stopped = await runCrosstalk(["server", "stop", "--containername", "team"], {
      home,
      env: USER_MODE,
    });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /Stopped the engine/);
  }
});

Deno.test("crosstalk chat --no-start with no engine running says to start one, and starts none", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  await makeTransport(root, "");
  const chat = await runCrosstalk(["chat", "claude", "--containername", "team", "--no-start"], {
    home,
    env: USER_MODE,
  });
  assert.equal(chat.code, 77);
  assert.match(chat.stderr, /No engine to talk to: start one with "crosstalk serve"/);
  await assert.rejects(Deno.stat(join(state, "engine.pid")), Deno.errors.NotFound);
});

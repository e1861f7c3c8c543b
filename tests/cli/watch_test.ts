// `crosstalk watch` against a real engine: messages with who, to whom and a preview, what became
// of them, and live agents coming and going, as they happen.
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN, runCrosstalk, tempDir } from "../_helpers.ts";
import { AGENTS, EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { cliEnv } from "./_cli.ts";

/** Reads a process's stdout line by line; `until` resolves once a line matches. */
class Lines {
  readonly lines: string[] = [];
  #waiters: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      let buffer = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        const parts = buffer.split("\n");
        buffer = parts.pop()!;
        this.lines.push(...parts);
        for (const wake of this.#waiters.splice(0)) wake();
      }
    })();
  }

  async until(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.find((l) => pattern.test(l));
      if (line) return line;
      if (Date.now() > deadline) {
        throw new Error(`no line matches ${pattern}:\n${this.lines.join("\n")}`);
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.push(resolve);
      const timer = setTimeout(resolve, deadline - Date.now());
      await promise;
      clearTimeout(timer);
    }
  }
}

Deno.test("crosstalk watch shows messages, their replies and live agents as they happen", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root } = namedTransport(home);
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: namedTransport(home).state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  const watcher = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "watch", "--containername", "team"],
    env: cliEnv(home),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const out = new Lines(watcher.stdout);
  try {
    await out.until(/no live agents yet/);
    const sent = await runCrosstalk(
      ["message", "send", "--containername", "team", "--to", "reply", "hello watchers"],
      { home },
    );
    assert.equal(sent.code, 0, sent.stderr);
    await out.until(/boss -> reply {2}\[[0-9a-f]{8}\/\d{9}Z-[0-9a-f]{8}\] {2}"hello watchers"/);
    await out.until(/test\/reply claimed \[/);
    await out.until(/test\/reply@a -> boss \(reply\) {2}\[.*"reply from test\/reply/);
    await out.until(/test\/reply replied \[/);

    await using _agent = await McpSession.start(home, [
      "--containername",
      "team",
      "--name",
      "scout",
      "--agent",
      "codex",
      "--wake",
      "pull",
    ]);
    await out.until(/● scout online \(codex on a, available\)/);
  } finally {
    watcher.kill("SIGINT");
    assert.equal((await watcher.status).code, 0, "Ctrl-C stops it cleanly");
    await out.done;
  }
});

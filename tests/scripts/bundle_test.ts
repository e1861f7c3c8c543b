// The bundle is a closed artifact: one JS file, alone in an empty folder, runs a whole scenario.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "../_helpers.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

Deno.test("deno bundle makes one file that alone inits, serves, answers a message, serves a live agent session and stops", async () => {
  await using dir = await tempDir();
  const bundle = join(dir.path, "crosstalk.js");
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "deno", "-o", bundle, MAIN],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));
  const env = {
    HOME: dir.path,
    XDG_DATA_HOME: join(dir.path, "data"),
    XDG_STATE_HOME: join(dir.path, "state"),
    XDG_CONFIG_HOME: join(dir.path, "config"),
    CROSSTALK_LOG_JSON: "1",
    // A first user, so that the engine leaves the local credential a live session needs.
    CROSSTALK_INIT_USERNAME: "tester",
    CROSSTALK_INIT_PASSPHRASE: "a long enough passphrase",
  };
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", bundle, ...args],
      cwd: dir.path,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  };
  const bus = join(dir.path, "bus");
  assert.equal((await run(["transport", "init", "--transport", "local", "--path", bus])).code, 0);
  const serve = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", bundle, "serve", "--path", bus],
    cwd: dir.path,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = serve.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  while (!log.includes('"api.listening"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited before listening:\n${log}`);
    log += value;
  }
  const sent = await run([
    "message",
    "send",
    "--path",
    bus,
    "--to",
    "echo",
    "--wait",
    "--timeout",
    "20",
    "from the bundle",
  ]);
  // A live agent session: the relay, and the engine's MCP server, which it loads only now.
  const session = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", bundle, "mcp", "--path", bus, "--name", "zed", "--wake", "pull"],
    cwd: dir.path,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const input = session.stdin.getWriter();
  const output = session.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const call = async (message: Record<string, unknown>) => {
    await input.write(
      new TextEncoder().encode(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`),
    );
    if (message.id === undefined) return undefined;
    while (!pending.includes("\n")) {
      const { value, done } = await output.read();
      if (done) throw new Error("the session ended before it answered");
      pending += value;
    }
    const line = pending.slice(0, pending.indexOf("\n"));
    pending = pending.slice(line.length + 1);
    return JSON.parse(line);
  };
  const initialized = await call({
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "test", version: "1" },
    },
  });
  assert.ok(
    initialized.result?.capabilities.experimental["claude/channel"],
    JSON.stringify(initialized),
  );
  await call({ method: "notifications/initialized" });
  const peers = await call({
    id: 2,
    method: "tools/call",
    params: { name: "peers", arguments: {} },
  });
  assert.match(peers.result.content[0].text, /zed \(you\)/);
  await input.close();
  while (!(await output.read()).done) { /* until the session exits */ }
  assert.equal((await session.status).code, 0);

  serve.kill("SIGTERM");
  while (!(await reader.read()).done) { /* drain until the engine exits */ }
  const status = await serve.status;
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /echo: from the bundle/);
  assert.equal(status.code, 0);
});

// The pumps of a live agent session on its engine's machine (cli/_mcp_pump.ts, routes/mcp_pump.ts):
// `tee` and `cat` carry the session's stdio over loopback TCP, this process takes over when the
// engine goes away (tests/cli/mcp_test.ts kills one with -9 under calls in flight), and the
// engine's port takes only the tickets it gave.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir, waitUntil } from "../_helpers.ts";
import { namedTransport } from "../engine/_harness.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { seedFrom, withoutAnswered } from "../../cli/_mcp_pump.ts";
import { registerCarol, startTeam } from "./_live.ts";

/** The ids of a process's children (Linux). */
function childPids(pid: number): string[] {
  const children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
  return children === "" ? [] : children.split(" ");
}

/** The commands of a process's children (Linux), sorted. */
function childCommands(pid: number): string[] {
  return childPids(pid).map((child) => Deno.readTextFileSync(`/proc/${child}/comm`).trim()).sort();
}

const session = (home: string, name: string, env: Record<string, string> = {}) =>
  McpSession.start(home, ["--containername", "team", "--name", name, "--agent", "claude"], {
    env,
  });

Deno.test("crosstalk mcp with its machine's engine hands its stdio to tee and cat, and leaves nothing behind when stdin closes", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { state } = namedTransport(home);
  await using engine = await startTeam(home);
  const alice = await session(home, "alice");
  await using bob = await session(home, "bob");
  await using carol = await session(home, "carol", { CROSSTALK_MCP_RELAY: "process" });

  assert.deepEqual(childCommands(alice.transport.pid), ["cat", "tee"]);
  // The ticket reaches the pumps in their environment, never in the arguments others may read.
  for (const pid of childPids(alice.transport.pid)) {
    const environ = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0");
    const ticket = environ.find((v) => v.startsWith("CROSSTALK_PUMP_TICKET="))!.split("=")[1]!;
    assert.match(ticket, /^[0-9a-f]{32}$/);
    assert.ok(!Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(ticket));
  }
  assert.deepEqual(
    childCommands(carol.transport.pid),
    [],
    "told to relay itself, it starts no pumps",
  );
  const pumps = join(state, "mcp-pumps");
  const files = () => [...Deno.readDirSync(pumps)].map((e) => e.name).sort();
  assert.equal(files().length, 4, `a journal and an answered file for alice and bob: ${files()}`);

  // Through the pumps both ways: a call and its answer, a channel push, and one to carol.
  const sent = await alice.call("send", { to: "bob", message: "through the pumps" });
  const id = /^sent \S+\/(\d{4}\/\S+\.md)$/.exec(sent)![1]!;
  const woken = await bob.notification((n) =>
    String((n.params.meta as Record<string, string>).message_id).endsWith(id)
  );
  assert.match(String(woken.params.content), /through the pumps/);
  assert.match(await bob.call("read", {}), /through the pumps/);
  await bob.call("send", { to: "carol", message: "to the relay" });
  assert.match(await carol.call("wait", { seconds: 10 }), /to the relay/);

  // Alice's stdin closes: her session leaves, and her pumps' files go.
  await alice[Symbol.asyncDispose]();
  await engine.waitFor((r) => r.event === "live.offline" && r.name === "alice" && r.left === true);
  await waitUntil(() => files().length === 2);
  assert.match(await bob.call("peers", {}), /alice: claude on a, offline/);
});

Deno.test("when its cat dies under a running engine, crosstalk mcp relays from then on, and sends again nothing the engine answered", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  await using alice = await session(home, "alice");
  await using bob = await session(home, "bob");
  assert.match(await alice.call("send", { to: "bob", message: "before" }), /^sent /);

  const cat = childPids(alice.transport.pid).find((pid) =>
    Deno.readTextFileSync(`/proc/${pid}/comm`).trim() === "cat"
  );
  Deno.kill(Number(cat), "SIGKILL");
  await waitUntil(() => childCommands(alice.transport.pid).join() === "tee");

  // Its answer can come only through the relay now: no cat carries it.
  assert.match(await alice.call("send", { to: "bob", message: "after" }), /^sent /);
  const read = await bob.call("read", {});
  assert.equal(read.match(/\bbefore\b/g)?.length, 1, read);
  assert.equal(read.match(/\bafter\b/g)?.length, 1, read);
});

/** Opens a connection to the pump port and says `hello`; resolves with the connection. */
async function pumpConnection(port: number, hello: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(hello));
  return conn;
}

/** Everything the engine writes to `conn` until it closes it. */
async function untilClosed(conn: Deno.TcpConn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  conn.close();
  return text;
}

/** Reads from `conn` until `text` has come; resolves with all that came. */
async function readUntil(conn: Deno.TcpConn, text: string): Promise<string> {
  let got = "";
  const buffer = new Uint8Array(4096);
  while (!got.includes(text)) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`closed before "${text}" came: ${got}`);
    got += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return got;
}

Deno.test("the engine's pump port takes only a ticket it gave, each side once, and its route only a live agent's token", async () => {
  await using dir = await tempDir();
  await using engine = await startTeam(dir.path);
  const { url, user, live } = await registerCarol(engine);
  const ticketFor = (token: string) =>
    fetch(`${url}/api/live/me/mcp/pump`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });

  const refused = await ticketFor(user);
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, "ERR_FORBIDDEN");
  // Sessions starting at once share one port.
  const [response, other] = await Promise.all([ticketFor(live), ticketFor(live)]);
  assert.equal(response.status, 200);
  const { port, ticket, answered } = await response.json();
  assert.equal((await other.json()).port, port);
  assert.match(ticket, /^[0-9a-f]{32}$/);
  assert.equal((await Deno.stat(answered)).mode! & 0o777, 0o600);

  // Strangers are shown the door, and say nothing to the session.
  assert.equal(await untilClosed(await pumpConnection(port, `in ${"0".repeat(32)}\n`)), "");
  assert.equal(await untilClosed(await pumpConnection(port, `in ${ticket} more\n`)), "");
  assert.equal(await untilClosed(await pumpConnection(port, `up ${ticket}\n`)), "");
  assert.equal(await untilClosed(await pumpConnection(port, "x".repeat(300))), "");

  // `in` hears ok only once `out` is there; a second `out` is refused.
  const into = await pumpConnection(port, `in ${ticket}\n`);
  const out = await pumpConnection(port, `out ${ticket}\n`);
  assert.equal(await readUntil(into, "\n"), "ok\n");
  assert.equal(await untilClosed(await pumpConnection(port, `out ${ticket}\n`)), "");
  const initialize = {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "t", version: "1" },
    },
  };
  await into.write(new TextEncoder().encode(`${JSON.stringify(initialize)}\n`));
  const answer = JSON.parse((await readUntil(out, "\n")).trim());
  assert.equal(answer.id, 1);
  assert.ok(answer.result.capabilities.experimental["claude/channel"]);
  await waitUntil(async () => (await Deno.readTextFile(answered)) === "1\n");

  // The session's stdin closes: the engine ends `out`, and the answered file goes.
  into.close();
  await untilClosed(out);
  await waitUntil(async () => !(await Deno.stat(answered).then(() => true, () => false)));
});

Deno.test("taking over from the pumps, the relay sends again what the engine had not answered: no more, no less", async () => {
  await using dir = await tempDir();
  const journal = join(dir.path, "t.in");
  const answered = join(dir.path, "t.answered");
  const line = (message: Record<string, unknown>) => JSON.stringify({ jsonrpc: "2.0", ...message });
  const initialize = line({ id: 0, method: "initialize", params: {} });
  const initialized = line({ method: "notifications/initialized" });
  const read = line({ id: 1, method: "tools/call", params: { name: "read" } });
  const wait = line({ id: 2, method: "tools/call", params: { name: "wait" } });
  const stringId = line({ id: "2", method: "tools/call", params: { name: "send" } });
  const cancelled = line({ id: 3, method: "tools/call", params: { name: "wait" } });
  const cancel = line({ method: "notifications/cancelled", params: { requestId: 3 } });
  const half = line({ id: 4, method: "tools/call" }).slice(0, 20);
  await Deno.writeTextFile(
    journal,
    ["", initialize, initialized, read, "not json", wait, stringId, cancelled, cancel].join("\n") +
      `\n${half}`,
  );
  await Deno.writeTextFile(answered, "0\n1\n");

  using journalFile = await Deno.open(journal, { read: true });
  using answeredFile = await Deno.open(answered, { read: true });
  // Read through the handles: a file removed meanwhile is still read to its end.
  await Deno.remove(journal);
  const { seed, offset } = await seedFrom(journalFile, answeredFile);
  assert.deepEqual(seed.initialize, { id: 0, line: initialize });
  assert.equal(seed.initialized, initialized);
  assert.deepEqual(seed.pending, [{ id: 2, line: wait }, { id: "2", line: stringId }]);
  assert.equal(offset, (await journalFile.stat()).size - half.length, "a half-written line waits");
});

Deno.test("the takeover reads a journal of lines longer than its reads whole, and an answered id cut short counts for no request", async () => {
  await using dir = await tempDir();
  const journal = join(dir.path, "t.in");
  const answered = join(dir.path, "t.answered");
  const line = (message: Record<string, unknown>) => JSON.stringify({ jsonrpc: "2.0", ...message });
  // 200 KB of text with characters of several bytes, across the 64 KiB reads.
  const long = line({
    id: 12,
    method: "tools/call",
    params: { name: "send", arguments: { message: "é✓".repeat(40_000) } },
  });
  const other = line({ id: 123, method: "tools/call", params: { name: "read" } });
  await Deno.writeTextFile(journal, `${long}\n${other}\n`);
  // The engine was killed while it appended 123: only "12" of it is in the file.
  await Deno.writeTextFile(answered, "7\n12");
  using journalFile = await Deno.open(journal, { read: true });
  using answeredFile = await Deno.open(answered, { read: true });
  const { seed, offset } = await seedFrom(journalFile, answeredFile);
  assert.deepEqual(seed.pending, [{ id: 12, line: long }, { id: 123, line: other }]);
  assert.equal(offset, (await journalFile.stat()).size);
});

Deno.test("after the takeover, a request the lost engine had answered that reaches the journal late is not sent again", async () => {
  const line = (message: Record<string, unknown>) => JSON.stringify({ jsonrpc: "2.0", ...message });
  const answeredRead = line({ id: 7, method: "tools/call", params: { name: "read" } });
  const sameIdAsString = line({ id: "7", method: "tools/call", params: { name: "read" } });
  const response = line({ id: 7, result: {} });
  const next = line({ id: 8, method: "tools/call", params: { name: "send" } });
  const note = line({ method: "notifications/cancelled", params: { requestId: 8 } });
  const text = [answeredRead, sameIdAsString, response, next, note, "not json", ""].join("\n");
  // In chunks that cut lines (and a character) anywhere, as reads of a growing file do.
  const bytes = new TextEncoder().encode(`${text}{"id":9,"met`);
  const chunks = [5, 40, 1, 90, 3, 1000].reduce<{ at: number; parts: Uint8Array[] }>(
    ({ at, parts }, size) => ({ at: at + size, parts: [...parts, bytes.subarray(at, at + size)] }),
    { at: 0, parts: [] },
  ).parts.filter((part) => part.length > 0);
  const input = (buffer: Uint8Array) => {
    const chunk = chunks.shift();
    if (!chunk) return Promise.resolve(null);
    const n = Math.min(buffer.length, chunk.length);
    buffer.set(chunk.subarray(0, n));
    if (n < chunk.length) chunks.unshift(chunk.subarray(n));
    return Promise.resolve(n);
  };
  const read = withoutAnswered(input, new Set(["7", "3"]));
  const out: Uint8Array[] = [];
  const buffer = new Uint8Array(16);
  for (let n = await read(buffer); n !== null; n = await read(buffer)) {
    out.push(buffer.slice(0, n));
  }
  const relayed = new TextDecoder().decode(new Uint8Array(out.flatMap((part) => [...part])));
  assert.equal(
    relayed,
    [sameIdAsString, response, next, note, "not json", ""].join("\n") + '{"id":9,"met',
  );
});

// The pumps of a live agent session on its engine's machine (cli/_mcp_pump.ts, routes/mcp_pump.ts):
// `tee` and `cat` carry the session's stdio over loopback TCP, this process takes over when the
// engine goes away (tests/cli/mcp_test.ts kills one with -9 under calls in flight), and the
// engine's port takes only the tickets it gave.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir, waitUntil } from "../_helpers.ts";
import { EngineProcess, namedTransport } from "../engine/_harness.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { answeredBefore, seedFrom } from "../../cli/_mcp_pump.ts";
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

/** One JSON-RPC message as a line. */
const line = (message: Record<string, unknown>) => JSON.stringify({ jsonrpc: "2.0", ...message });
const INITIALIZE = line({ id: 0, method: "initialize", params: {} });
const INITIALIZED = line({ method: "notifications/initialized" });

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

Deno.test("when its cat dies under a running engine, crosstalk mcp relays, and sends again nothing the engine answered", async () => {
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

Deno.test("after its engine restarts, crosstalk mcp relays until the engine is back and then goes back to pumps, a tail of the journal and a new cat, every time", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  let engine = await startTeam(home);
  try {
    const alice = await session(home, "alice");
    await using bob = await session(home, "bob");
    // A second answer to the initialize (the engine's to the replayed handshake) would reach the
    // client as an error. (A call answered in the moment before a kill may be answered twice,
    // by design: the engine records an answer after it sent it. The client drops it.)
    const initializeAnswers: string[] = [];
    alice.client.onerror = (error: Error) => {
      if (String(error).includes("serverInfo")) initializeAnswers.push(String(error));
    };
    assert.match(await alice.call("send", { to: "bob", message: "before" }), /^sent /);
    const pumps = join(state, "mcp-pumps");
    const files = () => [...Deno.readDirSync(pumps)].map((e) => e.name).sort();
    for (let restart = 1; restart <= 2; restart++) {
      engine.signal("SIGKILL");
      await engine.exit();
      engine = await EngineProcess.start(root, { alias: "a", state });
      await engine.waitFor((r) => r.event === "api.listening");
      // Relaying first (only tee is left), then back on pumps: tee reads stdin still, a tail
      // of its journal goes to the engine, and a new cat brings the answers.
      await waitUntil(() => childCommands(alice.transport.pid).join() === "cat,tail,tee");
      await waitUntil(() => childCommands(bob.transport.pid).join() === "cat,tail,tee");

      // Both ways through the new pumps: a call and its answer, and a channel push.
      const sent = await alice.call("send", { to: "bob", message: `after restart ${restart}` });
      const id = /^sent \S+\/(\d{4}\/\S+\.md)$/.exec(sent)![1]!;
      await bob.notification((n) =>
        String((n.params.meta as Record<string, string>).message_id).endsWith(id)
      );
      await bob.call("send", { to: "alice", message: `answer ${restart}` });
      const pushed = await alice.notification((n) =>
        String(n.params.content).includes(`answer ${restart}`)
      );
      assert.match(String(pushed.params.content), new RegExp(`answer ${restart}`));
      assert.match(await alice.call("read", {}), new RegExp(`answer ${restart}`));
      // Each session keeps its journal and the answered file of its present ticket only.
      assert.equal(files().length, 4, `${files()}`);
    }
    // Nothing sent twice, nothing lost, and no answer the client did not ask for.
    const read = await bob.call("read", {});
    for (const text of ["before", "after restart 1", "after restart 2"]) {
      assert.equal(read.split(text).length - 1, 1, `${text} in ${read}`);
    }
    assert.deepEqual(initializeAnswers, []);

    // Alice's stdin closes: tee ends, the tail reads the rest and ends, and so does the session.
    await alice[Symbol.asyncDispose]();
    await engine.waitFor((r) =>
      r.event === "live.offline" && r.name === "alice" && r.left === true
    );
    await waitUntil(() => files().length === 2);
  } finally {
    await engine[Symbol.asyncDispose]();
  }
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

Deno.test("a pump ticket with the client's handshake serves a session that answers without a new initialize, and never sends the initialize's answer", async () => {
  await using dir = await tempDir();
  await using engine = await startTeam(dir.path);
  const { url, live } = await registerCarol(engine);
  const initialize = line({
    id: 0,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", v: "1" } },
  });
  const initialized = INITIALIZED;
  const ticketWith = (body: unknown) =>
    fetch(`${url}/api/live/me/mcp/pump`, {
      method: "POST",
      headers: { Authorization: `Bearer ${live}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  // Anything but the client's two handshake lines is refused, naming what is wrong.
  for (
    const bad of [
      "not json",
      [initialize],
      { initialize: line({ id: 0, method: "tools/list" }) },
      { initialize: JSON.stringify({ id: 0, method: "initialize" }) },
      { initialize: line({ method: "initialize" }) },
      { initialize: `${initialize}\n${initialize}` },
      { initialize, initialized: line({ id: 1, method: "notifications/initialized" }) },
      { initialize, extra: 1 },
    ]
  ) {
    const refused = await ticketWith(bad);
    assert.equal(refused.status, 400, JSON.stringify(bad));
    const { error } = await refused.json();
    assert.equal(error.code, "ERR_BODY_INVALID");
    assert.match(error.message, /initialize|JSON object|Unknown field/);
  }

  const response = await ticketWith({ initialize, initialized });
  assert.equal(response.status, 200);
  const { port, ticket, answered, replayed } = await response.json();
  assert.equal(replayed, true);
  const into = await pumpConnection(port, `in ${ticket}\n`);
  const out = await pumpConnection(port, `out ${ticket}\n`);
  assert.equal(await readUntil(into, "\n"), "ok\n");
  // The first thing on `out` answers the client's call: no second answer to its initialize.
  await into.write(new TextEncoder().encode(`${line({ id: 1, method: "tools/list" })}\n`));
  const first = JSON.parse((await readUntil(out, "\n")).trim());
  assert.equal(first.id, 1);
  assert.ok(first.result.tools.some((tool: { name: string }) => tool.name === "send"));
  await waitUntil(async () => (await Deno.readTextFile(answered)) === "1\n");
  into.close();
  await untilClosed(out);
});

/**
 * What a takeover makes of a journal and an answered file with these texts: read through
 * handles, after the journal was removed (a sweep may remove it: it is still read to its end).
 */
async function takeOver(
  journalText: string,
  answeredText: string,
  from?: Parameters<typeof seedFrom>[2],
): Promise<Awaited<ReturnType<typeof seedFrom>> & { size: number }> {
  await using dir = await tempDir();
  const journal = join(dir.path, "t.in");
  const answered = join(dir.path, "t.answered");
  await Deno.writeTextFile(journal, journalText);
  await Deno.writeTextFile(answered, answeredText);
  using journalFile = await Deno.open(journal, { read: true });
  using answeredFile = await Deno.open(answered, { read: true });
  await Deno.remove(journal);
  const size = new TextEncoder().encode(journalText).length;
  return { ...await seedFrom(journalFile, answeredFile, from), size };
}

Deno.test("until the pumps of a ticket with a handshake are there, the agent's wakes stay with its relay's session", async () => {
  await using dir = await tempDir();
  await using engine = await startTeam(dir.path);
  const { url, user } = await registerCarol(engine);
  const post = (path: string, token: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const registered = await post("/api/live", user, { agent: "claude", name: "dave" });
  const dave = (await registered.json()).token as string;
  // Dave's relay: a session over the WebSocket, opened by its client.
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/api/live/me/mcp`, {
    headers: { Authorization: `Bearer ${dave}` },
  });
  const frames: string[] = [];
  socket.onmessage = (event) => frames.push(String(event.data));
  await new Promise((resolve) => socket.onopen = resolve);
  const initialize = line({
    id: 0,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", v: "1" } },
  });
  socket.send(initialize);
  await waitUntil(() => frames.some((frame) => JSON.parse(frame).id === 0));
  socket.send(INITIALIZED);
  await engine.waitFor((r) => r.event === "live.online" && r.name === "dave");

  // The relay asks to go back to pumps, and its pumps do not come (yet).
  const ticket = await post("/api/live/me/mcp/pump", dave, {
    initialize,
    initialized: INITIALIZED,
  });
  assert.equal((await ticket.json()).replayed, true);
  const sent = await post("/api/messages", user, {
    to: ["dave"],
    body: "still woken through the relay",
  });
  assert.equal(sent.status, 201, await sent.text());
  await waitUntil(() =>
    frames.some((frame) =>
      frame.includes("notifications/claude/channel") &&
      frame.includes("still woken through the relay")
    )
  );
  const closed = new Promise((resolve) => socket.onclose = resolve);
  socket.close();
  await closed;
});

Deno.test("taking over from the pumps, the relay sends again what the engine had not answered: no more, no less", async () => {
  const read = line({ id: 1, method: "tools/call", params: { name: "read" } });
  const wait = line({ id: 2, method: "tools/call", params: { name: "wait" } });
  const stringId = line({ id: "2", method: "tools/call", params: { name: "send" } });
  const cancelled = line({ id: 3, method: "tools/call", params: { name: "wait" } });
  const cancel = line({ method: "notifications/cancelled", params: { requestId: 3 } });
  const half = line({ id: 4, method: "tools/call" }).slice(0, 20);
  const { seed, offset, size } = await takeOver(
    ["", INITIALIZE, INITIALIZED, read, "not json", wait, stringId, cancelled, cancel].join("\n") +
      `\n${half}`,
    "0\n1\n",
  );
  assert.deepEqual(seed.initialize, { id: 0, line: INITIALIZE });
  assert.equal(seed.initialized, INITIALIZED);
  assert.deepEqual(seed.pending, [{ id: 2, line: wait }, { id: "2", line: stringId }]);
  assert.equal(offset, size - half.length, "a half-written line waits");
});

Deno.test("the takeover reads a journal of lines longer than its reads whole, and an answered id cut short counts for no request", async () => {
  // 200 KB of text with characters of several bytes, across the 64 KiB reads.
  const long = line({
    id: 12,
    method: "tools/call",
    params: { name: "send", arguments: { message: "é✓".repeat(40_000) } },
  });
  const other = line({ id: 123, method: "tools/call", params: { name: "read" } });
  // The engine was killed while it appended 123: only "12" of it is in the file.
  const { seed, offset, size } = await takeOver(`${long}\n${other}\n`, "7\n12");
  assert.deepEqual(seed.pending, [{ id: 12, line: long }, { id: 123, line: other }]);
  assert.equal(offset, size);
});

Deno.test("after the takeover, a request the lost engine had answered that reaches the journal late counts as answered, by its id's type too", async () => {
  // Request 7 reached the engine and was answered; tee had not appended it yet.
  const { seed } = await takeOver(`${line({ id: 6, method: "tools/call" })}\n`, "6\n7\n");
  assert.deepEqual(seed.pending, []);
  assert.ok(answeredBefore(seed, 7), "the late line of request 7 is not sent again");
  assert.ok(!answeredBefore(seed, "7"), 'request "7" is another request');
  assert.ok(!answeredBefore(seed, 8));
  assert.ok(!answeredBefore(seed, undefined), "a notification is always relayed");
});

Deno.test("a takeover from where a relay went back to pumps starts with that relay's handshake and reads only what came after", async () => {
  const before = line({ id: 1, method: "tools/call", params: { name: "read" } });
  const after = line({ id: 2, method: "tools/call", params: { name: "wait" } });
  const answeredAfter = line({ id: 3, method: "tools/call", params: { name: "send" } });
  const head = ["", INITIALIZE, INITIALIZED, before, ""].join("\n");
  // The new engine's answered file knows only what it answered after the handover.
  const { seed, offset, size } = await takeOver(`${head}${after}\n${answeredAfter}\n`, "3\n", {
    from: new TextEncoder().encode(head).length,
    handshake: { initialize: { id: 0, line: INITIALIZE }, initialized: INITIALIZED },
  });
  assert.deepEqual(seed.initialize, { id: 0, line: INITIALIZE });
  assert.equal(seed.initialized, INITIALIZED);
  assert.deepEqual(seed.pending, [{ id: 2, line: after }], "request 1 was answered before");
  assert.equal(offset, size);
});

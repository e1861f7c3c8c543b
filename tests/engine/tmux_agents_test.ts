// TmuxAgents in the engine's process: the /api/tmux-agents routes through app.request() on a real
// engine, the text typed for a message, and panes that are busy or show a dialog (real tmux).
import assert from "node:assert/strict";
import { join } from "node:path";
import { TMUX_AGENT_MAX_CHARS, tmuxAgentText } from "../../engine/tmux_agents.ts";
import type { Message } from "../../transports/mod.ts";
import type { Bus } from "../../engine/bus.ts";
import { deliveryStatus } from "../../engine/status.ts";
import { tempDir, waitUntil } from "../_helpers.ts";
import { READER, submissions, TmuxServer } from "../_tmux.ts";
import { engineWithApi } from "./_in_process.ts";

/** The delivery row of message `m` to `to`, once it is more than written (woken, unwoken…). */
function settledDelivery(bus: Bus, m: Message, to: string) {
  return waitUntil(async () => {
    const { deliveries } = await deliveryStatus(bus, m);
    return deliveries.find((d) => d.to === to && d.state !== "written");
  });
}

/** A real engine on a local transport in `dir`, its API app, and tokens of every kind. */
function engineIn(dir: string, before?: (stateDir: string) => Promise<void>) {
  return engineWithApi(dir, before ? { before } : {});
}

/** Registers a tmux agent as an admin, and fails the test unless it was created. */
async function register(
  api: Awaited<ReturnType<typeof engineIn>>,
  body: Record<string, unknown>,
) {
  const added = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", body);
  assert.equal(added.status, 201, JSON.stringify(added.json));
  return added;
}

Deno.test("POST /api/tmux-agents refuses agents' tokens, non-admins and bad input with one error shape, and changes nothing", async () => {
  await using dir = await tempDir();
  await using api = await engineIn(dir.path);
  const good = { name: "typist", target: "aider" };
  for (const token of [api.tokens.live, api.tokens.agent]) {
    const r = await api.call(token, "POST", "/api/tmux-agents", good);
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, "ERR_FORBIDDEN");
    assert.match(r.json.error.message, /Only a user's token may change tmux agents/);
    const list = await api.call(token, "GET", "/api/tmux-agents");
    assert.equal(list.status, 403);
  }
  const guest = await api.call(api.tokens.user, "POST", "/api/tmux-agents", good);
  assert.equal(guest.status, 403);
  assert.match(guest.json.error.message, /Only an admin may change tmux agents/);
  assert.deepEqual((await api.call(api.tokens.user, "GET", "/api/tmux-agents")).json, {
    agents: [],
  });

  const bad: [unknown, string, RegExp][] = [
    [{ name: "..", target: "aider" }, "ERR_ADDRESS_INVALID", /Invalid agent name "\.\."/],
    [{ name: "../etc", target: "aider" }, "ERR_ADDRESS_INVALID", /Invalid agent name/],
    [{ name: "me", target: "aider" }, "ERR_ADDRESS_INVALID", /Invalid agent name "me"/],
    [{ name: "guest", target: "aider" }, "ERR_ADDRESS_INVALID", /"guest" is taken/],
    [{ name: "mcp-one", target: "aider" }, "ERR_ADDRESS_INVALID", /held by a live agent/],
    [{ name: "x", target: "aider; reboot" }, "ERR_BODY_INVALID", /Invalid tmux target/],
    [{ name: "x", target: "`id`" }, "ERR_BODY_INVALID", /Invalid tmux target/],
    [{ name: "x", target: "a|b" }, "ERR_BODY_INVALID", /Invalid tmux target/],
    [{ name: "x", target: "-t" }, "ERR_BODY_INVALID", /Invalid tmux target/],
    [{ name: "x", target: "a\nb" }, "ERR_BODY_INVALID", /Invalid tmux target/],
    [{ name: "x", target: "%1", agent: "ai der" }, "ERR_BODY_INVALID", /Invalid agent "ai der"/],
    [{ name: "x", target: "%1", enter_delay_ms: 1.5 }, "ERR_BODY_INVALID", /enter delay/],
    [{ name: "x", target: "%1", enter_delay_ms: 60_000 }, "ERR_BODY_INVALID", /enter delay/],
    [{ name: "x", target: "%1", socket: "/tmp/../x" }, "ERR_BODY_INVALID", /tmux socket/],
    [{ name: "x", target: "%1", marker: "[a]\n" }, "ERR_BODY_INVALID", /Invalid marker "\[a\]\\n"/],
    [{ name: "x", target: "%1", marker: "\x1b[31m" }, "ERR_BODY_INVALID", /Invalid marker/],
    [{ name: "x", target: "%1", marker: "x".repeat(41) }, "ERR_BODY_INVALID", /at most 40/],
    [{ name: "x", target: "%1", marker: " [a]" }, "ERR_BODY_INVALID", /spaces at the ends/],
    [{ name: "x", target: "%1", marker: 7 }, "ERR_BODY_INVALID", /"marker" must be string/],
    [{ name: "x", target: "%1", max_chars: 199 }, "ERR_BODY_INVALID", /from 200 to 100000/],
    [{ name: "x", target: "%1", max_chars: 100_001 }, "ERR_BODY_INVALID", /max chars 100001/],
    [{ name: "x", target: "%1", max_chars: 600.5 }, "ERR_BODY_INVALID", /a whole number/],
    [
      { name: "x", target: "%1", max_chars: 511 },
      "ERR_BODY_INVALID",
      /Invalid max chars 511: too small for the marker "\[crosstalk\]" and the header, .* \(at least 512\)/,
    ],
    [{ name: "x", target: "%1", marker: "", max_chars: 499 }, "ERR_BODY_INVALID", /at least 500/],
    [{ name: "x", target: "%1", shell: "sh" }, "ERR_BODY_INVALID", /Unknown field "shell"/],
    [{ name: "x" }, "ERR_BODY_INVALID", /needs "target"/],
    [[good], "ERR_BODY_INVALID", /JSON object/],
  ];
  for (const [body, code, message] of bad) {
    const r = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.deepEqual(Object.keys(r.json), ["error"]);
    assert.equal(r.json.error.code, code, JSON.stringify(body));
    assert.match(r.json.error.message, message, JSON.stringify(body));
  }
  for (const path of ["/api/tmux-agents/..%2F..", "/api/tmux-agents/a%20b/enable"]) {
    const r = await api.call(api.tokens.admin, path.endsWith("enable") ? "POST" : "DELETE", path);
    assert.equal(r.json.error.code, "ERR_ADDRESS_INVALID", path);
  }
  const missing = await api.call(api.tokens.admin, "POST", "/api/tmux-agents/nobody/disable");
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, "ERR_AGENT_NOT_FOUND");

  assert.deepEqual((await api.call(api.tokens.admin, "GET", "/api/tmux-agents")).json, {
    agents: [],
  });
  assert.ok(!api.engine.live.has("x") && !api.engine.live.has("typist"));
  await assert.rejects(Deno.stat(join(api.stateDir, "tmux-agents.json")), Deno.errors.NotFound);
});

Deno.test("POST /api/tmux-agents registers a pane that a live session cannot take, and DELETE frees its name", async () => {
  await using dir = await tempDir();
  await using api = await engineIn(dir.path);
  const added = await register(api, {
    name: "typist",
    target: "nowhere:1.0",
    agent: "aider",
    role: "reviewer",
    enter_delay_ms: 0,
    socket: join(dir.path, "no.sock"),
  });
  assert.equal(added.json.owner, "boss");
  assert.equal(added.json.up, false);
  assert.equal(added.json.pane, null);
  assert.equal(added.json.enabled, true);
  const again = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", {
    name: "typist",
    target: "%1",
  });
  assert.equal(again.json.error.code, "ERR_ADDRESS_INVALID");
  assert.match(again.json.error.message, /registered already/);
  // A session asking for the name gets another one.
  const { agent } = await api.engine.registerLive(
    { name: "typist", agent: "claude", wake: "pull" },
    "boss",
  );
  assert.equal(agent.name, "typist-2");
  const peers = await api.engine.peers();
  const pane = peers.agents.find((a) => a.name === "typist");
  assert.equal(pane?.kind, "pane");
  assert.equal(pane?.online, false);
  assert.equal(pane?.role, "reviewer");

  const disabled = await api.call(api.tokens.admin, "POST", "/api/tmux-agents/typist/disable");
  assert.equal(disabled.json.enabled, false);
  assert.equal(api.engine.live.get("typist").status, "disabled");
  const removed = await api.call(api.tokens.admin, "DELETE", "/api/tmux-agents/typist");
  assert.equal(removed.status, 200);
  assert.equal(removed.json.removed.name, "typist");
  assert.ok(!api.engine.live.has("typist"));
  const stored = JSON.parse(await Deno.readTextFile(join(api.stateDir, "tmux-agents.json")));
  assert.deepEqual(stored, { agents: [] });
});

Deno.test("TmuxAgents leaves a pane in copy mode or showing a dialog alone, reports why, and types once it is ready", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  await using api = await engineIn(dir.path);
  const typed = join(dir.path, "typed.jsonl");
  const pane = await tmux.reader("busy", typed);
  const dialogTyped = join(dir.path, "dialog.jsonl");
  await tmux.reader("asking", dialogTyped, "dialog");
  for (const [name, target] of [["busy", "busy"], ["asking", "asking"]]) {
    const r = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", {
      name,
      target,
      enter_delay_ms: 20,
      socket: tmux.socket,
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  await tmux.run("copy-mode", "-t", pane);

  const toBusy = await api.engine.bus.send({ to: ["busy"], from: "boss", body: "when free" });
  const toAsking = await api.engine.bus.send({ to: ["asking"], from: "boss", body: "a question" });
  const status = (message: Message, name: string) =>
    waitUntil(async () => {
      const { deliveries } = await import("../../engine/status.ts").then((m) =>
        m.deliveryStatus(api.engine.bus, message)
      );
      return deliveries.find((d) => d.to === name && d.state !== "written");
    });
  const busy = await status(toBusy, "busy");
  assert.equal(busy.state, "unwoken");
  assert.match(busy.detail ?? "", /busy: pane %\d+ is in copy-mode/);
  const asking = await status(toAsking, "asking");
  assert.equal(asking.state, "unwoken");
  assert.match(asking.detail ?? "", /dialog: pane %\d+ shows "Do you want to proceed\?"/);
  assert.equal(api.engine.live.unreadCount("busy"), 1);

  // Ready again: the next check types it.
  await tmux.run("send-keys", "-t", pane, "-X", "cancel");
  await api.engine.tmuxAgents.checkNow();
  // Typed: the reader records it once it has read the Enter, a moment later.
  assert.match((await waitUntil(async () => (await submissions(typed))[0]))!, /\nwhen free\n/);
  assert.equal(api.engine.live.unreadCount("busy"), 0);
  assert.equal((await status(toBusy, "busy")).state, "read");
  await api.engine.tmuxAgents.checkNow();
  assert.deepEqual(await submissions(dialogTyped), [], "nothing typed into a dialog");
  assert.equal(api.engine.live.unreadCount("asking"), 1);
});

Deno.test("tmuxAgentText keeps the reply line and points at the whole message past the cap", () => {
  const message: Message = {
    channel: "0b7c5a52-0000-4000-8000-000000000000",
    id: "2026/12/07/013000000Z-0badc0de.md",
    from: "boss",
    to: ["typist", "all"],
    re: ["2026/12/07/012900000Z-00000000.md"],
    timestamp: "2026-12-07T01:30:00.000Z",
    body: "é".repeat(10_000),
  } as Message;
  const event = { channelName: "general", noReply: false, loopWarning: "slow down" };
  const text = tmuxAgentText(message, event, { name: "typist", transportFlag: "--path '/a b'" });
  assert.equal(Array.from(`[crosstalk] ${text}`).length, TMUX_AGENT_MAX_CHARS);
  assert.match(
    text,
    /^boss -> typist, all in #general \(a reply\) at 01:30 UTC, message 0b7c5a52-.*\.md:\né+…\n/,
  );
  assert.match(
    text,
    /\n\(cut at 4000 characters; the whole message: crosstalk message show --path '\/a b' 0b7c5a52-0000-4000-8000-000000000000\/2026\/12\/07\/013000000Z-0badc0de\.md\)\n\(loop warning: slow down\)\n\(reply from a shell: crosstalk message send --path '\/a b' --channel 0b7c5a52-0000-4000-8000-000000000000 --re 2026\/12\/07\/013000000Z-0badc0de\.md --from typist --to boss "…"\)$/,
  );
  const short = tmuxAgentText({ ...message, body: "hi\n\n" }, { ...event, noReply: true }, {
    name: "typist",
    transportFlag: "",
  });
  assert.match(short, /:\nhi\n\(loop warning: slow down\)\n\(no reply needed\)$/);
});

Deno.test("Engine.start gives a registration it finds without a live record one (a crash between the two writes), and skips invalid ones", async () => {
  await using dir = await tempDir();
  await using api = await engineIn(dir.path, async (stateDir) => {
    await Deno.mkdir(stateDir, { recursive: true });
    await Deno.writeTextFile(
      join(stateDir, "tmux-agents.json"),
      JSON.stringify({
        agents: [
          { name: "kept", target: "somewhere", agent: "aider", enabled: true, owner: "boss" },
          { name: "../bad", target: "somewhere", enabled: true, owner: "boss" },
          { name: "worse", target: "a; b", enabled: true, owner: "boss" },
          { name: "odd", target: "%1", tmux_server: { pid: "1" }, enabled: true, owner: "boss" },
        ],
      }),
    );
  });
  const listed = await api.call(api.tokens.admin, "GET", "/api/tmux-agents");
  assert.deepEqual(listed.json.agents.map((a: { name: string }) => a.name), ["kept"]);
  const info = api.engine.live.get("kept");
  assert.equal(info.kind, "pane");
  assert.equal(info.agent, "aider");
  assert.equal(info.online, false);
  assert.ok(api.engine.live.inUse("kept"));
});

Deno.test("POST /api/tmux-agents takes a revive command from an admin only, refuses bad revive fields, keeps it in the state file, and shows it to admins only", async () => {
  await using dir = await tempDir();
  await using api = await engineIn(dir.path);
  const good = { name: "phoenix", target: "phoenix", revive: "aider --yes", cwd: dir.path };
  for (const token of [api.tokens.user, api.tokens.live, api.tokens.agent]) {
    const r = await api.call(token, "POST", "/api/tmux-agents", good);
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, "ERR_FORBIDDEN");
  }
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ target: "%3" }, /Cannot revive tmux target "%3": .*a pane id, which tmux chooses itself/],
    [{ target: "phoenix:1" }, /Cannot revive tmux target "phoenix:1": .*not a window or pane/],
    [{ revive: "" }, /Invalid revive command ""/],
    [{ revive: "aider\nrm -rf ~" }, /Invalid revive command/],
    [{ revive: "aider\0" }, /Invalid revive command/],
    [{ revive: "x".repeat(2001) }, /1 to 2000 characters/],
    [{ revive: 42 }, /"revive" must be string/],
    [{ cwd: "relative" }, /Invalid cwd "relative": an absolute path/],
    [{ cwd: "/tmp/../etc" }, /Invalid cwd/],
    [{ cwd: join(dir.path, "missing") }, /Invalid cwd ".*missing": no such folder/],
    [{ cwd: join(dir.path, "state", "tmux-agents.json") }, /Invalid cwd/],
    [{ revive: undefined }, /"cwd" is for a revive command/],
    [{ revive_timeout_ms: 999 }, /Invalid revive timeout 999/],
    [{ revive_grace_ms: 120_001 }, /Invalid revive grace 120001/],
    [{ revive_grace_ms: 0.5 }, /Invalid revive grace/],
  ];
  for (const [change, message] of bad) {
    const body = { ...good, ...change };
    const r = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.error.code, "ERR_BODY_INVALID", JSON.stringify(body));
    assert.match(r.json.error.message, message, JSON.stringify(body));
  }
  assert.deepEqual((await api.call(api.tokens.admin, "GET", "/api/tmux-agents")).json.agents, []);
  assert.ok(!api.engine.live.has("phoenix"));

  const added = await register(api, {
    ...good,
    revive_timeout_ms: 10_000,
    revive_grace_ms: 0,
  });
  assert.equal(added.json.revivable, true);
  const stored = JSON.parse(await Deno.readTextFile(join(api.stateDir, "tmux-agents.json")));
  assert.deepEqual(
    [stored.agents[0].revive, stored.agents[0].cwd, stored.agents[0].revive_timeout_ms],
    ["aider --yes", dir.path, 10_000],
  );
  assert.equal(stored.agents[0].revive_grace_ms, 0);
  const [forAdmin] = (await api.call(api.tokens.admin, "GET", "/api/tmux-agents")).json.agents;
  assert.equal(forAdmin.revive, "aider --yes");
  const [forUser] = (await api.call(api.tokens.user, "GET", "/api/tmux-agents")).json.agents;
  assert.equal(forUser.revivable, true);
  assert.ok(!("revive" in forUser) && !("cwd" in forUser), JSON.stringify(forUser));
});

Deno.test("TmuxAgents revives at most once a minute: a failing revive command is not run again at each check, the messages wait, and enable tries again at once", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  await tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "keepalive");
  await using api = await engineIn(dir.path);
  const runs = join(dir.path, "runs.log");
  const r = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", {
    name: "broken",
    target: "broken",
    socket: tmux.socket,
    revive: `echo run >> '${runs}'; exit 3`,
    revive_grace_ms: 0,
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const first = await api.engine.bus.send({ to: ["broken"], from: "boss", body: "one" });
  const failure = (message: Message) =>
    waitUntil(async () => {
      const { deliveries } = await import("../../engine/status.ts").then((m) =>
        m.deliveryStatus(api.engine.bus, message)
      );
      return deliveries.find((d) => d.to === "broken" && /revive failed/.test(d.detail ?? ""));
    });
  const row = await failure(first);
  assert.equal(row.state, "unwoken");
  assert.match(row.detail ?? "", /the revive command ended \(exit status (3|unknown)\)/);
  const lines = async () => (await Deno.readTextFile(runs)).trim().split("\n").length;
  assert.equal(await lines(), 1);

  await api.engine.bus.send({ to: ["broken"], from: "boss", body: "two" });
  await waitUntil(() => api.engine.live.unreadCount("broken") === 2 || undefined);
  await api.engine.tmuxAgents.checkNow();
  await api.engine.tmuxAgents.checkNow();
  assert.equal(await lines(), 1, "not run again before a minute has passed");
  assert.equal(api.engine.live.unreadCount("broken"), 2);

  const enabled = await api.call(api.tokens.admin, "POST", "/api/tmux-agents/broken/enable");
  assert.equal(enabled.status, 200);
  await waitUntil(async () => (await lines()) === 2 || undefined);
  await api.engine.tmuxAgents.checkNow();
  assert.equal(api.engine.live.unreadCount("broken"), 2);
});

Deno.test("TmuxAgents revives the target's dead pane in place (remain-on-exit) and types into it", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  const typed = join(dir.path, "typed.jsonl");
  await Deno.writeTextFile(typed, "");
  await tmux.run(
    ...["-f", "/dev/null", "new-session", "-d", "-s", "lazarus", "true", ";"],
    ...["set-option", "-w", "-t", "=lazarus:", "remain-on-exit", "on"],
  );
  const pane = await tmux.run("display-message", "-p", "-t", "=lazarus:", "#{pane_id}");
  await waitUntil(async () =>
    (await tmux.run("display-message", "-p", "-t", pane, "#{pane_dead}")) === "1" || undefined
  );
  await using api = await engineIn(dir.path);
  const r = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", {
    name: "lazarus",
    target: "lazarus",
    socket: tmux.socket,
    enter_delay_ms: 20,
    revive: `'${Deno.execPath()}' run -A '${READER}' '${typed}'`,
    revive_grace_ms: 1500,
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(r.json.up, false, "a dead pane is down");
  await api.engine.bus.send({ to: ["lazarus"], from: "boss", body: "rise" });
  const [text] = await waitUntil(async () => {
    const all = await submissions(typed);
    return all.length > 0 ? all : undefined;
  }, 15_000);
  assert.match(text!, /\nrise\n/);
  assert.equal(await tmux.run("display-message", "-p", "-t", "=lazarus:", "#{pane_id}"), pane);
  assert.equal(api.engine.live.unreadCount("lazarus"), 0);
});

Deno.test("POST /api/tmux-agents/{name}/start is an admin's, joins a revive under way instead of starting a second, and answers once the agent is up", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  await tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "keepalive");
  await using api = await engineIn(dir.path);
  const typed = join(dir.path, "typed.jsonl");
  await Deno.writeTextFile(typed, "");
  const runs = join(dir.path, "runs.log");
  const r = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", {
    name: "phoenix",
    target: "phoenix",
    socket: tmux.socket,
    enter_delay_ms: 20,
    revive: `echo run >> '${runs}'; exec '${Deno.execPath()}' run -A '${READER}' '${typed}'`,
    revive_grace_ms: 3000,
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  for (const token of [api.tokens.user, api.tokens.live, api.tokens.agent]) {
    const refused = await api.call(token, "POST", "/api/tmux-agents/phoenix/start");
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, "ERR_FORBIDDEN");
  }
  assert.ok(!(await Deno.stat(runs).catch(() => undefined)), "nothing run for them");

  // A message starts a revive; a start meanwhile waits for that one.
  const message = await api.engine.bus.send({ to: ["phoenix"], from: "boss", body: "rise" });
  await waitUntil(async () => {
    const { deliveries } = await import("../../engine/status.ts").then((m) =>
      m.deliveryStatus(api.engine.bus, message)
    );
    return deliveries.find((d) => d.to === "phoenix" && /starting it/.test(d.detail ?? ""));
  });
  const [first, second] = await Promise.all([
    api.call(api.tokens.admin, "POST", "/api/tmux-agents/phoenix/start"),
    api.engine.tmuxAgents.startAgent("phoenix", "boss"),
  ]);
  assert.equal(first.status, 200, JSON.stringify(first.json));
  assert.deepEqual([first.json.started, first.json.up], [true, true]);
  assert.match(first.json.pane, /^%\d+$/);
  assert.deepEqual([second.started, second.pane], [true, first.json.pane]);
  assert.equal((await Deno.readTextFile(runs)).trim().split("\n").length, 1, "one revive");
  assert.match((await waitUntil(async () => (await submissions(typed))[0]))!, /\nrise\n/);

  const again = await api.call(api.tokens.admin, "POST", "/api/tmux-agents/phoenix/start");
  assert.deepEqual([again.json.started, again.json.up, again.json.pane], [
    false,
    true,
    first.json.pane,
  ]);
  assert.equal((await Deno.readTextFile(runs)).trim().split("\n").length, 1);
});

Deno.test("tmuxAgentText cuts at the agent's own cap, counting its own marker or none", () => {
  const message = {
    channel: "0b7c5a52-0000-4000-8000-000000000000",
    id: "2026/12/07/013000000Z-0badc0de.md",
    from: "boss",
    to: ["typist"],
    timestamp: "2026-12-07T01:30:00.000Z",
    body: "é".repeat(10_000),
  } as Message;
  const event = { channelName: "general", noReply: false };
  for (const marker of ["[bus]", ""]) {
    const text = tmuxAgentText(message, event, {
      name: "typist",
      transportFlag: "",
      marker,
      maxChars: 600,
    });
    assert.equal(Array.from(marker === "" ? text : `${marker} ${text}`).length, 600, marker);
    assert.match(text, /é…\n\(cut at 600 characters; the whole message: crosstalk message show /);
    assert.match(text, /\n\(reply from a shell: crosstalk message send .* --to boss "…"\)$/);
  }
});

Deno.test("PATCH /api/tmux-agents/{name} is an admin's, and refuses an empty change, an unknown name and what POST refuses, changing nothing", async () => {
  await using dir = await tempDir();
  await using api = await engineIn(dir.path);
  await register(api, {
    name: "typist",
    target: "aider",
    marker: "[bus]",
  });
  const file = join(api.stateDir, "tmux-agents.json");
  const stored = await Deno.readTextFile(file);
  for (const token of [api.tokens.user, api.tokens.live, api.tokens.agent]) {
    const r = await api.call(token, "PATCH", "/api/tmux-agents/typist", { marker: "[x]" });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, "ERR_FORBIDDEN");
  }
  const guest = await api.call(api.tokens.user, "PATCH", "/api/tmux-agents/typist", {
    marker: "[x]",
  });
  assert.match(guest.json.error.message, /Only an admin may change tmux agents/);

  const bad: [string, unknown, number, string, RegExp][] = [
    ["typist", {}, 400, "ERR_BODY_INVALID", /Nothing to change in tmux agent "typist"/],
    ["typist", { marker: undefined }, 400, "ERR_BODY_INVALID", /Nothing to change/],
    ["typist", { name: "other" }, 400, "ERR_BODY_INVALID", /Unknown field "name"/],
    ["typist", { target: null }, 400, "ERR_BODY_INVALID", /"target" must be string$/],
    ["typist", { target: "a b" }, 400, "ERR_BODY_INVALID", /Invalid tmux target "a b"/],
    ["typist", { marker: "a\tb" }, 400, "ERR_BODY_INVALID", /Invalid marker "a\\tb"/],
    ["typist", { enter_delay_ms: "5" }, 400, "ERR_BODY_INVALID", /must be number or null/],
    [
      "typist",
      { max_chars: 300 },
      400,
      "ERR_BODY_INVALID",
      /Invalid max chars 300: too small for the marker "\[bus\]" .*\(at least 506\)/,
    ],
    [
      "typist",
      { marker: "x".repeat(40), max_chars: 540 },
      400,
      "ERR_BODY_INVALID",
      /\(at least 541\)/,
    ],
    ["typist", { cwd: dir.path }, 400, "ERR_BODY_INVALID", /"cwd" is for a revive command/],
    [
      "typist",
      { revive: "aider", target: "%3" },
      400,
      "ERR_BODY_INVALID",
      /Cannot revive tmux target "%3"/,
    ],
    [
      "typist",
      { revive: "aider", cwd: join(dir.path, "none") },
      400,
      "ERR_BODY_INVALID",
      /Invalid cwd ".*none": no such folder/,
    ],
    ["nobody", { marker: "[x]" }, 404, "ERR_AGENT_NOT_FOUND", /No tmux agent "nobody"/],
    ["..%2F..", { marker: "[x]" }, 400, "ERR_ADDRESS_INVALID", /Invalid agent name/],
  ];
  for (const [name, body, status, code, message] of bad) {
    const r = await api.call(api.tokens.admin, "PATCH", `/api/tmux-agents/${name}`, body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.json.error.code, code, JSON.stringify(body));
    assert.match(r.json.error.message, message, JSON.stringify(body));
  }
  assert.equal(await Deno.readTextFile(file), stored, "the registration is as it was");
  const [listed] = (await api.call(api.tokens.admin, "GET", "/api/tmux-agents")).json.agents;
  assert.deepEqual([listed.target, listed.marker, listed.max_chars], ["aider", "[bus]", 4000]);
});

Deno.test("a registration file from before markers and caps loads with the defaults; PATCH changes it in place, keeping a disabled agent disabled with its unread messages; null takes a field back to its default and revive: null drops the revive settings", async () => {
  await using dir = await tempDir();
  // As the version before marker and max_chars wrote it, field for field.
  const before = {
    name: "old",
    target: "oldtown",
    agent: "aider",
    role: "reviewer",
    enter_delay_ms: 40,
    socket: join(dir.path, "no.sock"),
    revive: "aider --yes",
    cwd: dir.path,
    revive_timeout_ms: 10_000,
    revive_grace_ms: 0,
    enabled: false,
    owner: "boss",
    added: "2026-01-02T03:04:05.000Z",
  };
  await using api = await engineIn(dir.path, async (stateDir) => {
    await Deno.mkdir(stateDir, { recursive: true });
    await Deno.writeTextFile(
      join(stateDir, "tmux-agents.json"),
      `${JSON.stringify({ agents: [before] }, null, 2)}\n`,
    );
  });
  const file = join(api.stateDir, "tmux-agents.json");
  const [listed] = (await api.call(api.tokens.admin, "GET", "/api/tmux-agents")).json.agents;
  assert.deepEqual(listed, {
    ...before,
    marker: "[crosstalk]",
    max_chars: 4000,
    pane: null,
    up: false,
    unread: 0,
    revivable: true,
  });
  await api.engine.bus.send({ to: ["old"], from: "boss", body: "first" });
  await api.engine.bus.send({ to: ["old"], from: "boss", body: "second" });
  await waitUntil(() => api.engine.live.unreadCount("old") === 2 || undefined);

  const edited = await api.call(api.tokens.admin, "PATCH", "/api/tmux-agents/old", {
    marker: "[bus]",
    max_chars: 1000,
    revive: null,
    role: null,
  });
  assert.equal(edited.status, 200, JSON.stringify(edited.json));
  const {
    revive: _r,
    cwd: _c,
    revive_timeout_ms: _t,
    revive_grace_ms: _g,
    role: _role,
    ...kept
  } = before;
  assert.deepEqual(edited.json, {
    ...kept,
    marker: "[bus]",
    max_chars: 1000,
    pane: null,
    up: false,
    unread: 2,
    revivable: false,
  });
  assert.deepEqual(JSON.parse(await Deno.readTextFile(file)), {
    agents: [{ ...kept, marker: "[bus]", max_chars: 1000 }],
  });
  assert.equal(api.engine.live.unreadCount("old"), 2);
  assert.equal(api.engine.live.get("old").status, "disabled");
  assert.equal(api.engine.live.get("old").role, undefined);

  const back = await api.call(api.tokens.admin, "PATCH", "/api/tmux-agents/old", {
    marker: null,
    max_chars: null,
    role: "editor",
  });
  assert.deepEqual([back.json.marker, back.json.max_chars, back.json.role], [
    "[crosstalk]",
    4000,
    "editor",
  ]);
  const [agent] = JSON.parse(await Deno.readTextFile(file)).agents;
  assert.ok(!("marker" in agent) && !("max_chars" in agent), JSON.stringify(agent));
  assert.equal(api.engine.live.get("old").role, "editor");
});

Deno.test("PATCH that changes the target and revive command stops a revive under way, revives with the new command at once, and types what waits there", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  await tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "keepalive");
  await using api = await engineIn(dir.path);
  const runs = join(dir.path, "runs.log");
  const typed = { old: join(dir.path, "old.jsonl"), new: join(dir.path, "new.jsonl") };
  await Deno.writeTextFile(typed.old, "");
  await Deno.writeTextFile(typed.new, "");
  const command = (tag: "old" | "new") =>
    `echo ${tag} >> '${runs}'; exec '${Deno.execPath()}' run -A '${READER}' '${typed[tag]}'`;
  const r = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", {
    name: "phoenix",
    target: "phoenix",
    socket: tmux.socket,
    enter_delay_ms: 20,
    revive: command("old"),
    // Far longer than the test: only a revive that is stopped lets the message through.
    revive_grace_ms: 120_000,
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const message = await api.engine.bus.send({ to: ["phoenix"], from: "boss", body: "rise" });
  await waitUntil(async () => {
    const { deliveries } = await import("../../engine/status.ts").then((m) =>
      m.deliveryStatus(api.engine.bus, message)
    );
    return deliveries.find((d) => d.to === "phoenix" && /starting it/.test(d.detail ?? ""));
  });
  await waitUntil(async () => (await Deno.readTextFile(runs).catch(() => "")) === "old\n");

  const edited = await api.call(api.tokens.admin, "PATCH", "/api/tmux-agents/phoenix", {
    target: "phoenix2",
    revive: command("new"),
    revive_grace_ms: 1500,
  });
  assert.equal(edited.status, 200, JSON.stringify(edited.json));
  assert.deepEqual([edited.json.target, edited.json.enabled], ["phoenix2", true]);
  const [text] = await waitUntil(async () => {
    const all = await submissions(typed.new);
    return all.length > 0 ? all : undefined;
  }, 15_000);
  assert.match(text!, /^\[crosstalk\] boss -> phoenix in #general at \d\d:\d\d UTC, .*:\nrise\n/);
  assert.deepEqual(await submissions(typed.old), []);
  assert.equal(await Deno.readTextFile(runs), "old\nnew\n");
  // Counted read once the engine has seen its Enter go through, a moment after the reader has it.
  await waitUntil(() => api.engine.live.unreadCount("phoenix") === 0 || undefined);
});

Deno.test("POST and PATCH /api/tmux-agents refuse a window or pane that the target's session does not have, naming what there is, and accept what exists or a session that does not", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  await using api = await engineIn(dir.path);
  // Session "aider": window 0 (two panes) and window 2 "logs"; window 1 was closed.
  await tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "aider", "-n", "main");
  await tmux.run("split-window", "-d", "-t", "=aider:0");
  await tmux.run("new-window", "-d", "-t", "=aider:1", "-n", "gone");
  await tmux.run("new-window", "-d", "-t", "=aider:2", "-n", "logs");
  await tmux.run("kill-window", "-t", "=aider:1");
  // What the check is for: tmux itself answers the missing window with the session's current pane.
  const current = await tmux.run("display-message", "-p", "-t", "=aider:", "#{pane_id}");
  assert.equal(await tmux.run("display-message", "-p", "-t", "=aider:1", "#{pane_id}"), current);

  const post = (target: string, socket = tmux.socket) =>
    api.call(api.tokens.admin, "POST", "/api/tmux-agents", { name: "typist", target, socket });
  const refused: [string, RegExp][] = [
    [
      "aider:1",
      /^Cannot register tmux target "aider:1": tmux session "aider" has no window 1 \(windows: 0 \(main\), 2 \(logs\)\)$/,
    ],
    ["aider:gone", /tmux session "aider" has no window gone \(windows: 0 \(main\), 2 \(logs\)\)/],
    ["aider:1.0", /tmux session "aider" has no window 1 /],
    [
      "aider:0.2",
      /^Cannot register tmux target "aider:0\.2": window 0 of tmux session "aider" has no pane 2 \(panes: 0, 1\)$/,
    ],
    ["aider:logs.1", /window logs of tmux session "aider" has no pane 1 \(panes: 0\)/],
    [
      "%99",
      /^Cannot register tmux target "%99": the tmux server of ".*tmux\.sock" has no pane %99 \(panes: %0, %1, %3\)$/,
    ],
  ];
  for (const [target, message] of refused) {
    const r = await post(target);
    assert.equal(r.status, 400, `${target}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, "ERR_BODY_INVALID", target);
    assert.match(r.json.error.message, message, target);
  }
  const nowhere = await post("%0", join(dir.path, "none.sock"));
  assert.equal(nowhere.status, 400);
  assert.match(
    nowhere.json.error.message,
    /"%0": no tmux server runs on the tmux server of ".*none\.sock", and a pane id only names a pane of a running server/,
  );
  assert.deepEqual((await api.call(api.tokens.admin, "GET", "/api/tmux-agents")).json.agents, []);
  assert.ok(!api.engine.live.has("typist"));

  // What exists is taken, by index or name; a session that does not exist yet too (any window).
  for (const target of ["aider:2", "aider:logs", "aider:0.1", "aider:00.1", "later:1.0"]) {
    const r = await post(target);
    assert.equal(r.status, 201, `${target}: ${JSON.stringify(r.json)}`);
    await api.call(api.tokens.admin, "DELETE", "/api/tmux-agents/typist");
  }
  assert.equal((await post("aider")).status, 201);
  const patch = (target: string) =>
    api.call(api.tokens.admin, "PATCH", "/api/tmux-agents/typist", { target });
  const moved = await patch("aider:5");
  assert.equal(moved.status, 400);
  assert.match(moved.json.error.message, /tmux session "aider" has no window 5 \(windows: 0/);
  const [still] = (await api.call(api.tokens.admin, "GET", "/api/tmux-agents")).json.agents;
  assert.equal(still.target, "aider", "the registration is as it was");
  assert.equal((await patch("aider:logs")).json.target, "aider:logs");
});

Deno.test("a pane id registered on an earlier run of its tmux server gets nothing typed and the sender is told why; one registered before the run was recorded is typed into as before; PATCH with the target takes the new run", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  const first = await tmux.program("first", "sleep", dir.path);
  assert.equal(first, "%0");
  await using api = await engineIn(dir.path, async (stateDir) => {
    // As a version that did not record the server wrote it.
    await Deno.mkdir(stateDir, { recursive: true });
    const legacy = { name: "legacy", target: "%0", socket: tmux.socket, enter_delay_ms: 20 };
    await Deno.writeTextFile(
      join(stateDir, "tmux-agents.json"),
      JSON.stringify({ agents: [{ ...legacy, agent: "tmux", enabled: true, owner: "boss" }] }),
    );
  });
  const added = await register(api, {
    name: "worker",
    target: first,
    socket: tmux.socket,
    enter_delay_ms: 20,
  });
  const run = async () => {
    const [pid, started] = (await tmux.run("display-message", "-p", "#{pid} #{start_time}"))
      .split(" ");
    return { pid: Number(pid), start_time: Number(started) };
  };
  const earlier = await run();
  assert.deepEqual(added.json.tmux_server, earlier);
  const stored = JSON.parse(await Deno.readTextFile(join(api.stateDir, "tmux-agents.json")));
  assert.deepEqual(stored.agents.map((a: { tmux_server?: unknown }) => a.tmux_server), [
    undefined,
    earlier,
  ]);

  // A reboot, as tmux sees it: a new server on the socket numbers its panes from %0 again.
  await tmux.kill();
  const typed = join(dir.path, "typed.jsonl");
  assert.equal(await tmux.reader("second", typed), first);
  assert.notDeepEqual(await run(), earlier);

  const toWorker = await api.engine.bus.send({ to: ["worker"], from: "boss", body: "for you" });
  const row = await settledDelivery(api.engine.bus, toWorker, "worker");
  assert.equal(row.state, "unwoken");
  assert.match(
    row.detail ?? "",
    /^tmux pane id %0 belongs to an earlier tmux server \(pid \d+, started .*Z\), and may name another pane now: nothing typed; run "crosstalk agent discover" to find the agent's pane, then "crosstalk agent edit worker --tmux PANE"$/,
  );
  await api.engine.tmuxAgents.checkNow();
  assert.equal(api.engine.live.unreadCount("worker"), 1);
  const [view] = (await api.call(api.tokens.admin, "GET", "/api/tmux-agents")).json.agents
    .filter((a: { name: string }) => a.name === "worker");
  assert.deepEqual([view.up, view.pane], [false, null]);

  // The registration without a run is typed into whatever pane has the id, as before.
  await api.engine.bus.send({ to: ["legacy"], from: "boss", body: "old ways" });
  const legacyText = await waitUntil(async () => (await submissions(typed))[0]);
  assert.match(
    legacyText,
    /^\[crosstalk\] boss -> legacy in #general at \d\d:\d\d UTC, .*:\nold ways\n/,
  );
  assert.equal((await submissions(typed)).length, 1, "nothing typed for worker");

  // Pointed at its pane again, on this run: what waited is typed.
  const edited = await api.call(api.tokens.admin, "PATCH", "/api/tmux-agents/worker", {
    target: first,
  });
  assert.deepEqual(edited.json.tmux_server, await run());
  await api.engine.tmuxAgents.checkNow();
  const texts = await waitUntil(async () => {
    const all = await submissions(typed);
    return all.length >= 2 ? all : undefined;
  });
  assert.match(
    texts[1]!,
    /^\[crosstalk\] boss -> worker in #general at \d\d:\d\d UTC, .*:\nfor you\n/,
  );
  assert.equal(api.engine.live.unreadCount("worker"), 0);
});

Deno.test("a window closed after registration is reported missing at delivery, and nothing is typed into the session's other window", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  const other = join(dir.path, "other.jsonl");
  await tmux.reader("work", other);
  // A second window, "editor", running a program; registered by its name.
  await tmux.run("new-window", "-d", "-t", "=work:", "-n", "editor", "sleep", "600");
  await using api = await engineIn(dir.path);
  await register(api, {
    name: "editor",
    target: "work:editor",
    socket: tmux.socket,
    enter_delay_ms: 20,
  });

  await tmux.run("kill-window", "-t", "=work:editor");
  const sent = await api.engine.bus.send({ to: ["editor"], from: "boss", body: "for the editor" });
  const row = await settledDelivery(api.engine.bus, sent, "editor");
  assert.equal(row.state, "unwoken");
  assert.match(row.detail ?? "", /tmux session "work" has no window editor now/);
  await api.engine.tmuxAgents.checkNow();
  assert.equal(api.engine.live.unreadCount("editor"), 1, "it waits for its window");
  assert.deepEqual(await submissions(other), [], "nothing typed into the session's other window");
});

Deno.test("a wake pasted when its agent is edited to another pane or the engine stops ends with its Enter, counts as typed, and is never typed again", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  const first = join(dir.path, "first.jsonl");
  const second = join(dir.path, "second.jsonl");
  const pane = await tmux.reader("first", first);
  await tmux.reader("second", second);
  await using api = await engineIn(dir.path);
  await register(api, {
    name: "typist",
    target: "first",
    socket: tmux.socket,
    enter_delay_ms: 1500,
  });
  const pasted = (text: string) =>
    waitUntil(async () =>
      (await tmux.run("capture-pane", "-p", "-t", pane)).includes(text) || undefined
    );

  // Edited to another pane while the text sits in the first one's composer.
  await api.engine.bus.send({ to: ["typist"], from: "boss", body: "the first wake" });
  await pasted("the first wake");
  const edited = await api.call(api.tokens.admin, "PATCH", "/api/tmux-agents/typist", {
    target: "second",
  });
  assert.equal(edited.status, 200, JSON.stringify(edited.json));
  await waitUntil(async () => (await submissions(first)).length === 1 || undefined);
  assert.match((await submissions(first))[0]!, /\nthe first wake\n/);
  assert.equal(api.engine.live.unreadCount("typist"), 0);
  await api.engine.tmuxAgents.checkNow();
  assert.deepEqual(await submissions(second), [], "not typed again into the new pane");

  // Back to the first pane; the engine's typing stops while the text sits in the composer.
  const back = await api.call(api.tokens.admin, "PATCH", "/api/tmux-agents/typist", {
    target: "first",
  });
  assert.equal(back.status, 200, JSON.stringify(back.json));
  await api.engine.bus.send({ to: ["typist"], from: "boss", body: "the second wake" });
  await pasted("the second wake");
  await api.engine.tmuxAgents.close();
  // close() returns once the Enter is sent; the reader writes its line a moment later.
  const both = await waitUntil(async () => {
    const all = await submissions(first);
    return all.length >= 2 ? all : undefined;
  });
  assert.equal(both.length, 2);
  assert.match(both[1]!, /\nthe second wake\n/);
  assert.equal(api.engine.live.unreadCount("typist"), 0, "nothing for the next start to type");
});

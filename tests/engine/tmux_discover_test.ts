// Discovering tmux panes to register: the pure parts (the parse of tmux's output, the target, the
// guess of the agent CLI, the proposed name), then GET /api/tmux-agents/candidates on a real engine
// (app.request()) asking a real private tmux server whose panes run programs named like agent CLIs.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { TmuxCandidate } from "../../engine/tmux_agents.ts";
import {
  guessAgentCli,
  guessCommandLineCli,
  guessScriptCli,
  listTmuxPanes,
  paneTarget,
  parsePaneList,
  proposeName,
  type TmuxPane,
} from "../../engine/tmux_discover.ts";
import { tempDir, waitUntil } from "../_helpers.ts";
import { TmuxServer } from "../_tmux.ts";
import { engineWithApi } from "./_in_process.ts";

const US = "\x1f";

Deno.test("parsePaneList reads each pane of tmux's list-panes output, a separator in its folder kept, and names a malformed line", () => {
  // Each pane's values end with the separator, then a line break.
  const text = [
    [
      ...["work", "0", "editor", "1", "%12", "0", "/tmp/tmux-1/default", "41", "1796625451"],
      ...["/dev/pts/4", "aider", "/home/me/src/app", ""],
    ],
    ["0", "2", "bash", "0", "%3", "1", "/s", "7", "0", "/dev/pts/5", "bash", `/odd${US}folder`, ""],
  ].map((values) => `${values.join(US)}\n`).join("");
  assert.deepEqual(parsePaneList(text), [
    {
      session: "work",
      window: 0,
      windowName: "editor",
      index: 1,
      id: "%12",
      dead: false,
      socketPath: "/tmp/tmux-1/default",
      server: { pid: 41, start_time: 1796625451 },
      command: "aider",
      tty: "/dev/pts/4",
      folder: "/home/me/src/app",
    },
    {
      session: "0",
      window: 2,
      windowName: "bash",
      index: 0,
      id: "%3",
      dead: true,
      socketPath: "/s",
      server: { pid: 7, start_time: 0 },
      command: "bash",
      tty: "/dev/pts/5",
      folder: `/odd${US}folder`,
    },
  ]);
  assert.deepEqual(parsePaneList(""), []);
  assert.throws(
    () => parsePaneList(`${text}just text\n`),
    (e: unknown) => e instanceof SyntaxError && /line 3:1: 1 fields instead of 12/.test(e.message),
  );
  const line = (values: Record<number, string>) =>
    ["w", "0", "sh", "0", "%1", "0", "/s", "7", "0", "/dev/pts/1", "sh", "/"]
      .map((v, i) => values[i] ?? v).join(US);
  assert.throws(
    () => parsePaneList(line({ 1: "x" })),
    /line 1:1: window and pane index must be numbers/,
  );
  assert.throws(() => parsePaneList(line({ 4: "1" })), /line 1:1: "1" is not a pane id/);
  assert.throws(
    () => parsePaneList(line({ 8: "" })),
    /line 1:1: server pid and start time must be numbers, not \["7",""\]/,
  );
});

Deno.test("paneTarget names a session of one pane by its name, and a pane of a bigger session or of a name no target can hold by its pane id", () => {
  const pane = (session: string): TmuxPane => ({
    session,
    window: 1,
    windowName: "sh",
    index: 2,
    id: "%7",
    dead: false,
    socketPath: "/s",
    server: { pid: 7, start_time: 0 },
    command: "sh",
    tty: "/dev/pts/1",
    folder: "/",
  });
  assert.equal(paneTarget(pane("aider"), 1), "aider");
  assert.equal(paneTarget(pane("work_2-b"), 3), "%7", "window.pane would move to another pane");
  assert.equal(paneTarget(pane("0"), 1), "0");
  for (const session of ["My App!", "a b", "caf\\303\\251", "-x", "x".repeat(65)]) {
    assert.equal(paneTarget(pane(session), 1), "%7", session);
  }
});

Deno.test("guessAgentCli knows agent CLIs by their program's name, Claude Code by its version-named binary, and shells", () => {
  const cases: [string, string][] = [
    ["claude", "claude"],
    ["2.1.112", "claude"],
    ["claude-code", "claude"],
    ["codex", "codex"],
    ["Gemini", "gemini"],
    ["gemini-cli", "gemini"],
    ["qwen", "qwen"],
    ["opencode", "opencode"],
    ["aider", "aider"],
    ["grok", "grok"],
    ["cursor-agent", "cursor-agent"],
    ["/usr/local/bin/codex", "codex"],
    ["bash", "shell"],
    ["-zsh", "shell"],
    ["fish", "shell"],
    ["sh", "shell"],
    ["node", "tmux"],
    ["python3", "tmux"],
    ["vim", "tmux"],
    ["cursor", "tmux"],
    ["constructor", "tmux"],
    ["", "tmux"],
  ];
  for (const [command, agent] of cases) assert.equal(guessAgentCli(command), agent, command);
});

Deno.test("guessScriptCli names the agent CLI an interpreter runs, by its script or its package, and guesses nothing from other folders", () => {
  const cases: [string[], string | undefined][] = [
    [["node", "/home/me/.npm-global/bin/gemini"], "gemini"],
    [
      ["/usr/bin/node", "--no-warnings", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js"],
      "gemini",
    ],
    [["node", "/opt/n/lib/node_modules/@anthropic-ai/claude-code/cli.js", "--resume"], "claude"],
    [["node", "/usr/local/lib/node_modules/@qwen-code/qwen-code/dist/index.js"], "qwen"],
    [["python3", "/home/me/.local/bin/aider", "--model", "x"], "aider"],
    [["python3.12", "-m", "aider"], "aider"],
    [["python3", "/srv/venv/lib/python3.12/site-packages/aider/main.py"], "aider"],
    [["bun", "run", "/home/me/src/opencode/bin/opencode.js"], "opencode"],
    [["deno", "run", "-A", "/home/claude/tools/codex.ts"], "codex"],
    // macOS names a framework build's interpreter `Python`.
    [["Python", "/Users/me/.local/bin/aider"], "aider"],
    // An option's value is not the script.
    [["node", "-r", "dotenv/config", "/home/me/.npm-global/bin/gemini"], "gemini"],
    [["python3", "-X", "importtime", "-m", "aider"], "aider"],
    [["python3", "-c", "import aider"], undefined],
    [["deno", "run", "-A", "/srv/tests/fake_claude.ts"], "claude"],
    [["python3", "/home/me/run_aider.py"], "aider"],
    // A folder named like an agent is not the program: a user, a project.
    [["node", "/home/claude/project/server.js"], undefined],
    [["node", "/usr/lib/node_modules/typescript/bin/tsc"], undefined],
    [["node"], undefined],
    [["python3", "-m"], undefined],
    // Not an interpreter: tmux's name was the program's.
    [["vim", "/home/me/aider"], undefined],
  ];
  for (const [args, agent] of cases) assert.equal(guessScriptCli(args), agent, args.join(" "));
});

Deno.test("guessCommandLineCli names the agent CLI of a process by its program or its script, never by its other arguments", () => {
  const cases: [string[], string | undefined][] = [
    [["claude", "--dangerously-load-development-channels", "server:crosstalk"], "claude"],
    [["/home/me/.local/share/claude/versions/2.1.112"], "claude"],
    [["/usr/local/bin/codex", "fix the claude integration"], "codex"],
    [["node", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js", "-m", "x"], "gemini"],
    [["sh", "-c", "claude"], undefined],
    [["bash", "/home/claude/run.sh"], undefined],
    [["vim", "notes-about-aider.md"], undefined],
    [[], undefined],
  ];
  for (const [argv, agent] of cases) assert.equal(guessCommandLineCli(argv), agent, argv.join(" "));
});

Deno.test("proposeName cleans a session name into a live agent name, avoids taken and reserved names with -2, -3, and names numbered sessions after the agent", () => {
  const none = () => false;
  assert.equal(proposeName("aider", "aider", none), "aider");
  assert.equal(proposeName("My App!", "tmux", none), "My-App");
  assert.equal(proposeName("..hidden..", "tmux", none), "hidden");
  assert.equal(proposeName("my\\tsess_x", "tmux", none), "my-sess_x");
  assert.equal(proposeName("!!!", "codex", none), "codex");
  assert.equal(proposeName("", "tmux", none), "tmux");
  assert.equal(proposeName("3", "claude", none), "claude");
  assert.equal(proposeName("3", "!", none), "pane");
  assert.equal(proposeName("all", "tmux", none), "all-2");
  assert.equal(proposeName("here", "tmux", none), "here-2");
  const taken = new Set(["work", "work-2", "claude"]);
  assert.equal(proposeName("work", "tmux", (n) => taken.has(n)), "work-3");
  assert.equal(proposeName("0", "claude", (n) => taken.has(n)), "claude-2");
  const long = proposeName(`${"a".repeat(60)}`, "tmux", (n) => n === "a".repeat(56));
  assert.equal(long, `${"a".repeat(54)}-2`);
  assert.equal(proposeName(`${"a".repeat(55)}.b`, "tmux", none), "a".repeat(55));
});

Deno.test("listTmuxPanes reads a pane whose folder has a line break in its name, and the panes after it", async () => {
  await using dir = await tempDir();
  const odd = join(dir.path, "two\nlines");
  await Deno.mkdir(odd);
  await using tmux = new TmuxServer(dir.path);
  const started = (name: string, folder: string, ...first: string[]) =>
    tmux.run(
      ...first,
      "new-session",
      "-d",
      "-s",
      name,
      "-c",
      folder,
      "-P",
      "-F",
      "#{pane_id}",
      "sh",
    )
      // tmux starts the command through its shell, which execs it a moment later.
      .then((pane) => tmux.running(pane, "sh"));
  await started("odd", odd, "-f", "/dev/null");
  await started("plain", dir.path);
  const panes = await listTmuxPanes({ socket: tmux.socket });
  assert.deepEqual(
    panes.map((p) => [p.session, p.command, p.folder]),
    [["odd", "sh", await Deno.realPath(odd)], ["plain", "sh", await Deno.realPath(dir.path)]],
  );
});

Deno.test("listTmuxPanes finds no panes where no tmux server runs, and says so clearly when tmux cannot be run", async () => {
  await using dir = await tempDir();
  assert.deepEqual(await listTmuxPanes({ socket: join(dir.path, "none.sock") }), []);
  // A socket file nobody listens on (a server that died): no server either.
  const stale = join(dir.path, "stale.sock");
  Deno.listen({ transport: "unix", path: stale }).close();
  assert.deepEqual(await listTmuxPanes({ socket: stale }), []);
  await assert.rejects(
    listTmuxPanes({ tmux: join(dir.path, "no-tmux") }),
    (e: unknown) =>
      e instanceof Error && "code" in e && e.code === "ERR_SERVICE_FAILED" &&
      /Cannot list the panes of the default tmux server: Cannot run ".*no-tmux": tmux is not installed or not on PATH/
        .test(e.message),
  );
});

/** A real engine on a local transport in `dir`, its API app, and tokens of every kind. */
function engineIn(dir: string) {
  return engineWithApi(dir, {
    yaml: "providers:\n  test:\n    models:\n      reviewer: echo\n",
    agentModel: "test/reviewer",
    liveName: "claude",
  });
}

Deno.test("GET /api/tmux-agents/candidates proposes each free pane with its target, guessed agent and a unique name, and reports registered panes and live sessions' panes as taken", async () => {
  await using dir = await tempDir();
  const folder = await Deno.realPath(dir.path);
  await using tmux = new TmuxServer(dir.path);
  await using api = await engineIn(dir.path);
  const claude = await tmux.program("0", "2.1.112", folder);
  const aider = await tmux.program("My App!", "aider", folder);
  const codex = await tmux.program("guest", "codex", folder);
  const typist = await tmux.program("typist-pane", "grok", folder);
  const live = await tmux.program("mcp", "gemini", folder);
  // A session of two panes: the second runs a shell.
  const work = await tmux.program("work", "qwen", folder);
  const shell = await tmux.run(
    ...["split-window", "-t", "=work:", "-c", folder, "-P", "-F", "#{pane_id}", "--", "sh"],
  );
  await tmux.running(shell, "sh");
  // A pane whose program ended, kept by remain-on-exit.
  await tmux.run("set-option", "-gw", "remain-on-exit", "on");
  const dead = await tmux.run(
    ...["new-session", "-d", "-s", "gone", "-P", "-F", "#{pane_id}", "--", "true"],
  );
  await waitUntil(async () =>
    (await tmux.run("display-message", "-p", "-t", dead, "#{pane_dead}")) === "1"
  );

  // Registered through a link to the socket: the same server under another path.
  await Deno.symlink(tmux.socket, join(dir.path, "link.sock"));
  const registered = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", {
    name: "typist",
    target: "typist-pane",
    socket: join(dir.path, "link.sock"),
  });
  assert.equal(registered.status, 201, JSON.stringify(registered.json));
  // A live session in a pane (`crosstalk mcp` records $TMUX_PANE), and one that left.
  await api.engine.registerLive({ name: "gem", agent: "gemini", wake: "tmux", tmux: live }, "boss");
  const left = await api.engine.registerLive(
    { name: "old", agent: "codex", wake: "pull", tmux: work },
    "boss",
  );
  await api.engine.live.leave(left.agent.name);

  const r = await api.call(
    api.tokens.admin,
    "GET",
    `/api/tmux-agents/candidates?socket=${encodeURIComponent(tmux.socket)}`,
  );
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.socket, tmux.socket);
  const byPane = new Map((r.json.candidates as TmuxCandidate[]).map((c) => [c.pane, c]));
  const pick = (pane: string) => {
    const c = byPane.get(pane);
    assert.ok(c, `${pane} listed`);
    return [c.target, c.agent, c.name, c.taken?.by ?? null, c.taken?.name ?? null];
  };
  assert.deepEqual(pick(claude), ["0", "claude", "claude-2", null, null]);
  assert.deepEqual(pick(aider), [aider, "aider", "My-App", null, null]);
  assert.deepEqual(pick(codex), ["guest", "codex", "guest-2", null, null]);
  assert.deepEqual(pick(typist), ["typist-pane", "grok", null, "tmux-agent", "typist"]);
  assert.deepEqual(pick(live), ["mcp", "gemini", null, "live-session", "gem"]);
  assert.deepEqual(pick(work), [work, "qwen", "work", null, null]);
  assert.deepEqual(pick(shell), [shell, "shell", "work-2", null, null]);
  assert.deepEqual(pick(dead), ["gone", "tmux", null, null, null]);
  assert.equal(byPane.get(dead)!.dead, true);
  assert.equal(byPane.get(shell)!.command, "sh");
  assert.equal(byPane.get(shell)!.folder, folder);
  assert.deepEqual(
    { session: byPane.get(shell)!.session, window: byPane.get(shell)!.window },
    { session: "work", window: 0 },
  );
  assert.equal(byPane.get(shell)!.pane_index, 1);
  assert.equal(byPane.size, 8);

  // The caller's own pane is listed, never proposed; nothing was registered by asking.
  const own = await api.call(
    api.tokens.admin,
    "GET",
    `/api/tmux-agents/candidates?socket=${encodeURIComponent(tmux.socket)}&own=${
      encodeURIComponent(shell)
    }`,
  );
  const mine = (own.json.candidates as TmuxCandidate[]).find((c) => c.pane === shell);
  assert.equal(mine?.own, true);
  assert.equal(mine?.name, null);
  const list = await api.call(api.tokens.admin, "GET", "/api/tmux-agents");
  assert.deepEqual(list.json.agents.map((a: { name: string }) => a.name), ["typist"]);
});

Deno.test("GET /api/tmux-agents/candidates is an admin's, refuses a bad socket or own pane, and lists nothing where no tmux server runs", async () => {
  await using dir = await tempDir();
  await using api = await engineIn(dir.path);
  const path = `/api/tmux-agents/candidates?socket=${encodeURIComponent(join(dir.path, "x"))}`;
  for (const token of [api.tokens.live, api.tokens.agent]) {
    const r = await api.call(token, "GET", path);
    assert.equal(r.status, 403);
    assert.match(r.json.error.message, /Only a user's token may list tmux pane candidates/);
  }
  const guest = await api.call(api.tokens.user, "GET", path);
  assert.equal(guest.status, 403);
  assert.equal(guest.json.error.code, "ERR_FORBIDDEN");
  assert.match(guest.json.error.message, /Only an admin may list tmux pane candidates/);

  const bad: [string, RegExp][] = [
    ["socket=relative.sock", /Invalid tmux socket "relative.sock"/],
    [`socket=${encodeURIComponent("/tmp/../x")}`, /Invalid tmux socket/],
    ["socket=", /Invalid tmux socket ""/],
    [`own=${encodeURIComponent("%1; x")}`, /Invalid own pane "%1; x": a pane id like %3/],
  ];
  for (const [query, message] of bad) {
    const r = await api.call(api.tokens.admin, "GET", `/api/tmux-agents/candidates?${query}`);
    assert.equal(r.status, 400, query);
    assert.equal(r.json.error.code, "ERR_BODY_INVALID", query);
    assert.match(r.json.error.message, message, query);
  }
  const none = await api.call(api.tokens.admin, "GET", path);
  assert.equal(none.status, 200);
  assert.deepEqual(none.json, { socket: join(dir.path, "x"), candidates: [] });
});

Deno.test("GET /api/tmux-agents/candidates counts a live session's pane as taken only on the tmux server the session recorded; a session that recorded none, on every server", async () => {
  await using dir = await tempDir();
  const folder = await Deno.realPath(dir.path);
  await Deno.mkdir(join(dir.path, "a"));
  await Deno.mkdir(join(dir.path, "b"));
  await using a = new TmuxServer(join(dir.path, "a"));
  await using b = new TmuxServer(join(dir.path, "b"));
  await using api = await engineIn(dir.path);
  // Each server numbers its own panes: both have a %0 and a %1.
  for (const server of [a, b]) {
    assert.equal(await server.program("one", "codex", folder), "%0");
    assert.equal(await server.program("two", "aider", folder), "%1");
  }
  // A session in %0 of server a, as `crosstalk mcp` registers it inside tmux.
  const registered = await api.call(api.tokens.admin, "POST", "/api/live", {
    name: "gem",
    agent: "gemini",
    wake: "pull",
    tmux: "%0",
    tmux_socket: a.socket,
  });
  assert.equal(registered.status, 201, JSON.stringify(registered.json));
  assert.ok(!("tmux_socket" in registered.json.agent), "the socket stays on this machine");
  // One that recorded no server (an older crosstalk mcp), in %1.
  await api.engine.registerLive({ name: "old", agent: "codex", wake: "pull", tmux: "%1" }, "boss");

  const taken = async (server: TmuxServer) => {
    const r = await api.call(
      api.tokens.admin,
      "GET",
      `/api/tmux-agents/candidates?socket=${encodeURIComponent(server.socket)}`,
    );
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return (r.json.candidates as TmuxCandidate[]).map((c) => [c.pane, c.taken?.name ?? c.name]);
  };
  assert.deepEqual(await taken(a), [["%0", "gem"], ["%1", "old"]]);
  assert.deepEqual(await taken(b), [["%0", "one"], ["%1", "old"]]);

  const bad = await api.call(api.tokens.admin, "POST", "/api/live", {
    agent: "gemini",
    tmux: "%0",
    tmux_socket: "relative.sock",
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, "ERR_BODY_INVALID");
  assert.match(bad.json.error.message, /Invalid tmux socket "relative.sock"/);
});

Deno.test("GET /api/tmux-agents/candidates names an agent CLI run by node after its script or package, not after node", async () => {
  await using dir = await tempDir();
  const folder = await Deno.realPath(dir.path);
  await using tmux = new TmuxServer(dir.path);
  await using api = await engineIn(dir.path);
  const idle = "setInterval(() => {}, 1 << 30);\n";
  const packaged = join(folder, "lib", "node_modules", "@google", "gemini-cli", "dist", "index.js");
  await Deno.mkdir(join(packaged, ".."), { recursive: true });
  await Deno.writeTextFile(packaged, idle);
  // An npm bin link runs under its #! line: the process is `node <the link's path>`.
  const bin = join(folder, "bin", "qwen");
  await Deno.mkdir(join(bin, ".."));
  await Deno.writeTextFile(bin, `#!/usr/bin/env node\n${idle}`, { mode: 0o755 });
  const other = join(folder, "server.js");
  await Deno.writeTextFile(other, idle);
  const start = async (name: string, ...command: string[]) => {
    const pane = await tmux.run(
      ...["new-session", "-d", "-s", name, "-c", folder, "-P", "-F", "#{pane_id}", "--"],
      ...command,
    );
    return await tmux.running(pane, "node").then(() => pane);
  };
  const gemini = await start("g", "node", packaged);
  const qwen = await start("q", bin);
  const server = await start("s", "node", other);

  const r = await api.call(
    api.tokens.admin,
    "GET",
    `/api/tmux-agents/candidates?socket=${encodeURIComponent(tmux.socket)}`,
  );
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const byPane = new Map((r.json.candidates as TmuxCandidate[]).map((c) => [c.pane, c]));
  assert.deepEqual(
    [gemini, qwen, server].map((pane) => [byPane.get(pane)?.command, byPane.get(pane)?.agent]),
    [["node", "gemini"], ["node", "qwen"], ["node", "tmux"]],
  );
});

// `crosstalk chat`: an agent CLI started in the terminal with the crosstalk MCP server on its
// command line (opencode: in its environment). The agent CLIs here are a script that reads its
// arguments and environment as claude, codex and opencode do.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cliEnv, MAIN, runCrosstalk, tempDir } from "../_helpers.ts";
import { EngineProcess, makeTransport, namedTransport, openBus } from "../engine/_harness.ts";
import { startTeam } from "./_live.ts";
import { chatLaunch, systemDefaultsPath } from "../../engine/agent_chat.ts";
import { CrosstalkError } from "../../schema/errors.ts";

const FAKE = fileURLToPath(new URL("../testdata/chat/fake_agent.ts", import.meta.url));

/** A folder with `claude`, `codex`, `opencode`, `gemini` and `qwen` on it, all the fake agent. */
async function fakeAgents(dir: string): Promise<string> {
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  for (const name of ["claude", "codex", "opencode", "gemini", "qwen"]) {
    await Deno.writeTextFile(
      join(bin, name),
      `#!/bin/sh\nFAKE_AGENT=${name} exec "${Deno.execPath()}" run -A --quiet "${FAKE}" "$@"\n`,
      { mode: 0o755 },
    );
  }
  return bin;
}

Deno.test("chatLaunch gives claude the server as --mcp-config JSON with channel push, codex as -c overrides, gemini and qwen a settings file", () => {
  const entry = { command: "/opt/crosstalk", args: ["mcp", "--agent", "claude", "--name", "a b"] };
  assert.deepEqual(chatLaunch("claude", entry, { args: ["--model", "opus"] }), {
    argv: [
      "claude",
      "--mcp-config",
      '{"mcpServers":{"crosstalk":{"command":"/opt/crosstalk","args":["mcp","--agent","claude","--name","a b"]}}}',
      "--dangerously-load-development-channels",
      "server:crosstalk",
      "--model",
      "opus",
    ],
    env: {},
  });
  assert.deepEqual(chatLaunch("codex", { ...entry, env_vars: ["TMUX", "TMUX_PANE"] }), {
    argv: [
      "codex",
      "-c",
      'mcp_servers.crosstalk.command="/opt/crosstalk"',
      "-c",
      'mcp_servers.crosstalk.args=["mcp","--agent","claude","--name","a b"]',
      "-c",
      'mcp_servers.crosstalk.env_vars=["TMUX","TMUX_PANE"]',
    ],
    env: {},
  });
  // Gemini CLI and Qwen Code: a system defaults file of the session's own, named by a variable.
  const gemini = chatLaunch("gemini", entry, {
    args: ["--yolo"],
    systemDefaults: { path: "/etc/gemini-cli/system-defaults.json", text: '{"ui": {"x": 1}}' },
  });
  assert.deepEqual(gemini.argv, ["gemini", "--yolo"]);
  assert.equal(gemini.settings?.variable, "GEMINI_CLI_SYSTEM_DEFAULTS_PATH");
  assert.deepEqual(JSON.parse(gemini.settings!.text), {
    ui: { x: 1 },
    mcpServers: { crosstalk: { command: entry.command, args: entry.args } },
  });
  // Comments, as Gemini CLI allows in its settings, are read (and not written back).
  const commented = chatLaunch("gemini", entry, {
    systemDefaults: { path: "/x.json", text: '// managed by IT\n{"ui": {"x": 1} /* theme */}' },
  });
  assert.deepEqual(JSON.parse(commented.settings!.text).ui, { x: 1 });
  const qwen = chatLaunch("qwen", entry);
  assert.equal(qwen.settings?.variable, "QWEN_CODE_SYSTEM_DEFAULTS_PATH");
  for (const text of ["[]", "{not json", '{"mcpServers": 3}']) {
    assert.throws(
      () => chatLaunch("qwen", entry, { systemDefaults: { path: "/x.json", text } }),
      /Cannot add the crosstalk MCP server to the system defaults "\/x\.json"/,
      text,
    );
  }
});

Deno.test("systemDefaultsPath is the file the variable names, else the place of each system", () => {
  assert.equal(systemDefaultsPath("gemini", {}, "linux"), "/etc/gemini-cli/system-defaults.json");
  assert.equal(
    systemDefaultsPath("qwen", {}, "darwin"),
    "/Library/Application Support/QwenCode/system-defaults.json",
  );
  assert.equal(
    systemDefaultsPath("gemini", { GEMINI_CLI_SYSTEM_DEFAULTS_PATH: "/mine.json" }, "linux"),
    "/mine.json",
  );
  // Without it, the one beside the system settings file that their other variable names.
  assert.equal(
    systemDefaultsPath("gemini", { GEMINI_CLI_SYSTEM_SETTINGS_PATH: "/opt/g/settings.json" }),
    "/opt/g/system-defaults.json",
  );
  assert.equal(
    systemDefaultsPath("qwen", {
      QWEN_CODE_SYSTEM_SETTINGS_PATH: "/opt/q/settings.json",
      QWEN_CODE_SYSTEM_DEFAULTS_PATH: "",
    }),
    "/opt/q/system-defaults.json",
  );
  assert.equal(
    systemDefaultsPath("qwen", {
      QWEN_CODE_SYSTEM_SETTINGS_PATH: "/opt/q/settings.json",
      QWEN_CODE_SYSTEM_DEFAULTS_PATH: "/q.json",
    }),
    "/q.json",
  );
});

Deno.test("chatLaunch gives opencode the server in OPENCODE_CONFIG_CONTENT, merged into the object it already holds", () => {
  const entry = { command: "/opt/crosstalk", args: ["mcp", "--agent", "opencode"] };
  const server = {
    type: "local",
    command: ["/opt/crosstalk", "mcp", "--agent", "opencode"],
    enabled: true,
  };
  const fresh = chatLaunch("opencode", entry, { args: ["--continue"], env: {} });
  assert.deepEqual(fresh.argv, ["opencode", "--continue"]);
  assert.deepEqual(Object.keys(fresh.env), ["OPENCODE_CONFIG_CONTENT"]);
  assert.deepEqual(JSON.parse(fresh.env.OPENCODE_CONFIG_CONTENT!), { mcp: { crosstalk: server } });
  assert.deepEqual(
    chatLaunch("opencode", entry, { env: { OPENCODE_CONFIG_CONTENT: "  " } }).env,
    fresh.env,
    "an empty variable holds nothing",
  );

  const held = {
    model: "anthropic/claude-sonnet-4",
    mcp: { docs: { type: "remote", url: "https://docs.example" }, crosstalk: { type: "x" } },
  };
  const merged = chatLaunch("opencode", entry, {
    env: { OPENCODE_CONFIG_CONTENT: JSON.stringify(held) },
  });
  assert.deepEqual(JSON.parse(merged.env.OPENCODE_CONFIG_CONTENT!), {
    model: held.model,
    mcp: { docs: held.mcp.docs, crosstalk: server },
  });

  const refused: [string, RegExp][] = [
    ["{nope", /\$OPENCODE_CONFIG_CONTENT: it is not JSON \(.+\) \(fix or unset it\)/],
    ["[1]", /\$OPENCODE_CONFIG_CONTENT: it is not a JSON object/],
    ['{"mcp": true}', /\$OPENCODE_CONFIG_CONTENT: its "mcp" is not an object/],
  ];
  for (const [value, pattern] of refused) {
    assert.throws(
      () => chatLaunch("opencode", entry, { env: { OPENCODE_CONFIG_CONTENT: value } }),
      (error: unknown) =>
        error instanceof CrosstalkError && error.code === "ERR_USAGE" &&
        pattern.test(error.message),
    );
  }
});

Deno.test("crosstalk chat starts the agent CLI on the bus: what the user types goes out through its MCP server", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using engine = await startTeam(home);
  const bin = await fakeAgents(home);
  const env = { PATH: `${bin}:${Deno.env.get("PATH")}`, FAKE_SEND_TO: "boss", FAKE_EXIT: "3" };

  const claude = await runCrosstalk(
    ["chat", "claude", "--containername", "team", "--name", "pair", "--", "--model", "opus"],
    { home, env, stdin: "hello from the keyboard\n" },
  );
  assert.equal(claude.code, 3, `the agent's exit code\n${claude.stderr}`);
  const ref = /^claude \(channel push offered\): sent ([0-9a-f-]{36}\/\S+)$/m.exec(claude.stdout);
  assert.ok(ref, claude.stdout + claude.stderr);
  // In tmux: Codex hides most of its environment from MCP servers, but passes on the pane.
  const codex = await runCrosstalk(["chat", "codex", "--containername", "team"], {
    home,
    env: { ...env, FAKE_EXIT: "0", TMUX: "/tmp/tmux-0/default,1,0", TMUX_PANE: "%42" },
    stdin: "codex here\n",
  });
  assert.equal(codex.code, 0, codex.stderr);
  assert.match(codex.stdout, /^codex \(channel push offered\): sent /m);
  const online = await engine.waitFor((r) => r.event === "live.online" && r.agent === "codex");
  assert.equal(online.tmux, "%42", "the session knows its pane");
  assert.equal(online.wake, "tmux");

  await using bus = await openBus(namedTransport(home).root);
  const sent = await bus.findMessage(ref[1]!);
  assert.equal(sent.from, "pair", "the session's name on the bus");
  assert.deepEqual(sent.to, ["boss"]);
  assert.equal(sent.body, "hello from the keyboard --model opus", "typed text and passed args");
  const all = (await bus.listMessages(undefined, {})).messages;
  assert.ok(all.some((m) => m.from.startsWith("codex-") && m.body.startsWith("codex here")));
});

Deno.test("crosstalk chat --role --model --wake --allow: the session registers with that role, model and wake; a bad role starts nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using engine = await startTeam(home);
  const bin = await fakeAgents(home);
  const env = { PATH: `${bin}:${Deno.env.get("PATH")}`, FAKE_SEND_TO: "boss", FAKE_EXIT: "0" };
  const chat = await runCrosstalk([
    ...["chat", "codex", "--containername", "team", "--name", "rev"],
    ...["--role", "reviewer", "--model", "gpt-5", "--wake", "pull", "--allow", "test/reply"],
  ], { home, env, stdin: "ready\n" });
  assert.equal(chat.code, 0, chat.stderr);
  const online = await engine.waitFor((r) => r.event === "live.online" && r.name === "rev");
  assert.equal(online.role, "reviewer");
  assert.equal(online.model, "gpt-5");
  assert.equal(online.wake, "pull");

  const bad = await runCrosstalk(
    ["chat", "codex", "--containername", "team", "--role", "x;y"],
    { home, env },
  );
  assert.equal(bad.code, 64, bad.stderr);
  assert.match(bad.stderr, /Invalid --role "x;y"/);
});

Deno.test("crosstalk chat opencode puts its MCP server in OPENCODE_CONFIG_CONTENT, keeping what the variable held", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using engine = await startTeam(home, { yaml: "" });
  const bin = await fakeAgents(home);
  const held = { theme: "tokyonight", mcp: { docs: { type: "remote", url: "https://d.example" } } };
  const env = {
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    FAKE_SEND_TO: "boss",
    OPENCODE_CONFIG_CONTENT: JSON.stringify(held),
  };

  const opencode = await runCrosstalk(
    ["chat", "opencode", "--containername", "team", "--name", "oc", "--", "--continue"],
    { home, env, stdin: "hello from opencode\n" },
  );
  assert.equal(opencode.code, 0, opencode.stderr);
  assert.match(opencode.stdout, /^opencode keeps: (.+)$/m);
  assert.deepEqual(JSON.parse(/^opencode keeps: (.+)$/m.exec(opencode.stdout)![1]!), held);
  const ref = /^opencode \(channel push \w+\): sent ([0-9a-f-]{36}\/\S+)$/m.exec(opencode.stdout);
  assert.ok(ref, opencode.stdout + opencode.stderr);
  const online = await engine.waitFor((r) => r.event === "live.online" && r.name === "oc");
  assert.equal(online.agent, "opencode");
  assert.equal(online.wake, "pull", "opencode takes no channel push, and this is not in tmux");

  // opencode gives a local server its whole environment: in tmux, the session is woken in its pane.
  const inTmux = await runCrosstalk([
    "chat",
    "opencode",
    "--containername",
    "team",
    "--name",
    "oc2",
  ], {
    home,
    env: { ...env, TMUX: "/tmp/tmux-0/default,1,0", TMUX_PANE: "%9" },
    stdin: "from the pane\n",
  });
  assert.equal(inTmux.code, 0, inTmux.stderr);
  const paned = await engine.waitFor((r) => r.event === "live.online" && r.name === "oc2");
  assert.equal(paned.wake, "tmux");
  assert.equal(paned.tmux, "%9");

  await using bus = await openBus(namedTransport(home).root);
  const sent = await bus.findMessage(ref[1]!);
  assert.equal(sent.from, "oc");
  assert.deepEqual(sent.to, ["boss"]);
  assert.equal(sent.body, "hello from opencode --continue", "typed text and passed args");

  const broken = await runCrosstalk(["chat", "opencode", "--containername", "team"], {
    home,
    env: { ...env, OPENCODE_CONFIG_CONTENT: "{not json" },
    stdin: "never read\n",
  });
  assert.equal(broken.code, 64);
  assert.match(broken.stderr, /\$OPENCODE_CONFIG_CONTENT: it is not JSON/);
  assert.equal(broken.stdout, "", "opencode was not started");
});

Deno.test("crosstalk chat gemini and qwen put the MCP server in a system defaults file of the session's own, keeping the one they read", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using engine = await startTeam(home, { yaml: "" });
  const bin = await fakeAgents(home);
  const base = join(home, "system-defaults.json");
  const held = {
    ui: { theme: "corporate" },
    mcpServers: { docs: { httpUrl: "https://d.example" } },
  };
  await Deno.writeTextFile(base, JSON.stringify(held));
  const env = {
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    FAKE_SEND_TO: "boss",
    GEMINI_CLI_SYSTEM_DEFAULTS_PATH: base,
  };
  const gemini = await runCrosstalk(
    ["chat", "gemini", "--containername", "team", "--name", "gem", "--", "--yolo"],
    { home, env, stdin: "hello from gemini\n" },
  );
  assert.equal(gemini.code, 0, gemini.stderr);
  assert.deepEqual(JSON.parse(/^gemini keeps: (.+)$/m.exec(gemini.stdout)![1]!), held);
  const [, file, mode] = /^gemini settings: (\S+) mode (\d+)$/m.exec(gemini.stdout)!;
  assert.notEqual(file, base, "the user's file is not touched");
  assert.equal(mode, "600");
  await assert.rejects(Deno.stat(file!), Deno.errors.NotFound, "gone with the session");
  assert.equal(await Deno.readTextFile(base), JSON.stringify(held));
  const online = await engine.waitFor((r) => r.event === "live.online" && r.name === "gem");
  assert.equal(online.agent, "gemini");
  const ref = /^gemini \(channel push \w+\): sent ([0-9a-f-]{36}\/\S+)$/m.exec(gemini.stdout);
  assert.ok(ref, gemini.stdout + gemini.stderr);
  await using bus = await openBus(namedTransport(home).root);
  const sent = await bus.findMessage(ref[1]!);
  assert.equal(sent.from, "gem");
  assert.equal(sent.body, "hello from gemini --yolo");

  // Qwen Code, with no system defaults file where its variable points: one of crosstalk's alone.
  const qwen = await runCrosstalk(["chat", "qwen", "--containername", "team", "--name", "qw"], {
    home,
    env: { ...env, QWEN_CODE_SYSTEM_DEFAULTS_PATH: join(home, "none.json") },
    stdin: "hello from qwen\n",
  });
  assert.equal(qwen.code, 0, qwen.stderr);
  assert.deepEqual(JSON.parse(/^qwen keeps: (.+)$/m.exec(qwen.stdout)![1]!), { mcpServers: {} });
  assert.match(qwen.stdout, /^qwen \(channel push \w+\): sent /m);

  // A system defaults file that is no JSON: refused before anything starts, naming where.
  await Deno.writeTextFile(base, "// managed\n{ui: 1}");
  const broken = await runCrosstalk(["chat", "gemini", "--containername", "team"], {
    home,
    env,
    stdin: "never read\n",
  });
  assert.equal(broken.code, 64);
  assert.match(
    broken.stderr,
    /Cannot add the crosstalk MCP server to the system defaults ".*system-defaults\.json": it is not JSON \(.* at line 2, column 2\)/,
  );
  assert.equal(broken.stdout, "", "gemini was not started");
});

Deno.test("crosstalk chat gemini, ended by SIGTERM or a hangup, ends its agent and removes its settings file", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using engine = await startTeam(home, { yaml: "" });
  const bin = await fakeAgents(home);
  for (const [agent, signal] of [["gemini", "SIGTERM"], ["qwen", "SIGHUP"]] as const) {
    const name = `${agent}-${signal.toLowerCase()}`;
    const chat = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        MAIN,
        "chat",
        agent,
        "--containername",
        "team",
        "--name",
        name,
      ],
      cwd: home,
      clearEnv: true,
      env: cliEnv({
        home,
        env: {
          PATH: `${bin}:${Deno.env.get("PATH")}`,
          FAKE_SEND_TO: "boss",
          GEMINI_CLI_SYSTEM_DEFAULTS_PATH: join(home, "none.json"),
          QWEN_CODE_SYSTEM_DEFAULTS_PATH: join(home, "none.json"),
        },
      }),
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // The agent waits for what the user types, with its MCP server on the bus.
    let out = "";
    const lines = chat.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let file: RegExpExecArray | null = null;
    while (!(file = new RegExp(`^${agent} settings: (\\S+) `, "m").exec(out))) {
      const { value, done } = await lines.read();
      assert.ok(!done, out);
      out += value;
    }
    await engine.waitFor((r) => r.event === "live.online" && r.name === name);
    await Deno.stat(file[1]!);

    chat.kill(signal);
    const offline = engine.waitFor((r) => r.event === "live.offline" && r.name === name);
    const status = await chat.status;
    // Never read: an agent left running would read it, send it and only then end.
    await chat.stdin.close().catch(() => {});
    await lines.cancel();
    assert.notEqual(status.code, 0);
    await assert.rejects(Deno.stat(file[1]!), Deno.errors.NotFound, `${signal}: the file went`);
    await offline;
  }
  await using bus = await openBus(namedTransport(home).root);
  const sent = (await bus.listMessages(undefined, {})).messages.filter((m) => m.from !== "boss");
  assert.deepEqual(sent, [], "the agents ended with crosstalk chat, before anything was typed");
});

Deno.test("crosstalk chat gemini removes the settings files a chat killed outright left, and no other", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home, { yaml: "" });
  const bin = await fakeAgents(home);
  const chatDir = join(namedTransport(home).state, "chat");
  await Deno.mkdir(chatDir, { recursive: true });
  // A process that has ended: its pid names no process now.
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const left = join(chatDir, `qwen-${gone.pid}.json`);
  const running = join(chatDir, `gemini-${Deno.pid}.json`);
  const other = join(chatDir, "notes.json");
  for (const file of [left, running, other]) await Deno.writeTextFile(file, "{}");

  const chat = await runCrosstalk(["chat", "gemini", "--containername", "team", "--name", "gem"], {
    home,
    env: {
      PATH: `${bin}:${Deno.env.get("PATH")}`,
      FAKE_SEND_TO: "boss",
      GEMINI_CLI_SYSTEM_DEFAULTS_PATH: join(home, "none.json"),
    },
    stdin: "hello\n",
  });
  assert.equal(chat.code, 0, chat.stderr);
  await assert.rejects(Deno.stat(left), Deno.errors.NotFound, "the dead chat's file went");
  await Deno.stat(running);
  await Deno.stat(other);
});

Deno.test("crosstalk chat says what is missing: no engine running, or no agent CLI on PATH", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root } = namedTransport(home);
  await makeTransport(root, "");
  const noEngine = await runCrosstalk(
    ["chat", "claude", "--containername", "team", "--no-start"],
    { home },
  );
  assert.notEqual(noEngine.code, 0);
  assert.match(noEngine.stderr, /crosstalk serve|server start/);
  await using _engine = await EngineProcess.start(root, {
    alias: "a",
    state: namedTransport(home).state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await _engine.waitFor((r) => r.event === "api.listening");
  const noCli = await runCrosstalk(["chat", "claude", "--containername", "team"], {
    home,
    env: { PATH: "/nonexistent" },
  });
  assert.equal(noCli.code, 66);
  assert.match(noCli.stderr, /Cannot start claude: it is not on PATH/);
});

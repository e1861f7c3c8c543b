// `crosstalk agent install | uninstall` through the real CLI, with HOME, CODEX_HOME,
// XDG_CONFIG_HOME and the current folder in temp dirs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { MAIN, tempDir } from "../_helpers.ts";
import { expectCode } from "./_cli.ts";
import { V8_FLAGS } from "../../engine/which.ts";

interface Entry {
  command: string;
  args: string[];
  env_vars?: string[];
}

/** A home, a project folder and a CODEX_HOME, all inside one temp dir. */
async function world() {
  const dir = await tempDir();
  const home = join(dir.path, "home");
  const project = join(dir.path, "project");
  const codexHome = join(dir.path, "codex");
  await Deno.mkdir(home);
  await Deno.mkdir(project);
  const run = (code: number, args: string[], env: Record<string, string> = {}) =>
    expectCode(code, args, { home, cwd: project, env: { CODEX_HOME: codexHome, ...env } });
  return { dir, home, project, codexHome, run };
}

/** Asserts the entry re-invokes this crosstalk (deno run -A main.ts) with `mcpArgs`. */
async function assertStartsCrosstalk(entry: Entry, mcpArgs: string[]): Promise<void> {
  assert.ok((await Deno.stat(entry.command)).isFile, `${entry.command} is not a file`);
  assert.deepEqual(entry.args, ["run", "-A", V8_FLAGS, MAIN, ...mcpArgs]);
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path)) as Record<string, unknown>;
}

function serverOf(config: Record<string, unknown>): Entry {
  return (config.mcpServers as Record<string, Entry>).crosstalk!;
}

Deno.test("agent install claude writes .mcp.json in the current folder and says how to start Claude Code", async () => {
  const w = await world();
  await using _ = w.dir;
  const out = await w.run(0, ["agent", "install", "claude", "--name", "reviewer"]);
  const path = join(w.project, ".mcp.json");
  assert.match(out.stdout, new RegExp(`Installed the crosstalk MCP server in ${path}`));
  assert.match(out.stdout, /claude --dangerously-load-development-channels server:crosstalk/);
  const config = await readJson(path);
  assert.deepEqual(Object.keys(config.mcpServers as object), ["crosstalk"]);
  await assertStartsCrosstalk(serverOf(config), ["mcp", "--agent", "claude", "--name", "reviewer"]);

  const again = await w.run(0, ["agent", "install", "claude", "--name", "reviewer"]);
  assert.match(again.stdout, /already installed/);
});

Deno.test("agent install claude --scope user adds to ~/.claude.json, keeping its other keys and its 0600 mode", async () => {
  const w = await world();
  await using _ = w.dir;
  const path = join(w.home, ".claude.json");
  const before = {
    numStartups: 12,
    projects: { "/w": { allowedTools: ["Bash"] } },
    mcpServers: { docs: { type: "stdio", command: "docs", args: [] } },
  };
  await Deno.writeTextFile(path, `${JSON.stringify(before, null, 2)}\n`, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  await w.run(0, ["agent", "install", "claude", "--scope", "user"]);
  const config = await readJson(path);
  assert.deepEqual(config.projects, before.projects);
  assert.equal(config.numStartups, 12);
  assert.deepEqual((config.mcpServers as Record<string, unknown>).docs, before.mcpServers.docs);
  await assertStartsCrosstalk(serverOf(config), ["mcp", "--agent", "claude"]);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);

  await w.run(0, ["agent", "uninstall", "claude", "--scope", "user"]);
  assert.deepEqual(await readJson(path), before);
});

Deno.test("agent install codex appends the table to $CODEX_HOME/config.toml and keeps its comments", async () => {
  const w = await world();
  await using _ = w.dir;
  await Deno.mkdir(w.codexHome);
  const path = join(w.codexHome, "config.toml");
  const before = '# my settings\nmodel = "o3"\n\n[mcp_servers.docs]\ncommand = "docs"\n';
  await Deno.writeTextFile(path, before);
  const out = await w.run(0, ["agent", "install", "codex", "--name", "coder"]);
  assert.match(out.stdout, new RegExp(`in ${path} \\(user scope\\)`));
  assert.match(out.stdout, /^ {2}codex$/m);
  const text = await Deno.readTextFile(path);
  assert.ok(text.startsWith(before));
  const config = parseToml(text) as unknown as {
    model: string;
    mcp_servers: Record<string, Entry>;
  };
  assert.equal(config.model, "o3");
  assert.equal(config.mcp_servers.docs!.command, "docs");
  const entry = config.mcp_servers.crosstalk!;
  assert.deepEqual(entry.env_vars, ["TMUX", "TMUX_PANE"], "Codex passes the pane on");
  await assertStartsCrosstalk({ command: entry.command, args: [...entry.args] }, [
    "mcp",
    "--agent",
    "codex",
    "--name",
    "coder",
  ]);

  await w.run(0, ["agent", "uninstall", "codex"]);
  assert.equal(await Deno.readTextFile(path), before);
});

Deno.test("agent install codex refuses --scope project: Codex has only a user configuration", async () => {
  const w = await world();
  await using _ = w.dir;
  const out = await w.run(64, ["agent", "install", "codex", "--scope", "project"]);
  assert.match(out.stderr, /Codex has only a user configuration/);
  await assert.rejects(Deno.stat(join(w.codexHome, "config.toml")), Deno.errors.NotFound);
});

Deno.test("agent install gemini writes .gemini/settings.json in the project, or in the home with --scope user", async () => {
  const w = await world();
  await using _ = w.dir;
  const out = await w.run(0, ["agent", "install", "gemini"]);
  assert.match(out.stdout, /^ {2}gemini$/m);
  const project = await readJson(join(w.project, ".gemini", "settings.json"));
  await assertStartsCrosstalk(serverOf(project), ["mcp", "--agent", "gemini"]);

  const user = join(w.home, ".gemini", "settings.json");
  await Deno.mkdir(join(w.home, ".gemini"));
  await Deno.writeTextFile(user, '{\n  // chosen theme\n  "theme": "Dracula"\n}\n');
  await w.run(0, ["agent", "install", "gemini", "--scope", "user", "--name", "g1"]);
  const text = await Deno.readTextFile(user);
  assert.ok(text.startsWith('{\n  // chosen theme\n  "theme": "Dracula",\n  "mcpServers": {'));
  const config = JSON.parse(text.replace("// chosen theme", "")) as Record<string, unknown>;
  assert.equal(config.theme, "Dracula");
  await assertStartsCrosstalk(serverOf(config), ["mcp", "--agent", "gemini", "--name", "g1"]);
});

Deno.test("agent install qwen writes .qwen/settings.json (comments kept), in the project or the home, and uninstall takes only it out", async () => {
  const w = await world();
  await using _ = w.dir;
  const out = await w.run(0, ["agent", "install", "qwen", "--name", "q1"]);
  assert.match(out.stdout, /Start Qwen Code/);
  const project = await readJson(join(w.project, ".qwen", "settings.json"));
  await assertStartsCrosstalk(serverOf(project), ["mcp", "--agent", "qwen", "--name", "q1"]);

  const user = join(w.home, ".qwen", "settings.json");
  await Deno.mkdir(join(w.home, ".qwen"));
  const before = '{\n  // my model\n  "model": "qwen3-coder"\n}\n';
  await Deno.writeTextFile(user, before);
  await w.run(0, ["agent", "install", "qwen", "--scope", "user"]);
  const text = await Deno.readTextFile(user);
  assert.ok(
    text.startsWith('{\n  // my model\n  "model": "qwen3-coder",\n  "mcpServers": {'),
    text,
  );
  await w.run(0, ["agent", "uninstall", "qwen", "--scope", "user"]);
  assert.equal(
    await Deno.readTextFile(user),
    '{\n  // my model\n  "model": "qwen3-coder",\n  "mcpServers": {}\n}\n',
  );
});

/** An opencode entry's one command array as {command, args}; it has `enabled` when given. */
function opencodeServer(server: unknown, enabled?: boolean): Entry {
  const { type, command, ...rest } = server as { type: string; command: string[] };
  assert.equal(type, "local");
  assert.deepEqual(rest, enabled === undefined ? {} : { enabled });
  return { command: command[0]!, args: command.slice(1) };
}

Deno.test("agent install opencode writes opencode.json with its $schema, and says how opencode is woken", async () => {
  const w = await world();
  await using _ = w.dir;
  const out = await w.run(0, ["agent", "install", "opencode", "--name", "oc"]);
  const path = join(w.project, "opencode.json");
  assert.match(out.stdout, new RegExp(`Installed the crosstalk MCP server in ${path} \\(project`));
  assert.match(out.stdout, /^ {2}opencode$/m);
  assert.match(out.stdout, /inside tmux .* typed into its pane; otherwise .* reads and waits/s);
  const config = await readJson(path);
  assert.equal(config.$schema, "https://opencode.ai/config.json");
  const server = opencodeServer((config.mcp as Record<string, unknown>).crosstalk, true);
  await assertStartsCrosstalk(server, ["mcp", "--agent", "opencode", "--name", "oc"]);
  assert.match(
    (await w.run(0, ["agent", "install", "opencode", "--name", "oc"])).stdout,
    /already/,
  );

  await w.run(0, ["agent", "uninstall", "opencode"]);
  assert.deepEqual(await readJson(path), { $schema: "https://opencode.ai/config.json", mcp: {} });
});

Deno.test("agent install opencode --scope user writes under $XDG_CONFIG_HOME, else ~/.config", async () => {
  const w = await world();
  await using _ = w.dir;
  const xdg = join(w.dir.path, "xdg");
  await w.run(0, ["agent", "install", "opencode", "--scope", "user"], { XDG_CONFIG_HOME: xdg });
  const config = await readJson(join(xdg, "opencode", "opencode.json"));
  const server = opencodeServer((config.mcp as Record<string, unknown>).crosstalk, true);
  await assertStartsCrosstalk(server, ["mcp", "--agent", "opencode"]);

  const dir = join(w.home, ".config", "opencode");
  await Deno.mkdir(dir, { recursive: true });
  const before = '{\n  // mine\n  "theme": "tokyonight",\n}\n';
  await Deno.writeTextFile(join(dir, "opencode.jsonc"), before);
  const out = await w.run(0, ["agent", "install", "opencode", "--scope", "user"], {
    XDG_CONFIG_HOME: "",
  });
  assert.match(out.stdout, /opencode\.jsonc \(user scope\)/);
  const text = await Deno.readTextFile(join(dir, "opencode.jsonc"));
  assert.ok(text.startsWith('{\n  // mine\n  "theme": "tokyonight",\n  "mcp": {\n'), text);
  await assert.rejects(Deno.stat(join(dir, "opencode.json")), Deno.errors.NotFound);
});

Deno.test("agent install opencode edits the project's .opencode/opencode.jsonc in OpenCode 2's shape, and uninstall gives it back", async () => {
  const w = await world();
  await using _ = w.dir;
  const path = join(w.project, ".opencode", "opencode.jsonc");
  await Deno.mkdir(join(w.project, ".opencode"));
  const before = [
    "{",
    "  /* OpenCode 2 */",
    '  "mcp": {',
    '    "servers": {',
    '      "docs": { "type": "remote", "url": "https://docs.example" }, // docs',
    "    },",
    "  },",
    "}",
    "",
  ].join("\n");
  await Deno.writeTextFile(path, before);
  await w.run(0, ["agent", "install", "opencode", "--name", "two"]);
  await assert.rejects(Deno.stat(join(w.project, "opencode.json")), Deno.errors.NotFound);
  const text = await Deno.readTextFile(path);
  assert.ok(text.startsWith(before.slice(0, before.indexOf(" // docs"))), text);
  const plain = text.replace("/* OpenCode 2 */", "").replace("// docs", "")
    .replace(/,(\s*[}\]])/g, "$1");
  const servers = (JSON.parse(plain).mcp.servers) as Record<string, unknown>;
  assert.deepEqual(Object.keys(servers), ["docs", "crosstalk"]);
  await assertStartsCrosstalk(opencodeServer(servers.crosstalk), [
    "mcp",
    "--agent",
    "opencode",
    "--name",
    "two",
  ]);
  await w.run(0, ["agent", "uninstall", "opencode"]);
  assert.equal(await Deno.readTextFile(path), before);
});

Deno.test("agent install refuses a broken configuration with its line and column and leaves it byte for byte", async () => {
  const w = await world();
  await using _ = w.dir;
  await Deno.mkdir(w.codexHome);
  const cases: [string[], string, string, RegExp][] = [
    [["claude"], join(w.project, ".mcp.json"), '{\n  "mcpServers": {\n  }\n', /\.mcp\.json" 4:1/],
    [["claude", "--scope", "user"], join(w.home, ".claude.json"), '{"a": 1,}', /1:9/],
    [["codex"], join(w.codexHome, "config.toml"), 'model = "o3\n', /config\.toml" 1:\d+/],
    [["gemini"], join(w.project, ".gemini", "settings.json"), "{\n  /* open\n}", /2:3/],
    [
      ["opencode"],
      join(w.project, ".opencode", "opencode.jsonc"),
      '{\n  "mcp": {,},\n}',
      /opencode\.jsonc" 2:11/,
    ],
  ];
  for (const [args, path, text, where] of cases) {
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
    const before = await Deno.readFile(path);
    const out = await w.run(78, ["agent", "install", ...args, "--force"]);
    assert.match(out.stderr, where);
    assert.match(out.stderr, /nothing was changed/);
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(join(path, "..")))).map((e) => e.name).sort(),
      [path.split("/").at(-1)],
      "no temp file is left behind",
    );
    await w.run(78, ["agent", "uninstall", ...args]);
    assert.deepEqual(await Deno.readFile(path), before);
  }
});

Deno.test("agent install replaces a different crosstalk entry only with --force", async () => {
  const w = await world();
  await using _ = w.dir;
  const path = join(w.project, ".mcp.json");
  const before = '{\n  "mcpServers": {\n    "crosstalk": { "command": "old" }\n  }\n}\n';
  await Deno.writeTextFile(path, before);
  const refused = await w.run(73, ["agent", "install", "claude"]);
  assert.match(refused.stderr, /already has a different "crosstalk" MCP server.*--force/);
  assert.equal(await Deno.readTextFile(path), before);
  const out = await w.run(0, ["agent", "install", "claude", "--force"]);
  assert.match(out.stdout, /Replaced the crosstalk MCP server/);
  await assertStartsCrosstalk(serverOf(await readJson(path)), ["mcp", "--agent", "claude"]);
});

Deno.test("agent install --dry-run prints the path and the new content and writes nothing", async () => {
  const w = await world();
  await using _ = w.dir;
  const out = await w.run(0, ["agent", "install", "gemini", "--dry-run"]);
  const path = join(w.project, ".gemini", "settings.json");
  assert.ok(out.stdout.startsWith(`Would write ${path}:\n{\n  "mcpServers": {`));
  const printed = JSON.parse(out.stdout.slice(out.stdout.indexOf("\n") + 1));
  await assertStartsCrosstalk(serverOf(printed), ["mcp", "--agent", "gemini"]);
  await assert.rejects(Deno.stat(join(w.project, ".gemini")), Deno.errors.NotFound);
});

Deno.test("agent install passes the global --server on to crosstalk mcp", async () => {
  const w = await world();
  await using _ = w.dir;
  await w.run(0, ["--server", "http://127.0.0.1:7123", "agent", "install", "claude"]);
  await assertStartsCrosstalk(serverOf(await readJson(join(w.project, ".mcp.json"))), [
    "mcp",
    "--agent",
    "claude",
    "--server",
    "http://127.0.0.1:7123",
  ]);
});

Deno.test("agent install passes a named transport (--containername, or --path made absolute) on to crosstalk mcp", async () => {
  const w = await world();
  await using _ = w.dir;
  await w.run(0, ["agent", "install", "claude", "--containername", "team"]);
  await assertStartsCrosstalk(serverOf(await readJson(join(w.project, ".mcp.json"))), [
    "mcp",
    "--agent",
    "claude",
    "--containername",
    "team",
  ]);
  await w.run(0, ["agent", "install", "gemini", "--path", "bus"]);
  await assertStartsCrosstalk(
    serverOf(await readJson(join(w.project, ".gemini", "settings.json"))),
    ["mcp", "--agent", "gemini", "--path", join(w.project, "bus")],
  );
  const both = await w.run(64, [
    "agent",
    "install",
    "qwen",
    "--path",
    "bus",
    "--containername",
    "team",
  ]);
  assert.match(both.stderr, /either --path or --containername/);
});

Deno.test("agent install claude, codex and gemini --role --model --wake --allow write them into the crosstalk mcp command line", async () => {
  const w = await world();
  await using _ = w.dir;
  const flags = [
    ...["--name", "rev", "--role", "reviewer", "--model", "opus", "--wake", "tmux"],
    ...["--allow", "boss", "--allow", "test/reply,carol"],
  ];
  const mcpArgs = (agent: string) => [
    ...["mcp", "--agent", agent, "--name", "rev", "--model", "opus", "--role", "reviewer"],
    ...["--wake", "tmux", "--allow", "boss,test/reply,carol"],
  ];
  await w.run(0, ["agent", "install", "claude", ...flags]);
  await assertStartsCrosstalk(
    serverOf(await readJson(join(w.project, ".mcp.json"))),
    mcpArgs("claude"),
  );
  await w.run(0, ["agent", "install", "codex", ...flags]);
  const toml = parseToml(await Deno.readTextFile(join(w.codexHome, "config.toml"))) as unknown as {
    mcp_servers: Record<string, Entry>;
  };
  const codex = toml.mcp_servers.crosstalk!;
  await assertStartsCrosstalk({ command: codex.command, args: [...codex.args] }, mcpArgs("codex"));
  await w.run(0, ["agent", "install", "gemini", ...flags]);
  await assertStartsCrosstalk(
    serverOf(await readJson(join(w.project, ".gemini", "settings.json"))),
    mcpArgs("gemini"),
  );
});

Deno.test("agent install refuses a bad --role, --model, --wake or --allow, and writes nothing", async () => {
  const w = await world();
  await using _ = w.dir;
  const cases: [string[], number, RegExp][] = [
    [["--role", "a;b"], 64, /Invalid --role "a;b": 1 to 100 letters, digits, spaces/],
    [["--model", ""], 64, /Invalid --model "": 1 to 100 letters/],
    [["--wake", "webhook"], 64, /option '--wake <how>' argument 'webhook' is invalid/],
    [["--allow", "bo b"], 64, /Invalid --allow "bo b": a name, provider\/model/],
    [["--allow", ","], 64, /--allow needs at least one name/],
  ];
  for (const [flags, code, pattern] of cases) {
    const out = await w.run(code, ["agent", "install", "claude", ...flags]);
    assert.match(out.stderr, pattern, flags.join(" "));
  }
  await assert.rejects(Deno.stat(join(w.project, ".mcp.json")), Deno.errors.NotFound);
});

Deno.test("agent uninstall says when crosstalk is not installed, and agent install refuses an unknown CLI", async () => {
  const w = await world();
  await using _ = w.dir;
  const out = await w.run(0, ["agent", "uninstall", "claude"]);
  assert.match(out.stdout, /crosstalk is not installed in .*\.mcp\.json/);
  await assert.rejects(Deno.stat(join(w.project, ".mcp.json")), Deno.errors.NotFound);
  const unknown = await w.run(64, ["agent", "install", "aider"]);
  assert.match(
    unknown.stderr,
    /Unknown agent CLI "aider": use claude, codex, gemini, qwen or opencode/,
  );
  const badName = await w.run(65, ["agent", "install", "claude", "--name", "no spaces"]);
  assert.match(badName.stderr, /Invalid --name "no spaces"/);
});

/** Claude Code's settings as a person might have written them: their own layout, their hooks. */
const THEIR_SETTINGS = '{\n    "permissions": {"allow": ["Read"]},\n' +
  '    "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify"}]}]}\n}';

/** The hook groups crosstalk's `PreToolUse` holds in parsed settings. */
function approvalHooks(settings: Record<string, unknown>) {
  const hooks = settings.hooks as Record<string, unknown> | undefined;
  return (hooks?.PreToolUse ?? []) as {
    matcher: string;
    hooks: { type: string; command: string; timeout: number }[];
  }[];
}

Deno.test("agent install claude --approvals writes the MCP server to .mcp.json and the approval hook, for the same engine and transport, to .claude/settings.json beside it; uninstall takes both out and leaves the other settings byte for byte", async () => {
  const w = await world();
  await using _ = w.dir;
  const settingsPath = join(w.project, ".claude", "settings.json");
  await Deno.mkdir(join(w.project, ".claude"));
  await Deno.writeTextFile(settingsPath, THEIR_SETTINGS);
  const install = [
    ...["--server", "http://127.0.0.1:7123", "agent", "install", "claude", "--approvals"],
    ...["--wait", "30", "--containername", "team"],
  ];
  const out = await w.run(0, install);
  assert.match(
    out.stdout,
    new RegExp(`Installed the crosstalk MCP server in ${w.project}/\\.mcp\\.json`),
  );
  assert.match(out.stdout, new RegExp(`Installed the approval hook in ${settingsPath}`));
  await assertStartsCrosstalk(serverOf(await readJson(join(w.project, ".mcp.json"))), [
    ...["mcp", "--agent", "claude", "--server", "http://127.0.0.1:7123"],
    ...["--containername", "team"],
  ]);
  const settings = await readJson(settingsPath);
  assert.deepEqual(settings.permissions, { allow: ["Read"] });
  assert.deepEqual((settings.hooks as Record<string, unknown>).Stop, [
    { hooks: [{ type: "command", command: "notify" }] },
  ]);
  const [group, ...more] = approvalHooks(settings);
  assert.deepEqual(more, []);
  assert.equal(group!.matcher, "Bash|Write|Edit|MultiEdit");
  assert.equal(group!.hooks.length, 1);
  const { command, timeout } = group!.hooks[0]!;
  assert.ok(
    command.endsWith(
      ` ${MAIN} approval hook --wait 30 --server http://127.0.0.1:7123 --containername team`,
    ),
    command,
  );
  assert.equal(timeout, 60);

  // Again: the same hook, once.
  const again = await w.run(0, install);
  assert.match(again.stdout, /crosstalk is already installed in/);
  assert.match(again.stdout, /The approval hook is already installed in/);
  assert.equal(approvalHooks(await readJson(settingsPath)).length, 1);

  const removed = await w.run(0, ["agent", "uninstall", "claude"]);
  assert.match(removed.stdout, /Removed the crosstalk MCP server from /);
  assert.match(removed.stdout, new RegExp(`Removed the approval hook from ${settingsPath}`));
  assert.equal(await Deno.readTextFile(settingsPath), THEIR_SETTINGS);
  assert.deepEqual(await readJson(join(w.project, ".mcp.json")), { mcpServers: {} });

  // Without a hook, uninstall says nothing of one, and leaves the settings alone.
  const plain = await w.run(0, ["agent", "uninstall", "claude"]);
  assert.doesNotMatch(plain.stdout, /approval hook/);
  assert.equal(await Deno.readTextFile(settingsPath), THEIR_SETTINGS);
});

Deno.test("agent install claude --approvals --scope user writes ~/.claude.json and ~/.claude/settings.json, or both in $CLAUDE_CONFIG_DIR", async () => {
  const w = await world();
  await using _ = w.dir;
  await w.run(0, ["agent", "install", "claude", "--approvals", "--scope", "user"]);
  await assertStartsCrosstalk(serverOf(await readJson(join(w.home, ".claude.json"))), [
    ...["mcp", "--agent", "claude"],
  ]);
  const settingsPath = join(w.home, ".claude", "settings.json");
  const [group] = approvalHooks(await readJson(settingsPath));
  assert.match(group!.hooks[0]!.command, / approval hook --wait 120$/);
  assert.equal(group!.hooks[0]!.timeout, 150);
  assert.equal((await Deno.stat(settingsPath)).mode! & 0o777, 0o600, "settings may hold secrets");
  await assert.rejects(Deno.stat(join(w.project, ".claude")), Deno.errors.NotFound);
  const removed = await w.run(0, ["agent", "uninstall", "claude", "--scope", "user"]);
  assert.match(removed.stdout, /Removed the approval hook from .*\/home\/\.claude\/settings\.json/);
  assert.deepEqual(await readJson(settingsPath), {});

  const config = join(w.dir.path, "claude-config");
  await w.run(0, ["agent", "install", "claude", "--approvals", "--scope", "user"], {
    CLAUDE_CONFIG_DIR: config,
  });
  assert.ok(serverOf(await readJson(join(config, ".claude.json"))));
  assert.equal(approvalHooks(await readJson(join(config, "settings.json"))).length, 1);
});

Deno.test("agent install --approvals with another CLI than claude is a usage error naming why, and writes nothing", async () => {
  const w = await world();
  await using _ = w.dir;
  for (const cli of ["codex", "gemini", "qwen", "opencode"]) {
    const out = await w.run(64, ["agent", "install", cli, "--approvals"]);
    assert.match(
      out.stderr,
      new RegExp(
        `--approvals needs Claude Code: only it has a hook that asks before a tool runs .*; ${cli} has none`,
      ),
    );
  }
  const wait = await w.run(64, ["agent", "install", "claude", "--wait", "30"]);
  assert.match(wait.stderr, /--wait goes with --approvals/);
  assert.deepEqual(await Array.fromAsync(Deno.readDir(w.project)), []);
  await assert.rejects(Deno.stat(w.codexHome), Deno.errors.NotFound);
});

Deno.test("agent install claude --approvals refuses broken Claude Code settings with their line and column, and writes neither file", async () => {
  const w = await world();
  await using _ = w.dir;
  const settingsPath = join(w.project, ".claude", "settings.json");
  await Deno.mkdir(join(w.project, ".claude"));
  for (
    const [text, problem] of [
      ['{\n  "hooks": {\n', /settings\.json" 3:1/],
      ['{"hooks": {"PreToolUse": {}}}', /"hooks\.PreToolUse" is not an array/],
      ["[]", /the file is not a JSON object/],
    ] as const
  ) {
    await Deno.writeTextFile(settingsPath, text);
    const out = await w.run(78, ["agent", "install", "claude", "--approvals"]);
    assert.match(out.stderr, problem);
    assert.match(out.stderr, /nothing was changed/);
    assert.equal(await Deno.readTextFile(settingsPath), text);
    await assert.rejects(Deno.stat(join(w.project, ".mcp.json")), Deno.errors.NotFound);
  }
});

Deno.test("agent install claude --approvals --dry-run prints .mcp.json and .claude/settings.json as they would be, and writes neither", async () => {
  const w = await world();
  await using _ = w.dir;
  const out = await w.run(0, ["agent", "install", "claude", "--approvals", "--dry-run"]);
  const [mcp, settings] = out.stdout.split(/^Would write /m).filter(Boolean);
  assert.ok(mcp!.startsWith(`${join(w.project, ".mcp.json")}:\n`), out.stdout);
  assert.ok(settings!.startsWith(`${join(w.project, ".claude", "settings.json")}:\n`), out.stdout);
  const [group] = approvalHooks(JSON.parse(settings!.slice(settings!.indexOf("\n") + 1)));
  assert.match(group!.hooks[0]!.command, / approval hook --wait 120$/);
  assert.deepEqual(await Array.fromAsync(Deno.readDir(w.project)), []);
});

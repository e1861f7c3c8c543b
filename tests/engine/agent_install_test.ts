import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import {
  agentConfigFile,
  installAgent,
  installMcpServer,
  type McpServerEntry,
  mcpServerEntry,
  opencodeMcpServer,
  uninstallAgent,
  uninstallMcpServer,
} from "../../engine/agent_install.ts";
import type { Env } from "../../engine/paths.ts";
import { CrosstalkError } from "../../schema/errors.ts";
import { tempDir } from "../_helpers.ts";

const ENTRY: McpServerEntry = {
  command: "/usr/local/bin/deno",
  args: ["run", "-A", "/opt/crosstalk/main.ts", "mcp", "--agent", "claude"],
};
const OTHER: McpServerEntry = { command: "/usr/bin/crosstalk", args: ["mcp", "--agent", "claude"] };

const JSON_FILE = { file: "/home/u/.mcp.json", format: "json" } as const;
const GEMINI_FILE = {
  file: "/home/u/.gemini/settings.json",
  format: "json",
  comments: true,
} as const;
const TOML_FILE = { file: "/home/u/.codex/config.toml", format: "toml" } as const;

function assertCode(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof CrosstalkError, `expected a CrosstalkError, got ${error}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

Deno.test("mcpServerEntry re-invokes the program with mcp --agent, then --name and --server when given; Codex passes tmux's variables on", () => {
  const program = { execPath: "/usr/local/bin/deno", args: ["run", "-A", "/opt/c/main.ts"] };
  assert.deepEqual(mcpServerEntry("codex", { program }), {
    command: "/usr/local/bin/deno",
    args: ["run", "-A", "/opt/c/main.ts", "mcp", "--agent", "codex"],
    env_vars: ["TMUX", "TMUX_PANE"],
  });
  assert.deepEqual(
    mcpServerEntry("claude", {
      program: { execPath: "/usr/local/bin/crosstalk", args: [] },
      name: "reviewer",
      server: "http://127.0.0.1:7000",
    }),
    {
      command: "/usr/local/bin/crosstalk",
      args: ["mcp", "--agent", "claude", "--name", "reviewer", "--server", "http://127.0.0.1:7000"],
    },
  );
});

Deno.test("mcpServerEntry passes --model, --role, --wake and --allow (one comma-separated argument) on after --name", () => {
  const program = { execPath: "/usr/local/bin/crosstalk", args: [] };
  assert.deepEqual(
    mcpServerEntry("gemini", {
      program,
      name: "rev",
      model: "gemini-2.5-pro",
      role: "code review",
      wake: "pull",
      allow: ["boss", "test/reply"],
      profile: "lab",
    }).args,
    [
      ...["mcp", "--agent", "gemini", "--name", "rev", "--model", "gemini-2.5-pro"],
      ...["--role", "code review", "--wake", "pull", "--allow", "boss,test/reply"],
      ...["--profile", "lab"],
    ],
  );
});

Deno.test("agentConfigFile finds each CLI's file for each scope, from HOME, CODEX_HOME and CLAUDE_CONFIG_DIR", () => {
  const env: Env = { HOME: "/home/u" };
  const cwd = "/work/project";
  const at = (agent: "claude" | "codex" | "gemini", scope?: "project" | "user", e = env) => {
    const f = agentConfigFile(agent, { scope, env: e, cwd });
    return [f.path, f.format, f.newFileMode.toString(8)];
  };
  assert.deepEqual(at("claude"), ["/work/project/.mcp.json", "json", "644"]);
  assert.deepEqual(at("claude", "user"), ["/home/u/.claude.json", "json", "600"]);
  assert.deepEqual(at("claude", "user", { ...env, CLAUDE_CONFIG_DIR: "/cfg" }), [
    "/cfg/.claude.json",
    "json",
    "600",
  ]);
  assert.deepEqual(at("codex"), ["/home/u/.codex/config.toml", "toml", "644"]);
  assert.deepEqual(at("codex", "user", { ...env, CODEX_HOME: "/ch" }), [
    "/ch/config.toml",
    "toml",
    "644",
  ]);
  assert.deepEqual(at("gemini"), ["/work/project/.gemini/settings.json", "json", "644"]);
  assert.deepEqual(at("gemini", "user"), ["/home/u/.gemini/settings.json", "json", "644"]);
  assert.equal(agentConfigFile("gemini", { env, cwd }).comments, true);
  assert.equal(agentConfigFile("claude", { env, cwd }).comments, false);
});

Deno.test("agentConfigFile refuses the project scope for Codex, which has only a user configuration", () => {
  assert.throws(
    () => agentConfigFile("codex", { scope: "project", env: { HOME: "/h" }, cwd: "/w" }),
    assertCode("ERR_USAGE", /Codex has only a user configuration/),
  );
});

// JSON -------------------------------------------------------------------------------------------

Deno.test("installMcpServer creates a JSON file with only the entry, 2-space indented, newline at the end", () => {
  const edit = installMcpServer(undefined, ENTRY, JSON_FILE);
  assert.equal(edit.action, "create");
  assert.equal(
    edit.text,
    `${JSON.stringify({ mcpServers: { crosstalk: ENTRY } }, null, 2)}\n`,
  );
});

Deno.test("installMcpServer adds the entry beside other servers and leaves every other byte as it was", () => {
  const before = [
    "{",
    '  "mcpServers": {',
    '    "docs": { "command": "docs-server", "args": [] }',
    "  },",
    '  "other": [1, 2.50, "x"]',
    "}",
    "",
  ].join("\n");
  const edit = installMcpServer(before, ENTRY, JSON_FILE);
  assert.equal(edit.action, "add");
  const expected = [
    "{",
    '  "mcpServers": {',
    '    "docs": { "command": "docs-server", "args": [] },',
    '    "crosstalk": {',
    '      "command": "/usr/local/bin/deno",',
    '      "args": [',
    '        "run",',
    '        "-A",',
    '        "/opt/crosstalk/main.ts",',
    '        "mcp",',
    '        "--agent",',
    '        "claude"',
    "      ]",
    "    }",
    "  },",
    '  "other": [1, 2.50, "x"]',
    "}",
    "",
  ].join("\n");
  assert.equal(edit.text, expected);
});

Deno.test("installMcpServer adds mcpServers at the end of a large settings file without touching its other keys", () => {
  const settings: Record<string, unknown> = {
    numStartups: 42,
    userID: "0f".repeat(32),
    projects: { "/w/p": { allowedTools: [], history: [{ display: "hi", pastedContents: {} }] } },
    tipsHistory: { a: 1 },
  };
  const before = `${JSON.stringify(settings, null, 2)}\n`;
  const edit = installMcpServer(before, ENTRY, JSON_FILE);
  const prefix = before.slice(0, before.lastIndexOf("\n}"));
  assert.ok(edit.text!.startsWith(`${prefix},\n  "mcpServers": {\n    "crosstalk": {\n`));
  assert.deepEqual(JSON.parse(edit.text!), { ...settings, mcpServers: { crosstalk: ENTRY } });
  assert.ok(edit.text!.endsWith("}\n"));
});

Deno.test("installMcpServer fills an empty object, and keeps CRLF line breaks and tab indentation", () => {
  assert.equal(
    installMcpServer('{\n  "mcpServers": {}\n}\n', { command: "c", args: [] }, JSON_FILE).text,
    '{\n  "mcpServers": {\n    "crosstalk": {\n      "command": "c",\n      "args": []\n    }\n  }\n}\n',
  );
  assert.equal(
    installMcpServer('{\r\n\t"a": 1\r\n}\r\n', { command: "c", args: [] }, JSON_FILE).text,
    '{\r\n\t"a": 1,\r\n\t"mcpServers": {\r\n\t\t"crosstalk": {\r\n\t\t\t"command": "c",\r\n' +
      '\t\t\t"args": []\r\n\t\t}\r\n\t}\r\n}\r\n',
  );
});

Deno.test("installMcpServer leaves an identical entry alone and says so", () => {
  const before = installMcpServer(undefined, ENTRY, JSON_FILE).text!;
  const edit = installMcpServer(before, ENTRY, JSON_FILE);
  assert.equal(edit.action, "unchanged");
  assert.equal(edit.text, before);
});

Deno.test("installMcpServer refuses to replace a different entry without force, and replaces only it with force", () => {
  const before = [
    "{",
    '  "mcpServers": {',
    '    "crosstalk": { "command": "/usr/bin/crosstalk", "args": ["mcp"] },',
    '    "docs": { "command": "docs-server" }',
    "  }",
    "}",
    "",
  ].join("\n");
  assert.throws(
    () => installMcpServer(before, ENTRY, JSON_FILE),
    assertCode("ERR_SERVICE_EXISTS", /"\/home\/u\/\.mcp\.json" 3:5 .*--force/),
  );
  const edit = installMcpServer(before, OTHER, { ...JSON_FILE, force: true });
  assert.equal(edit.action, "replace");
  assert.equal(
    edit.text,
    [
      "{",
      '  "mcpServers": {',
      '    "crosstalk": {',
      '      "command": "/usr/bin/crosstalk",',
      '      "args": [',
      '        "mcp",',
      '        "--agent",',
      '        "claude"',
      "      ]",
      "    },",
      '    "docs": { "command": "docs-server" }',
      "  }",
      "}",
      "",
    ].join("\n"),
  );
});

Deno.test("installMcpServer refuses broken JSON with the file, line and column", () => {
  const cases: [string, RegExp][] = [
    ['{\n  "a": 1,\n}\n', /"\/home\/u\/\.mcp\.json" 3:1: Expected a property name/],
    ['{\n  "a": 1\n  "b": 2\n}', /3:3: Expected "," or "}" after a property value/],
    ['{\n  "a": tru\n}', /2:8: Expected a JSON value/],
    ['{\n  "a": "x', /2:8: Unterminated string/],
    ["[1, 2]", /1:1: the file is not a JSON object/],
    ['{"mcpServers": []}', /1:16: "mcpServers" is not an object/],
    ['{"mcpServers": {}, "mcpServers": {}}', /1:20: "mcpServers" is given more than once/],
    ['{\n  // a comment\n  "a": 1\n}', /2:3: Expected a property name/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => installMcpServer(text, ENTRY, JSON_FILE),
      assertCode("ERR_CONFIG_INVALID", pattern),
    );
  }
});

Deno.test("installMcpServer keeps the comments of a Gemini CLI settings file", () => {
  const before = [
    "{",
    "  // my theme",
    '  "theme": "Dracula", /* trailing */',
    '  "mcpServers": {',
    '    "docs": { "command": "docs" } // the docs',
    "  }",
    "}",
    "",
  ].join("\n");
  const edit = installMcpServer(before, { command: "c", args: ["a"] }, GEMINI_FILE);
  assert.equal(
    edit.text,
    [
      "{",
      "  // my theme",
      '  "theme": "Dracula", /* trailing */',
      '  "mcpServers": {',
      '    "docs": { "command": "docs" },',
      '    "crosstalk": {',
      '      "command": "c",',
      '      "args": [',
      '        "a"',
      "      ]",
      "    } // the docs",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  assert.equal(
    installMcpServer(edit.text, { command: "c", args: ["a"] }, GEMINI_FILE).action,
    "unchanged",
  );
});

Deno.test("uninstallMcpServer removes only the crosstalk entry from JSON, whatever its place", () => {
  const rest = '{\n  "mcpServers": {\n    "docs": { "command": "docs" }\n  },\n  "x": 1\n}\n';
  const added = installMcpServer(rest, ENTRY, JSON_FILE).text;
  const removed = uninstallMcpServer(added, JSON_FILE);
  assert.equal(removed.action, "remove");
  assert.equal(removed.text, rest);

  const first =
    '{\n  "mcpServers": {\n    "crosstalk": {"command": "c"},\n    "docs": {}\n  }\n}\n';
  assert.equal(
    uninstallMcpServer(first, JSON_FILE).text,
    '{\n  "mcpServers": {\n    "docs": {}\n  }\n}\n',
  );
  assert.equal(
    uninstallMcpServer('{"mcpServers": {"crosstalk": {"command": "c"}}, "x": 1}', JSON_FILE).text,
    '{"mcpServers": {}, "x": 1}',
  );
});

Deno.test("uninstallMcpServer finds nothing to remove in a missing file or one without the entry", () => {
  assert.deepEqual(uninstallMcpServer(undefined, JSON_FILE), { action: "absent", text: undefined });
  assert.equal(uninstallMcpServer('{"mcpServers": {"docs": {}}}', JSON_FILE).action, "absent");
  assert.equal(uninstallMcpServer('{"a": 1}', JSON_FILE).action, "absent");
  assert.throws(() => uninstallMcpServer("{", JSON_FILE), assertCode("ERR_CONFIG_INVALID", /1:2/));
});

// opencode ---------------------------------------------------------------------------------------

const OPENCODE_FILE = {
  file: "/w/opencode.json",
  format: "json",
  comments: true,
  trailingCommas: true,
  layout: "opencode",
} as const;
const OC_ENTRY: McpServerEntry = { command: "/bin/ct", args: ["mcp", "--agent", "opencode"] };
/** The V1 entry, as it is written into an empty file: one command array and enabled. */
const OC_V1 = ['"type": "local"', '"command": [', '"/bin/ct"', '"mcp"', '"--agent"', '"opencode"'];

Deno.test("opencodeMcpServer flattens command and args into one array: V1 with enabled, V2 without", () => {
  assert.deepEqual(opencodeMcpServer(OC_ENTRY), {
    type: "local",
    command: ["/bin/ct", "mcp", "--agent", "opencode"],
    enabled: true,
  });
  assert.deepEqual(opencodeMcpServer(OC_ENTRY, "v2"), {
    type: "local",
    command: ["/bin/ct", "mcp", "--agent", "opencode"],
  });
  const program = { execPath: "/usr/bin/deno", args: ["run", "-A", "/c/main.ts"] };
  assert.deepEqual(
    opencodeMcpServer(mcpServerEntry("opencode", { program, name: "oc", profile: "work" })).command,
    ["/usr/bin/deno", "run", "-A", "/c/main.ts", "mcp", "--agent", "opencode", "--name", "oc"]
      .concat(["--profile", "work"]),
  );
});

Deno.test("agentConfigFile picks opencode.json, or the one other file opencode reads that is there", () => {
  const env: Env = { HOME: "/home/u" };
  const cwd = "/w";
  const pick = (present: string[], scope?: "project" | "user", e = env) => {
    const f = agentConfigFile("opencode", {
      scope,
      env: e,
      cwd,
      exists: (path) => present.includes(path),
    });
    assert.deepEqual([f.format, f.comments, f.trailingCommas, f.layout], [
      "json",
      true,
      true,
      "opencode",
    ]);
    return f.path;
  };
  assert.equal(pick([]), "/w/opencode.json", "a new file");
  assert.equal(pick(["/w/opencode.jsonc"]), "/w/opencode.jsonc");
  assert.equal(pick(["/w/opencode.jsonc", "/w/opencode.json"]), "/w/opencode.json");
  assert.equal(pick(["/w/.opencode/opencode.jsonc"]), "/w/.opencode/opencode.jsonc");
  assert.equal(
    pick(["/w/.opencode/opencode.json", "/w/.opencode/opencode.jsonc"]),
    "/w/.opencode/opencode.json",
  );
  assert.equal(
    pick(["/w/opencode.jsonc", "/w/.opencode/opencode.json"]),
    "/w/opencode.jsonc",
  );
  assert.equal(pick([], "user"), "/home/u/.config/opencode/opencode.json");
  assert.equal(
    pick(["/home/u/.config/opencode/opencode.jsonc"], "user"),
    "/home/u/.config/opencode/opencode.jsonc",
  );
  assert.equal(
    pick(["/w/opencode.jsonc"], "user", { ...env, XDG_CONFIG_HOME: "/xdg" }),
    "/xdg/opencode/opencode.json",
    "the project's files do not count for the user scope",
  );
});

Deno.test("installMcpServer creates an opencode.json with its $schema and the entry under mcp", () => {
  const edit = installMcpServer(undefined, OC_ENTRY, OPENCODE_FILE);
  assert.equal(edit.action, "create");
  assert.equal(
    edit.text,
    `${
      JSON.stringify(
        {
          $schema: "https://opencode.ai/config.json",
          mcp: {
            crosstalk: {
              type: "local",
              command: ["/bin/ct", "mcp", "--agent", "opencode"],
              enabled: true,
            },
          },
        },
        null,
        2,
      )
    }\n`,
  );
  assert.equal(installMcpServer(edit.text, OC_ENTRY, OPENCODE_FILE).action, "unchanged");
});

Deno.test("installMcpServer adds to opencode's mcp beside other servers, keeping comments and trailing commas", () => {
  const before = [
    "{",
    '  "$schema": "https://opencode.ai/config.json",',
    "  // my servers",
    '  "mcp": {',
    '    "docs": {',
    '      "type": "local",',
    '      "command": ["docs", "--stdio",], // the docs',
    "    },",
    "  },",
    '  "theme": "opencode", /* the theme */',
    "}",
    "",
  ].join("\n");
  const edit = installMcpServer(before, OC_ENTRY, OPENCODE_FILE);
  assert.equal(edit.action, "add");
  assert.equal(
    edit.text,
    [
      "{",
      '  "$schema": "https://opencode.ai/config.json",',
      "  // my servers",
      '  "mcp": {',
      '    "docs": {',
      '      "type": "local",',
      '      "command": ["docs", "--stdio",], // the docs',
      "    },",
      '    "crosstalk": {',
      '      "type": "local",',
      '      "command": [',
      '        "/bin/ct",',
      '        "mcp",',
      '        "--agent",',
      '        "opencode"',
      "      ],",
      '      "enabled": true',
      "    },",
      "  },",
      '  "theme": "opencode", /* the theme */',
      "}",
      "",
    ].join("\n"),
  );
  assert.equal(installMcpServer(edit.text, OC_ENTRY, OPENCODE_FILE).action, "unchanged");
  const removed = uninstallMcpServer(edit.text, OPENCODE_FILE);
  assert.equal(removed.action, "remove");
  assert.equal(removed.text, before, "uninstall after install gives the file back byte for byte");
});

Deno.test("installMcpServer adds mcp to an opencode file that has none, after a trailing comma", () => {
  const edit = installMcpServer('{\n  "model": "anthropic/claude",\n}\n', OC_ENTRY, OPENCODE_FILE);
  assert.ok(edit.text!.startsWith('{\n  "model": "anthropic/claude",\n  "mcp": {\n'), edit.text);
  assert.ok(edit.text!.endsWith('      "enabled": true\n    }\n  },\n}\n'), edit.text);
  for (const line of OC_V1) assert.ok(edit.text!.includes(line), line);
});

Deno.test("installMcpServer puts the entry in OpenCode 2's mcp.servers when the file has it, without enabled", () => {
  const before = [
    "{",
    '  "mcp": {',
    '    "timeout": { "startup": 5000 },',
    '    "servers": {',
    '      "docs": { "type": "local", "command": ["docs"], "disabled": true },',
    "    },",
    "  },",
    "}",
    "",
  ].join("\n");
  const edit = installMcpServer(before, OC_ENTRY, OPENCODE_FILE);
  const data = JSON.parse(edit.text!.replace(/,(\s*[}\]])/g, "$1"));
  assert.deepEqual(Object.keys(data.mcp), ["timeout", "servers"]);
  assert.deepEqual(data.mcp.servers.crosstalk, {
    type: "local",
    command: ["/bin/ct", "mcp", "--agent", "opencode"],
  });
  assert.deepEqual(data.mcp.servers.docs.disabled, true);
  assert.equal(installMcpServer(edit.text, OC_ENTRY, OPENCODE_FILE).action, "unchanged");
  assert.equal(uninstallMcpServer(edit.text, OPENCODE_FILE).text, before);
  assert.equal(uninstallMcpServer(before, OPENCODE_FILE).action, "absent");

  // A V1 server named "servers" (its type is a string) is not OpenCode 2's list.
  const named = '{"mcp": {"servers": {"type": "remote", "url": "https://x"}}}';
  const beside = JSON.parse(installMcpServer(named, OC_ENTRY, OPENCODE_FILE).text!);
  assert.deepEqual(Object.keys(beside.mcp), ["servers", "crosstalk"]);
  assert.equal(beside.mcp.crosstalk.enabled, true);
});

Deno.test("an opencode entry installed under mcp stays there, and is found there, once the file has OpenCode 2's mcp.servers", () => {
  const v1 = installMcpServer(undefined, OC_ENTRY, OPENCODE_FILE).text!;
  // The user moves on to OpenCode 2's shape for their other servers.
  const later = v1.replace(
    '"mcp": {',
    '"mcp": {\n    "servers": { "docs": { "type": "local", "command": ["docs"] } },',
  );
  assert.equal(installMcpServer(later, OC_ENTRY, OPENCODE_FILE).action, "unchanged");
  const removed = uninstallMcpServer(later, OPENCODE_FILE);
  assert.equal(removed.action, "remove");
  const data = JSON.parse(removed.text!);
  assert.deepEqual(Object.keys(data.mcp), ["servers"]);
  assert.deepEqual(Object.keys(data.mcp.servers), ["docs"]);
  // Gone from the V1 place, a new install goes into the list.
  const again = JSON.parse(installMcpServer(removed.text, OC_ENTRY, OPENCODE_FILE).text!);
  assert.deepEqual(Object.keys(data.mcp), ["servers"]);
  assert.deepEqual(Object.keys(again.mcp.servers), ["docs", "crosstalk"]);
});

Deno.test("installMcpServer replaces a different opencode entry only with force", () => {
  const before =
    '{\n  "mcp": {\n    "crosstalk": { "type": "local", "command": ["old"] },\n  },\n}\n';
  assert.throws(
    () => installMcpServer(before, OC_ENTRY, OPENCODE_FILE),
    assertCode("ERR_SERVICE_EXISTS", /"\/w\/opencode\.json" 3:5 .*--force/),
  );
  const edit = installMcpServer(before, OC_ENTRY, { ...OPENCODE_FILE, force: true });
  assert.equal(edit.action, "replace");
  assert.ok(edit.text!.startsWith('{\n  "mcp": {\n    "crosstalk": {\n      "type": "local",\n'));
  assert.ok(edit.text!.endsWith('      "enabled": true\n    },\n  },\n}\n'), edit.text);
  assert.equal(installMcpServer(edit.text, OC_ENTRY, OPENCODE_FILE).action, "unchanged");
});

Deno.test("installMcpServer refuses a broken opencode file with its line and column; trailing commas only there", () => {
  const cases: [string, RegExp][] = [
    ['{\n  "mcp": {,}\n}', /"\/w\/opencode\.json" 2:11: Expected a property name/],
    ['{\n  "a": [1,,]\n}', /2:11: Expected a JSON value/],
    ['{\n  "a": 1,,\n}', /2:10: Expected a property name/],
    ['{\n  /* open\n  "mcp": {}\n}', /2:3: Unterminated \/\* comment/],
    ['{"mcp": ["x"]}', /1:9: "mcp" is not an object/],
    ['{"mcp": {}, "mcp": {}}', /1:13: "mcp" is given more than once/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => installMcpServer(text, OC_ENTRY, OPENCODE_FILE),
      assertCode("ERR_CONFIG_INVALID", pattern),
    );
    if (!text.startsWith('{"mcp": [')) {
      assert.throws(
        () => uninstallMcpServer(text, OPENCODE_FILE),
        assertCode("ERR_CONFIG_INVALID"),
      );
    }
  }
  assert.equal(uninstallMcpServer('{"mcp": ["x"]}', OPENCODE_FILE).action, "absent");
  assert.throws(
    () => installMcpServer('{"theme": "x",}', ENTRY, GEMINI_FILE),
    assertCode("ERR_CONFIG_INVALID", /1:15: Expected a property name/),
    "Gemini CLI's settings take comments, not trailing commas",
  );
});

Deno.test("installAgent edits the opencode.jsonc a project already has, and uninstall leaves the rest", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "opencode.jsonc");
  const before = '{\n  // mine\n  "model": "x",\n}\n';
  await Deno.writeTextFile(path, before);
  const options = { env: { HOME: dir.path }, cwd: dir.path };
  const result = await installAgent("opencode", OC_ENTRY, options);
  assert.equal(result.file.path, path);
  assert.equal(result.action, "add");
  await assert.rejects(Deno.stat(join(dir.path, "opencode.json")), Deno.errors.NotFound);
  assert.match(await Deno.readTextFile(path), /"crosstalk": \{\n {6}"type": "local"/);
  assert.equal((await uninstallAgent("opencode", options)).action, "remove");
  assert.equal(await Deno.readTextFile(path), '{\n  // mine\n  "model": "x",\n  "mcp": {},\n}\n');
});

// TOML -------------------------------------------------------------------------------------------

const CODEX_CONFIG = `# Codex settings
model = "o3" # the default

[mcp_servers.docs]
command = "docs-server"
args = ["--port", "1"]

# Profiles
[profiles.fast]
model = "o4-mini"
`;

Deno.test("installMcpServer creates a Codex config.toml with the [mcp_servers.crosstalk] table", () => {
  const edit = installMcpServer(undefined, ENTRY, TOML_FILE);
  assert.equal(edit.action, "create");
  assert.equal(
    edit.text,
    '[mcp_servers.crosstalk]\ncommand = "/usr/local/bin/deno"\n' +
      'args = ["run", "-A", "/opt/crosstalk/main.ts", "mcp", "--agent", "claude"]\n',
  );
});

Deno.test("installMcpServer appends the table to a Codex config.toml, keeping its comments and tables", () => {
  const edit = installMcpServer(CODEX_CONFIG, ENTRY, TOML_FILE);
  assert.equal(edit.action, "add");
  assert.equal(
    edit.text,
    `${CODEX_CONFIG}\n[mcp_servers.crosstalk]\ncommand = "/usr/local/bin/deno"\n` +
      'args = ["run", "-A", "/opt/crosstalk/main.ts", "mcp", "--agent", "claude"]\n',
  );
  const parsed = parseToml(edit.text!) as { mcp_servers: Record<string, unknown> };
  assert.deepEqual({ ...parsed.mcp_servers.crosstalk as object }, ENTRY);
  assert.equal(installMcpServer(edit.text, ENTRY, TOML_FILE).action, "unchanged");
});

Deno.test("installMcpServer writes a Codex entry's env_vars, and an older entry without them is a different one", () => {
  const codex = { ...ENTRY, env_vars: ["TMUX", "TMUX_PANE"] };
  const edit = installMcpServer(undefined, codex, TOML_FILE);
  assert.match(edit.text!, /\nenv_vars = \["TMUX", "TMUX_PANE"\]\n$/);
  const parsed = parseToml(edit.text!) as { mcp_servers: Record<string, unknown> };
  assert.deepEqual({ ...parsed.mcp_servers.crosstalk as object }, codex);
  const older = installMcpServer(undefined, ENTRY, TOML_FILE).text;
  assert.throws(() => installMcpServer(older, codex, TOML_FILE), /--force/);
  assert.equal(installMcpServer(older, codex, { ...TOML_FILE, force: true }).action, "replace");
});

Deno.test("installMcpServer escapes TOML strings so paths with quotes and backslashes survive", () => {
  const odd = { command: 'C:\\Program Files\\"deno".exe', args: ["a\tb", "ü"] };
  const edit = installMcpServer(undefined, odd, TOML_FILE);
  const parsed = parseToml(edit.text!) as unknown as {
    mcp_servers: { crosstalk: McpServerEntry };
  };
  assert.equal(parsed.mcp_servers.crosstalk.command, odd.command);
  assert.deepEqual([...parsed.mcp_servers.crosstalk.args], odd.args);
});

Deno.test("installMcpServer with force replaces the crosstalk table and its sub-tables, and nothing else", () => {
  const before = `model = "o3"

[mcp_servers.crosstalk]
command = "old"
args = [
  "mcp",
  # a comment inside the array
  "[mcp_servers.not_a_header]",
  ["[mcp_servers.docs]"],
]
startup_timeout_sec = 20

[mcp_servers.crosstalk.env]
TOKEN = """
[mcp_servers.docs]
still the string
"""

# The docs server
[mcp_servers.docs]
command = "docs-server"
`;
  assert.throws(
    () => installMcpServer(before, ENTRY, TOML_FILE),
    assertCode("ERR_SERVICE_EXISTS", /config\.toml" already has a different "crosstalk".*--force/),
  );
  const edit = installMcpServer(before, ENTRY, { ...TOML_FILE, force: true });
  assert.equal(edit.action, "replace");
  assert.equal(
    edit.text,
    `model = "o3"

# The docs server
[mcp_servers.docs]
command = "docs-server"

[mcp_servers.crosstalk]
command = "/usr/local/bin/deno"
args = ["run", "-A", "/opt/crosstalk/main.ts", "mcp", "--agent", "claude"]
`,
  );
});

Deno.test("installMcpServer refuses broken TOML with the file, line and column", () => {
  assert.throws(
    () => installMcpServer('model = "o3"\n[mcp_servers\ncommand = 1\n', ENTRY, TOML_FILE),
    assertCode(
      "ERR_CONFIG_INVALID",
      /"\/home\/u\/\.codex\/config\.toml" 2:\d+: .*nothing was changed/,
    ),
  );
  assert.throws(
    () => installMcpServer("a = 1\na = 2\n", ENTRY, TOML_FILE),
    assertCode("ERR_CONFIG_INVALID", /config\.toml" 2:1: Trying to redefine/),
  );
});

Deno.test("installMcpServer refuses to edit a crosstalk entry written inline, and an inline mcp_servers", () => {
  const inline = '[mcp_servers]\ncrosstalk = { command = "old", args = [] }\n';
  assert.throws(
    () => installMcpServer(inline, ENTRY, { ...TOML_FILE, force: true }),
    assertCode("ERR_CONFIG_INVALID", /\[mcp_servers\.crosstalk\] table.*by hand/),
  );
  assert.throws(
    () => uninstallMcpServer(inline, TOML_FILE),
    assertCode("ERR_CONFIG_INVALID", /by hand/),
  );
  assert.throws(
    () => installMcpServer('mcp_servers = { docs = { command = "d" } }\n', ENTRY, TOML_FILE),
    assertCode("ERR_CONFIG_INVALID", /by hand/),
  );
});

Deno.test("uninstallMcpServer removes the crosstalk tables from TOML and gives back the file as it was", () => {
  const added = installMcpServer(CODEX_CONFIG, ENTRY, TOML_FILE).text;
  const removed = uninstallMcpServer(added, TOML_FILE);
  assert.equal(removed.action, "remove");
  assert.equal(removed.text, CODEX_CONFIG);

  const middle = `a = 1

[mcp_servers.crosstalk]
command = "x"

[mcp_servers.crosstalk.env]
K = "v"

[b]
c = 2
`;
  assert.equal(uninstallMcpServer(middle, TOML_FILE).text, "a = 1\n\n[b]\nc = 2\n");
  assert.equal(uninstallMcpServer(CODEX_CONFIG, TOML_FILE).action, "absent");
  assert.equal(uninstallMcpServer(undefined, TOML_FILE).action, "absent");
});

// The writer -------------------------------------------------------------------------------------

Deno.test("installAgent keeps an existing file's mode and writes through a symlink to its target", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const dotfiles = join(dir.path, "dotfiles");
  await Deno.mkdir(home);
  await Deno.mkdir(dotfiles);
  const real = join(dotfiles, "claude.json");
  await Deno.writeTextFile(real, '{\n  "numStartups": 3\n}\n');
  await Deno.chmod(real, 0o640);
  await Deno.symlink(real, join(home, ".claude.json"));

  const result = await installAgent("claude", ENTRY, {
    scope: "user",
    env: { HOME: home },
    cwd: dir.path,
  });
  assert.equal(result.written, true);
  assert.ok((await Deno.lstat(join(home, ".claude.json"))).isSymlink);
  assert.equal((await Deno.stat(real)).mode! & 0o777, 0o640);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(real)), {
    numStartups: 3,
    mcpServers: { crosstalk: ENTRY },
  });
});

Deno.test("installAgent creates ~/.claude.json readable by its owner only, and a dry run writes nothing", async () => {
  await using dir = await tempDir();
  const options = { scope: "user" as const, env: { HOME: dir.path }, cwd: dir.path };
  const dry = await installAgent("claude", ENTRY, { ...options, dryRun: true });
  assert.equal(dry.written, false);
  assert.equal(dry.action, "create");
  await assert.rejects(Deno.stat(join(dir.path, ".claude.json")), Deno.errors.NotFound);

  await installAgent("claude", ENTRY, options);
  assert.equal((await Deno.stat(join(dir.path, ".claude.json"))).mode! & 0o077, 0);
  const again = await installAgent("claude", ENTRY, options);
  assert.equal(again.action, "unchanged");
  assert.equal(again.written, false);

  const removed = await uninstallAgent("claude", options);
  assert.equal(removed.action, "remove");
  assert.deepEqual(JSON.parse(await Deno.readTextFile(join(dir.path, ".claude.json"))), {
    mcpServers: {},
  });
});

Deno.test("installAgent creates the parent folders of a new configuration", async () => {
  await using dir = await tempDir();
  const result = await installAgent("codex", ENTRY, {
    env: { HOME: dir.path, CODEX_HOME: join(dir.path, "a", "b") },
    cwd: dir.path,
  });
  assert.equal(result.file.path, join(dir.path, "a", "b", "config.toml"));
  const text = await Deno.readTextFile(result.file.path);
  assert.match(text, /^\[mcp_servers\.crosstalk\]\n/);
});

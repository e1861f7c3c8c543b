/**
 * `crosstalk chat`: how to start an agent CLI interactively with the crosstalk MCP server for that
 * session only, given on its command line or in its environment instead of written to its config.
 */
import { CrosstalkError } from "../schema/errors.ts";
import {
  type AgentCli,
  MCP_SERVER_NAME,
  type McpServerEntry,
  opencodeMcpServer,
  parseJsonWithComments,
} from "./agent_install.ts";
import type { Env } from "./paths.ts";
import { dirname, join } from "../transports/path.ts";

/** The variable opencode reads an inline configuration from, merged over its files. */
export const OPENCODE_CONFIG_CONTENT = "OPENCODE_CONFIG_CONTENT";

/**
 * Gemini CLI and Qwen Code read a system defaults file, the lowest layer of their settings, from
 * the path `variable` names, else next to their system settings file when `settingsVariable`
 * names that one, else from a fixed place per system; its `mcpServers` are merged with those of
 * the user's and the project's settings.
 */
export const SYSTEM_DEFAULTS: Readonly<
  Record<
    "gemini" | "qwen",
    { variable: string; settingsVariable: string; linux: string; darwin: string; windows: string }
  >
> = {
  gemini: {
    variable: "GEMINI_CLI_SYSTEM_DEFAULTS_PATH",
    settingsVariable: "GEMINI_CLI_SYSTEM_SETTINGS_PATH",
    linux: "/etc/gemini-cli/system-defaults.json",
    darwin: "/Library/Application Support/GeminiCli/system-defaults.json",
    windows: "C:\\ProgramData\\gemini-cli\\system-defaults.json",
  },
  qwen: {
    variable: "QWEN_CODE_SYSTEM_DEFAULTS_PATH",
    settingsVariable: "QWEN_CODE_SYSTEM_SETTINGS_PATH",
    linux: "/etc/qwen-code/system-defaults.json",
    darwin: "/Library/Application Support/QwenCode/system-defaults.json",
    windows: "C:\\ProgramData\\qwen-code\\system-defaults.json",
  },
};

/**
 * The system defaults file `agent` reads now: the one its variable names, else the one beside the
 * system settings file its other variable names, else its own place.
 */
export function systemDefaultsPath(agent: "gemini" | "qwen", env: Env, os = Deno.build.os): string {
  const place = SYSTEM_DEFAULTS[agent];
  const named = env[place.variable];
  if (named) return named;
  const settings = env[place.settingsVariable];
  if (settings) return join(dirname(settings), "system-defaults.json");
  return os === "darwin" ? place.darwin : os === "windows" ? place.windows : place.linux;
}

/** What starts an agent CLI for `crosstalk chat`. */
export interface ChatLaunch {
  /** The program, then its arguments. */
  argv: string[];
  /** Variables to set on top of the environment the agent CLI inherits. */
  env: Record<string, string>;
  /**
   * A settings file for this session only: `text`, written where only the user can read it,
   * its path in the variable `variable` (Gemini CLI and Qwen Code: their system defaults).
   */
  settings?: { variable: string; text: string };
}

/** Options for {@linkcode chatLaunch}. */
export interface ChatLaunchOptions {
  /** More arguments for the agent CLI, after crosstalk's. */
  args?: string[];
  /** The environment the agent CLI inherits (opencode: its inline configuration is kept). */
  env?: Env;
  /**
   * Gemini CLI and Qwen Code: the system defaults file they read now (its path and its text;
   * no text: none there), kept under crosstalk's server.
   */
  systemDefaults?: { path: string; text: string | undefined };
}

/**
 * What starts `agent` with `entry` as its `crosstalk` MCP server, then `options.args`.
 *
 * - Claude Code: `--mcp-config` with the server as JSON, and channel push for it
 *   (`--dangerously-load-development-channels server:crosstalk`).
 * - Codex: `-c` overrides of `mcp_servers.crosstalk` (their values are TOML; a JSON string or
 *   array of strings is one).
 * - opencode: `OPENCODE_CONFIG_CONTENT` holding `{"mcp": {"crosstalk": …}}`, merged into the
 *   object that variable already holds.
 * - Gemini CLI, Qwen Code: a system defaults file of the session's own (the one they read now,
 *   with crosstalk's server added to its `mcpServers`), named by their variable for it.
 *
 * @throws {CrosstalkError} `ERR_USAGE` when `OPENCODE_CONFIG_CONTENT` or the system defaults file
 *   holds no JSON object
 */
export function chatLaunch(
  agent: AgentCli,
  entry: McpServerEntry,
  options: ChatLaunchOptions = {},
): ChatLaunch {
  const extra = options.args ?? [];
  switch (agent) {
    case "claude":
      return {
        argv: [
          "claude",
          "--mcp-config",
          JSON.stringify({ mcpServers: { [MCP_SERVER_NAME]: entry } }),
          "--dangerously-load-development-channels",
          `server:${MCP_SERVER_NAME}`,
          ...extra,
        ],
        env: {},
      };
    case "codex":
      return {
        argv: [
          "codex",
          "-c",
          `mcp_servers.${MCP_SERVER_NAME}.command=${JSON.stringify(entry.command)}`,
          "-c",
          `mcp_servers.${MCP_SERVER_NAME}.args=${JSON.stringify(entry.args)}`,
          ...(entry.env_vars
            ? ["-c", `mcp_servers.${MCP_SERVER_NAME}.env_vars=${JSON.stringify(entry.env_vars)}`]
            : []),
          ...extra,
        ],
        env: {},
      };
    case "opencode":
      return {
        argv: ["opencode", ...extra],
        env: {
          [OPENCODE_CONFIG_CONTENT]: opencodeConfigContent(
            options.env?.[OPENCODE_CONFIG_CONTENT],
            entry,
          ),
        },
      };
    case "gemini":
    case "qwen":
      return {
        argv: [agent, ...extra],
        env: {},
        settings: {
          variable: SYSTEM_DEFAULTS[agent].variable,
          text: systemDefaultsText(agent, options.systemDefaults, entry),
        },
      };
  }
}

/**
 * The system defaults file `current` (none: an empty one) with crosstalk's server in its
 * `mcpServers`. Gemini CLI and Qwen Code read it as JSON with comments (written back without them).
 */
function systemDefaultsText(
  agent: "gemini" | "qwen",
  current: { path: string; text: string | undefined } | undefined,
  entry: McpServerEntry,
): string {
  const refuse = (why: string) =>
    new CrosstalkError(
      "ERR_USAGE",
      `Cannot add the crosstalk MCP server to the system defaults "${current?.path}": ${why} ` +
        `(run "crosstalk agent install ${agent}" instead)`,
    );
  let settings: Record<string, unknown> = {};
  if (current?.text !== undefined && current.text.trim() !== "") {
    let parsed: unknown;
    try {
      parsed = parseJsonWithComments(current.text);
    } catch (error) {
      throw refuse(`it is not JSON (${error instanceof Error ? error.message : error})`);
    }
    if (!isObject(parsed)) throw refuse("it is not a JSON object");
    settings = parsed;
  }
  const servers = settings.mcpServers ?? {};
  if (!isObject(servers)) throw refuse(`its "mcpServers" is not an object`);
  const { command, args } = entry;
  return `${
    JSON.stringify(
      { ...settings, mcpServers: { ...servers, [MCP_SERVER_NAME]: { command, args } } },
      null,
      2,
    )
  }\n`;
}

/**
 * The inline configuration `current` (unset or empty: none) with crosstalk's server in its `mcp`.
 * opencode parses the variable as plain JSON.
 */
function opencodeConfigContent(current: string | undefined, entry: McpServerEntry): string {
  const refuse = (why: string) =>
    new CrosstalkError(
      "ERR_USAGE",
      `Cannot add the crosstalk MCP server to $${OPENCODE_CONFIG_CONTENT}: ${why} (fix or unset it)`,
    );
  let config: Record<string, unknown> = {};
  if (current !== undefined && current.trim() !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(current);
    } catch (error) {
      throw refuse(`it is not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    if (!isObject(parsed)) throw refuse("it is not a JSON object");
    config = parsed;
  }
  const mcp = config.mcp ?? {};
  if (!isObject(mcp)) throw refuse(`its "mcp" is not an object`);
  return JSON.stringify({
    ...config,
    mcp: { ...mcp, [MCP_SERVER_NAME]: opencodeMcpServer(entry) },
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

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
} from "./agent_install.ts";
import type { Env } from "./paths.ts";

/** The variable opencode reads an inline configuration from, merged over its files. */
export const OPENCODE_CONFIG_CONTENT = "OPENCODE_CONFIG_CONTENT";

/** What starts an agent CLI for `crosstalk chat`. */
export interface ChatLaunch {
  /** The program, then its arguments. */
  argv: string[];
  /** Variables to set on top of the environment the agent CLI inherits. */
  env: Record<string, string>;
}

/** Options for {@linkcode chatLaunch}. */
export interface ChatLaunchOptions {
  /** More arguments for the agent CLI, after crosstalk's. */
  args?: string[];
  /** The environment the agent CLI inherits (opencode: its inline configuration is kept). */
  env?: Env;
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
 *
 * @throws {CrosstalkError} `ERR_USAGE` for Gemini CLI and Qwen Code, which take MCP servers only
 *   from their settings files, and when `OPENCODE_CONFIG_CONTENT` holds no JSON object
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
      throw new CrosstalkError(
        "ERR_USAGE",
        `${
          agent === "gemini" ? "Gemini CLI" : "Qwen Code"
        } takes MCP servers only from its settings: run "crosstalk agent install ${agent}", then start ${agent}`,
      );
  }
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

/**
 * `crosstalk chat`: how to start an agent CLI interactively with the crosstalk MCP server for that
 * session only, given on its command line or in its environment instead of written to its config.
 */
import { CrosstalkError } from "../schema/errors.ts";
import { type AgentCli, MCP_SERVER_NAME, type McpServerEntry } from "./agent_install.ts";
import type { Env } from "./paths.ts";

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
  /** The environment the agent CLI inherits. */
  env?: Env;
}

/**
 * What starts `agent` with `entry` as its `crosstalk` MCP server, then `options.args`.
 *
 * - Claude Code: `--mcp-config` with the server as JSON, and channel push for it
 *   (`--dangerously-load-development-channels server:crosstalk`).
 * - Codex: `-c` overrides of `mcp_servers.crosstalk` (their values are TOML; a JSON string or
 *   array of strings is one).
 *
 * @throws {CrosstalkError} `ERR_USAGE` for Gemini CLI and Qwen Code, which take MCP servers only
 *   from their settings files
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

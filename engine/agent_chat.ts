/**
 * `crosstalk chat`: the command line that starts an agent CLI interactively with the crosstalk MCP
 * server for that session only, given on its command line instead of written to its config.
 */
import { CrosstalkError } from "../schema/errors.ts";
import { type AgentCli, MCP_SERVER_NAME, type McpServerEntry } from "./agent_install.ts";

/**
 * The argv that starts `agent` with `entry` as its `crosstalk` MCP server, then `extra`.
 *
 * - Claude Code: `--mcp-config` with the server as JSON, and channel push for it
 *   (`--dangerously-load-development-channels server:crosstalk`).
 * - Codex: `-c` overrides of `mcp_servers.crosstalk` (their values are TOML; a JSON string or
 *   array of strings is one).
 *
 * @throws {CrosstalkError} `ERR_USAGE` for Gemini CLI, which takes MCP servers only from its
 *   settings files
 */
export function chatArgv(agent: AgentCli, entry: McpServerEntry, extra: string[] = []): string[] {
  switch (agent) {
    case "claude":
      return [
        "claude",
        "--mcp-config",
        JSON.stringify({ mcpServers: { [MCP_SERVER_NAME]: entry } }),
        "--dangerously-load-development-channels",
        `server:${MCP_SERVER_NAME}`,
        ...extra,
      ];
    case "codex":
      return [
        "codex",
        "-c",
        `mcp_servers.${MCP_SERVER_NAME}.command=${JSON.stringify(entry.command)}`,
        "-c",
        `mcp_servers.${MCP_SERVER_NAME}.args=${JSON.stringify(entry.args)}`,
        ...(entry.env_vars
          ? ["-c", `mcp_servers.${MCP_SERVER_NAME}.env_vars=${JSON.stringify(entry.env_vars)}`]
          : []),
        ...extra,
      ];
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

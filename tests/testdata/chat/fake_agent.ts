// Behaves like an interactive agent CLI (claude, codex, opencode, gemini or qwen) started by
// `crosstalk chat`: finds the crosstalk MCP server in its arguments (opencode: in
// $OPENCODE_CONFIG_CONTENT; gemini and qwen: in their system defaults file) as the real one would, starts it, reads one line the user types, sends it to $FAKE_SEND_TO with the
// server's send tool, prints the answer, and exits with $FAKE_EXIT.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const args = [...Deno.args];
const flavour = Deno.env.get("FAKE_AGENT") ?? "claude";
let server: { command: string; args: string[] };
/** codex: what of its environment the server gets, besides its short default list. */
let envVars: string[] | undefined;
/** opencode: the entry's `environment`, over the whole of its own. */
let environment: Record<string, string> = {};
const extra: string[] = [];
if (flavour === "opencode") {
  // opencode merges this JSON over its config files; a local server is one command array, which
  // it spawns as command[0] with the rest as arguments.
  const config = JSON.parse(Deno.env.get("OPENCODE_CONFIG_CONTENT") ?? "{}");
  const entry = config.mcp?.crosstalk;
  if (entry?.type !== "local" || entry.enabled !== true || !Array.isArray(entry.command)) {
    throw new Error(`no local crosstalk server in OPENCODE_CONFIG_CONTENT: ${JSON.stringify(entry)}`);
  }
  server = { command: entry.command[0], args: entry.command.slice(1) };
  environment = entry.environment ?? {};
  delete config.mcp.crosstalk;
  console.log(`opencode keeps: ${JSON.stringify(config)}`);
  extra.push(...args);
} else if (flavour === "gemini" || flavour === "qwen") {
  // Both read MCP servers from their settings files, the system defaults among them (the file
  // their variable names), merged with the user's and the project's.
  const variable = flavour === "gemini"
    ? "GEMINI_CLI_SYSTEM_DEFAULTS_PATH"
    : "QWEN_CODE_SYSTEM_DEFAULTS_PATH";
  const path = Deno.env.get(variable)!;
  const settings = JSON.parse(Deno.readTextFileSync(path));
  server = settings.mcpServers.crosstalk;
  delete settings.mcpServers.crosstalk;
  console.log(`${flavour} keeps: ${JSON.stringify(settings)}`);
  console.log(`${flavour} settings: ${path} mode ${(Deno.statSync(path).mode! & 0o777).toString(8)}`);
  extra.push(...args);
} else if (flavour === "claude") {
  const at = args.indexOf("--mcp-config");
  server = JSON.parse(args[at + 1]!).mcpServers.crosstalk;
  const push = args.indexOf("--dangerously-load-development-channels");
  if (args[push + 1] !== "server:crosstalk") throw new Error("no channel push for crosstalk");
  extra.push(...args.filter((_, i) => i !== at && i !== at + 1 && i !== push && i !== push + 1));
} else {
  // codex: -c mcp_servers.crosstalk.command=<TOML> -c mcp_servers.crosstalk.args=<TOML>
  const value = (key: string) => {
    const i = args.findIndex((a, n) => args[n - 1] === "-c" && a.startsWith(`${key}=`));
    return JSON.parse(args[i]!.slice(key.length + 1));
  };
  server = {
    command: value("mcp_servers.crosstalk.command"),
    args: value("mcp_servers.crosstalk.args"),
  };
  envVars = args.some((a) => a.startsWith("mcp_servers.crosstalk.env_vars="))
    ? value("mcp_servers.crosstalk.env_vars")
    : [];
  extra.push(...args.filter((a, n) => a !== "-c" && args[n - 1] !== "-c"));
}

const client = new Client({ name: `fake-${flavour}`, version: "1.0.0" });
// Codex passes an MCP server only a short list of variables (and those named in env_vars);
// DENO_DIR stands in for an installed binary, which needs no module cache.
const CODEX_DEFAULT = ["HOME", "LOGNAME", "PATH", "SHELL", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR"];
const passed = envVars && [...CODEX_DEFAULT, "DENO_DIR", ...envVars];
const env: Record<string, string> = {};
for (const [k, v] of Object.entries(Deno.env.toObject())) {
  if (!passed || passed.includes(k)) env[k] = v;
}
await client.connect(
  new StdioClientTransport({ ...server, env: { ...env, ...environment }, stderr: "inherit" }),
);
const push = client.getServerCapabilities()?.experimental?.["claude/channel"] !== undefined;

const buffer = new Uint8Array(1024);
const n = await Deno.stdin.read(buffer);
const typed = new TextDecoder().decode(buffer.subarray(0, n ?? 0)).trim();
const result = await client.callTool({
  name: "send",
  arguments: { to: Deno.env.get("FAKE_SEND_TO") ?? "all", message: `${typed} ${extra.join(" ")}` },
}) as { content: { text: string }[] };
console.log(`${flavour} (channel push ${push ? "offered" : "missing"}): ${result.content[0]!.text}`);
await client.close();
Deno.exit(Number(Deno.env.get("FAKE_EXIT") ?? "0"));

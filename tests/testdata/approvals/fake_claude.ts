// Behaves like Claude Code with crosstalk as its MCP server: starts the server that $MCP_SERVER
// names (a JSON array, the command then its arguments; unset: no server) as its own child, as an
// agent CLI starts the servers its configuration names (its own command line does not carry
// them). Then, with $HOOK_COMMAND set, runs that PreToolUse hook through `sh -c` with the event on
// stdin, as Claude Code runs hooks, and prints what the hook answered. Without it, runs each line
// of its stdin through `sh -c`, as Claude Code's Bash tool runs a command, and prints one JSON line
// for each, `{ code, stdout, stderr }`, until its stdin ends. Then it closes the server.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const server = Deno.env.get("MCP_SERVER");
const [command, ...args] = server ? JSON.parse(server) as string[] : [];
const client = command === undefined
  ? undefined
  : new Client({ name: "fake-claude", version: "1.0.0" });
await client?.connect(
  new StdioClientTransport({ command: command!, args, env: Deno.env.toObject(), stderr: "inherit" }),
);
// Registered by now: the server answers initialize only once the engine has the session.
await client?.callTool({ name: "status", arguments: { status: "about to clean" } });

const hookCommand = Deno.env.get("HOOK_COMMAND");
if (hookCommand !== undefined) {
  const hook = new Deno.Command("sh", {
    args: ["-c", hookCommand],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = hook.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify({
    session_id: "s-ann",
    cwd: Deno.cwd(),
    hook_event_name: "PreToolUse",
    tool_name: "Bash",
    tool_input: { command: "make clean" },
  })));
  await writer.close();
  const { stdout } = await hook.output();
  console.log(`hook: ${new TextDecoder().decode(stdout).trim()}`);
} else {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of Deno.stdin.readable) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      const out = await new Deno.Command("sh", { args: ["-c", line], stdin: "null" }).output();
      const text = new TextDecoder();
      console.log(JSON.stringify({
        code: out.code,
        stdout: text.decode(out.stdout),
        stderr: text.decode(out.stderr),
      }));
    }
  }
}
await client?.close();

// Behaves like Claude Code with the approval hook installed: starts the crosstalk MCP server given
// as its arguments (command, then its arguments; none: no server) as its own child, then runs the
// PreToolUse hook command of $HOOK_COMMAND through `sh -c` with the event on stdin, as Claude Code
// runs hooks, prints what the hook answered, and closes the server.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, ...args] = Deno.args;
const client = command === undefined
  ? undefined
  : new Client({ name: "fake-claude", version: "1.0.0" });
await client?.connect(
  new StdioClientTransport({ command: command!, args, env: Deno.env.toObject(), stderr: "inherit" }),
);
// Registered by now: the server answers initialize only once the engine has the session.
await client?.callTool({ name: "status", arguments: { status: "about to clean" } });

const hook = new Deno.Command("sh", {
  args: ["-c", Deno.env.get("HOOK_COMMAND")!],
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
await client?.close();

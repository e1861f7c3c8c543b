/**
 * @module
 * crosstalk: a message bus for humans and AI coding agents. Entry point: parse the command
 * line, run it, exit with the code it maps to. The only module that exits.
 */
import type { CliContext } from "./cli/mod.ts";

const encoder = new TextEncoder();

function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
}

async function readStdin(): Promise<string | undefined> {
  if (Deno.stdin.isTerminal()) return undefined;
  return await new Response(Deno.stdin.readable).text();
}

if (
  import.meta.main && Deno.args[0] === "agent" && Deno.args[1] === "echo" && Deno.args.length > 2
) {
  // The built-in echo agent is spawned once per message: skip loading the whole CLI.
  const { echoReply } = await import("./engine/echo.ts");
  write(Deno.stdout, `${echoReply(Deno.args.slice(2).join(" "))}\n`);
  Deno.exit(0);
}

if (import.meta.main) {
  const ctx: CliContext = {
    env: Deno.env.toObject(),
    out: (text) => write(Deno.stdout, text),
    err: (text) => write(Deno.stderr, text),
    readStdin,
    exitCode: 0,
    globals: {},
  };
  const { runCli } = await import("./cli/mod.ts");
  Deno.exit(await runCli(Deno.args, ctx));
}

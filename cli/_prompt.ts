// Questions on the terminal, or answers on standard input: `auth login`'s username and
// passphrase, `workflow compose --edit`'s "start it?".
import { CrosstalkError } from "../schema/errors.ts";
import type { CliContext } from "./_context.ts";

let stdinLines: string[] | undefined;

/**
 * Asks on the terminal (without echo for secrets), or takes the next line of stdin, which must
 * be there.
 *
 * @throws {CrosstalkError} `ERR_USAGE` when stdin has no line (or an empty one) for it, or the
 *   secret's question is cancelled with Ctrl-C
 */
export async function ask(ctx: CliContext, label: string, secret: boolean): Promise<string> {
  const line = await answer(ctx, label, secret);
  if (line === undefined || line === "") {
    throw new CrosstalkError(
      "ERR_USAGE",
      `${label.replace(/: $/, "")} is needed: give it on standard input`,
    );
  }
  return line;
}

/**
 * Asks on the terminal, or takes the next line of stdin (the label is not shown then); undefined
 * (or "") when there is no answer: Ctrl-D on the terminal, no line left on stdin (also when
 * something else read all of it before, a text given as `-`).
 *
 * @throws {CrosstalkError} `ERR_USAGE` when a secret's question is cancelled with Ctrl-C
 */
export async function answer(
  ctx: CliContext,
  label: string,
  secret = false,
): Promise<string | undefined> {
  if (!Deno.stdin.isTerminal()) {
    // (Stdin that something else read all of before, a text given as `-`, throws: no line.)
    stdinLines ??= ((await ctx.readStdin().catch(() => undefined)) ?? "").split(/\r?\n/);
    return stdinLines.shift();
  }
  // Echo goes off before the prompt shows: what is typed (or pasted) at once must not echo.
  if (secret) Deno.stdin.setRaw(true);
  ctx.err(label);
  try {
    const bytes: number[] = [];
    const buf = new Uint8Array(1);
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null && bytes.length === 0) return undefined;
      if (n === null || buf[0] === 13 || buf[0] === 10) break;
      if (buf[0] === 3) throw new CrosstalkError("ERR_USAGE", "Cancelled");
      if (buf[0] === 127 || buf[0] === 8) bytes.pop();
      else bytes.push(buf[0]!);
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    if (secret) {
      Deno.stdin.setRaw(false);
      ctx.err("\n");
    }
  }
}

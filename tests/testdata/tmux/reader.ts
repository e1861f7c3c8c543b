// A stand-in for an agent TUI in a tmux pane: asks for bracketed paste, reads raw keys, shows what
// a paste put in its composer, and appends each submission (the text before a CR or LF typed
// outside a paste) as one JSON line to the file named by its first argument. It creates that file (empty) once it is ready for input.
// With a second argument "dialog", it first shows a confirmation dialog like Claude Code's.
const [out, mode] = Deno.args;
if (!out) throw new TypeError("usage: reader.ts <submissions file> [dialog]");

const encoder = new TextEncoder();
if (mode === "dialog") {
  Deno.stdout.writeSync(encoder.encode("Do you want to proceed?\r\n❯ 1. Yes\r\n  2. No\r\n"));
}
Deno.stdin.setRaw(true);
// Bracketed paste mode on: tmux's `paste-buffer -p` wraps a paste only for programs that ask.
// tmux reads a pane's output in order: once the line after it shows, it has seen the request.
Deno.stdout.writeSync(encoder.encode("\x1b[?2004h(reader ready)\r\n"));
Deno.writeTextFileSync(out, "");

const START = "\x1b[200~";
const END = "\x1b[201~";
const decoder = new TextDecoder();
let pending = "";
let line = "";
let inPaste = false;

for await (const chunk of Deno.stdin.readable) {
  pending += decoder.decode(chunk, { stream: true });
  let i = 0;
  while (i < pending.length) {
    const rest = pending.slice(i);
    if (rest.startsWith("\x1b")) {
      if (rest.startsWith(START)) {
        inPaste = true;
        i += START.length;
        continue;
      }
      if (rest.startsWith(END)) {
        inPaste = false;
        i += END.length;
        // Shown as a TUI shows its composer, until Enter submits it.
        Deno.stdout.writeSync(encoder.encode(`\r\x1b[Kcomposer: ${JSON.stringify(line)}`));
        continue;
      }
      // The start of a marker cut between two reads: wait for the rest.
      if (START.startsWith(rest) || END.startsWith(rest)) break;
    }
    const ch = pending[i]!;
    i++;
    if (!inPaste && (ch === "\r" || ch === "\n")) {
      Deno.writeTextFileSync(out, JSON.stringify(line) + "\n", { append: true });
      line = "";
    } else {
      line += ch;
    }
  }
  pending = pending.slice(i);
}

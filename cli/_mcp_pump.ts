// The session's side of the pumps (the engine's is routes/mcp_pump.ts). With this machine's
// engine, `crosstalk mcp` does not copy the agent's MCP messages itself: it starts two processes of
// the system that do, and sleeps. Copying a line costs a `tee` or a `cat` a few microseconds,
// where waking a Deno process costs a third of a millisecond (docs/BENCHMARKS.md), and a message
// between two agents crosses a session's stdio five times.
//
//   stdin  → tee -a <journal> → loopback TCP → engine       (bash: exec 3<>/dev/tcp/…)
//   stdout ← cat              ← loopback TCP ← engine
//
// The journal keeps every line the agent sent, and the engine appends to a file the id of every
// request it answered. When the engine goes away (a restart, a crash) the `cat` ends, and this
// process takes the relay over (cli/mcp.ts): the requests the engine had not answered go to the
// engine that comes back, as the relay does for its own, and the lines that keep coming are read
// from the journal, which `tee` goes on writing (the agent's stdin stays with it).
import { CrosstalkError, errorText } from "../schema/errors.ts";
import type { HttpClient } from "./_client.ts";

/** How the pumps ended, and what the relay must take over then. */
export type PumpOutcome =
  /** Not started (another machine's engine, no bash, an engine without pumps): relay stdin. */
  | { kind: "unavailable"; why: string }
  /** The agent's stdin closed: the session is over. */
  | { kind: "ended" }
  /** The engine went away: relay from the journal, sending `seed` again first. */
  | { kind: "engine-gone"; seed: RelaySeed; input: (buffer: Uint8Array) => Promise<number | null> };

/** What a relay needs to know of the lines the pumps carried, to take over from them. */
export interface RelaySeed {
  initialize?: { id: string | number; line: string };
  initialized?: string;
  /** The requests the engine had not answered, in the order they came. */
  pending: { id: string | number; line: string }[];
}

/** The engine's answer to `POST /api/live/me/mcp/pump`. */
interface Ticket {
  port: number;
  ticket: string;
  answered: string;
}

// The port, ticket and journal come in the environment (another user may read a process's
// arguments, never its environment). `in` waits for the engine's `ok` (its `out` is connected)
// before it reads stdin, and writes an empty line to the journal first: a journal with anything
// in it means stdin may have been read. SIGPIPE is ignored, and GNU tee told so (-p, where it has
// it; BSD tee does so by itself), so that `tee` keeps writing the journal when the engine's end
// is gone.
const OUT_PUMP = `exec 3<>"/dev/tcp/127.0.0.1/$CROSSTALK_PUMP_PORT" || exit 97
printf 'out %s\\n' "$CROSSTALK_PUMP_TICKET" >&3
exec cat <&3`;
const IN_PUMP = `trap '' PIPE
exec 3<>"/dev/tcp/127.0.0.1/$CROSSTALK_PUMP_PORT" || exit 97
printf 'in %s\\n' "$CROSSTALK_PUMP_TICKET" >&3
IFS= read -r ready <&3 || exit 98
[ "$ready" = ok ] || exit 98
printf '\\n' >> "$CROSSTALK_PUMP_JOURNAL"
if tee -p </dev/null >/dev/null 2>&1; then exec tee -p -a "$CROSSTALK_PUMP_JOURNAL" >&3; fi
exec tee -a "$CROSSTALK_PUMP_JOURNAL" >&3`;

/** How long the engine has to close `out` after the agent's stdin closed. */
const END_MS = 5_000;

/**
 * Runs the session's stdio through pumps until stdin closes or the engine goes away. Only for
 * this machine's engine; `$CROSSTALK_MCP_RELAY=process` turns the pumps off.
 */
export async function runPumps(
  api: HttpClient,
  options: { reportDelayMs: number; env: Readonly<Record<string, string | undefined>> },
): Promise<PumpOutcome> {
  if (options.env.CROSSTALK_MCP_RELAY === "process") {
    return { kind: "unavailable", why: "$CROSSTALK_MCP_RELAY=process" };
  }
  if (Deno.build.os === "windows") return { kind: "unavailable", why: "no pumps on Windows" };
  let ticket: Ticket;
  try {
    ticket = await api.call<Ticket>(
      "POST",
      `/api/live/me/mcp/pump?woken_report_ms=${options.reportDelayMs}`,
    );
  } catch (error) {
    if (error instanceof CrosstalkError && error.code === "ERR_ROUTE_NOT_FOUND") {
      return { kind: "unavailable", why: "the engine has no pumps" };
    }
    return { kind: "unavailable", why: errorText(error) };
  }
  // Beside the engine's file, and named as it is (never by the ticket, which must not show in
  // tee's arguments).
  const journalPath = ticket.answered.replace(/\.answered$/, ".in");
  // Both files are read through handles held from now on: removed meanwhile (a sweep of the
  // engine's), they can still be read to the end.
  let journal: Deno.FsFile;
  let answered: Deno.FsFile;
  try {
    // Ours to create, and theirs to be readable: an engine of another user cannot be followed.
    journal = await Deno.open(journalPath, {
      createNew: true,
      read: true,
      write: true,
      mode: 0o600,
    });
  } catch (error) {
    return { kind: "unavailable", why: `the engine's state folder: ${errorText(error)}` };
  }
  try {
    answered = await Deno.open(ticket.answered, { read: true });
  } catch (error) {
    journal.close();
    await Deno.remove(journalPath).catch(() => {});
    return { kind: "unavailable", why: `the engine's state folder: ${errorText(error)}` };
  }
  const done = async () => {
    for (const file of [journal, answered]) {
      try {
        file.close();
      } catch {
        // Closed already.
      }
    }
    await removeFiles(journalPath, ticket.answered);
  };
  const pump = (script: string, stdio: { stdin: "inherit" | "null"; stdout: "inherit" | "null" }) =>
    new Deno.Command("bash", {
      args: ["-c", script],
      env: {
        CROSSTALK_PUMP_PORT: String(ticket.port),
        CROSSTALK_PUMP_TICKET: ticket.ticket,
        CROSSTALK_PUMP_JOURNAL: journalPath,
      },
      ...stdio,
      stderr: "null",
    }).spawn();
  let out: Deno.ChildProcess;
  try {
    out = pump(OUT_PUMP, { stdin: "null", stdout: "inherit" });
  } catch (error) {
    await done();
    return { kind: "unavailable", why: `bash: ${errorText(error)}` };
  }
  const into = pump(IN_PUMP, { stdin: "inherit", stdout: "null" });
  // Told to stop, this process stops its pumps too (until the journal is left, `tee` may be
  // running), and exits as it would have.
  const handlers = (["SIGTERM", "SIGINT", "SIGHUP"] as const).map((signal) => {
    const handler = () => {
      kill(into);
      kill(out);
      void done().finally(() => Deno.exit(128 + { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal]));
    };
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  let left = false;
  const leave = async () => {
    if (left) return;
    left = true;
    for (const remove of handlers) remove();
    await done();
  };
  return await watchPumps({ out, into, journal, journalPath, answered, done: leave });
}

/** Waits for the first pump to end, and says what that means. */
async function watchPumps(pumps: {
  out: Deno.ChildProcess;
  into: Deno.ChildProcess;
  journal: Deno.FsFile;
  journalPath: string;
  answered: Deno.FsFile;
  done: () => Promise<void>;
}): Promise<PumpOutcome> {
  const { out, into, journal, journalPath, answered, done } = pumps;
  const size = async () => (await journal.stat()).size;
  const started = async () => (await size()) > 0;
  let first = await Promise.race([
    out.status.then(() => "out" as const),
    into.status.then(() => "in" as const),
  ]);
  // Both ended at once: stdin closed (the engine ends `out` when `in` ends), not the engine.
  if (first === "out") {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 100));
    if (await Promise.race([into.status.then(() => true), late])) first = "in";
    clearTimeout(timer);
  }
  if (first === "in") {
    const { code } = await into.status;
    // It never read stdin (it could not connect, the engine never said ok), or tee failed
    // before it read anything (only the marker is in the journal): this process reads stdin.
    if (!(await started()) || (code !== 0 && (await size()) === 1)) {
      kill(out);
      await out.status;
      await done();
      return { kind: "unavailable", why: "the pumps could not start" };
    }
    // The agent's stdin closed. The engine ends the session's `out` in turn.
    const timer = setTimeout(() => kill(out), END_MS);
    await out.status;
    clearTimeout(timer);
    await done();
    return { kind: "ended" };
  }
  if (!(await started())) {
    // `in` waits for an ok that will not come: stop it before it reads anything.
    kill(into);
    await into.status;
    if (!(await started())) {
      await done();
      return { kind: "unavailable", why: "the pumps could not connect" };
    }
  }
  // The engine went away (or ended the session): take over from the journal.
  const { seed, offset, answered: answeredIds } = await seedFrom(journal, answered);
  return {
    kind: "engine-gone",
    seed,
    input: withoutAnswered(tail(journal, journalPath, offset, into.status, done), answeredIds),
  };
}

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGTERM");
  } catch {
    // Gone already.
  }
}

async function removeFiles(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((path) => Deno.remove(path).catch(() => {})));
}

/**
 * What the journal and the engine's answered ids say a relay must send again; `offset` is where
 * the journal's complete lines end (a line `tee` is writing now is read again from there). Both
 * files are read a piece at a time, and only the requests not answered are kept: a journal holds
 * every line of a session, however long it ran. A line either file has not ended yet (its writer
 * was cut short) counts for nothing: a cut id in the answered file (`12` of `123`) must not pass
 * for another request's.
 */
export async function seedFrom(
  journal: Deno.FsFile,
  answeredIds: Deno.FsFile,
): Promise<{ seed: RelaySeed; offset: number; answered: Set<string> }> {
  const answered = new Set<string>();
  for await (const { line } of linesOf(answeredIds)) {
    if (line.trim() !== "") answered.add(line.trim());
  }
  const seed: RelaySeed = { pending: [] };
  const cancelled = new Set<string>();
  const unanswered: { id: string | number; line: string }[] = [];
  let offset = 0;
  for await (const { line: raw, end } of linesOf(journal)) {
    offset = end;
    const line = raw.trim();
    if (line === "") continue;
    let message: { id?: string | number; method?: string; params?: { requestId?: unknown } };
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    if (message.method === "initialize" && message.id !== undefined) {
      seed.initialize = { id: message.id, line };
    }
    if (message.method === "notifications/initialized") seed.initialized = line;
    if (message.method === "notifications/cancelled") {
      cancelled.add(JSON.stringify(message.params?.requestId));
    }
    if (
      message.method !== undefined && message.id !== undefined &&
      !answered.has(JSON.stringify(message.id))
    ) {
      unanswered.push({ id: message.id, line });
    }
  }
  seed.pending = unanswered.filter(({ id }) => !cancelled.has(JSON.stringify(id)));
  return { seed, offset, answered };
}

/**
 * The complete lines of `file` from its start, without their line breaks, each with the byte
 * offset just past its line break; what follows the last line break is left out.
 */
async function* linesOf(file: Deno.FsFile): AsyncGenerator<{ line: string; end: number }> {
  await file.seek(0, Deno.SeekMode.Start);
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let partial: Uint8Array[] = [];
  let at = 0;
  for (let n = await file.read(buffer); n !== null; n = await file.read(buffer)) {
    const chunk = buffer.subarray(0, n);
    let start = 0;
    for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, start)) {
      const bytes = concat([...partial, chunk.subarray(start, newline)]);
      partial = [];
      yield { line: decoder.decode(bytes), end: at + newline + 1 };
      start = newline + 1;
    }
    if (start < n) partial.push(chunk.slice(start));
    at += n;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

/** The id of a JSON-RPC request line as the answered file holds it; undefined for anything else. */
function requestId(line: string): string | undefined {
  try {
    const message = JSON.parse(line) as { id?: string | number; method?: string };
    return message.method !== undefined && message.id !== undefined
      ? JSON.stringify(message.id)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `input` without the request lines whose ids the engine that went away had answered. `tee` sends
 * a line to the engine before it appends it to the journal: a request the engine answered in
 * the moment before it died can reach the journal only after the takeover read it, and come
 * through the tail. Its answer went out already, and a request id is never used twice in a
 * session (MCP), so it is dropped: sent again, a `read` would mark messages read whose answer the
 * client ignores.
 */
export function withoutAnswered(
  input: (buffer: Uint8Array) => Promise<number | null>,
  answered: ReadonlySet<string>,
): (buffer: Uint8Array) => Promise<number | null> {
  if (answered.size === 0) return input;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let partial = "";
  let ready = new Uint8Array(0);
  let ended = false;
  return async (buffer) => {
    while (ready.length === 0 && !ended) {
      const n = await input(buffer);
      let text: string;
      if (n === null) {
        ended = true;
        text = partial + decoder.decode();
        partial = "";
      } else {
        text = partial + decoder.decode(buffer.subarray(0, n), { stream: true });
        const end = text.lastIndexOf("\n") + 1;
        partial = text.slice(end);
        text = text.slice(0, end);
      }
      const kept = text.split(/(?<=\n)/).filter((line) => {
        const id = requestId(line.trim());
        return id === undefined || !answered.has(id);
      });
      ready = encoder.encode(kept.join(""));
    }
    if (ready.length === 0) return null;
    const n = Math.min(buffer.length, ready.length);
    buffer.set(ready.subarray(0, n));
    ready = ready.subarray(n);
    return n;
  };
}

/**
 * Reads the journal from `offset` as if it were stdin: what `tee` appends, as it comes, until
 * `tee` has ended and everything it wrote was read; then stdin itself (tee read nothing it did
 * not write, so stdin goes on where the journal ends). `done` is called when the journal is left.
 */
function tail(
  file: Deno.FsFile,
  path: string,
  offset: number,
  ended: Promise<unknown>,
  done: () => Promise<void>,
): (buffer: Uint8Array) => Promise<number | null> {
  let positioned = false;
  let finished = false;
  let wake = Promise.withResolvers<void>();
  void ended.then(() => {
    finished = true;
    wake.resolve();
  });
  let watcher: Deno.FsWatcher | undefined | null;
  const fromStdin = (buffer: Uint8Array) => Deno.stdin.read(buffer);
  let onStdin = false;
  return async (buffer) => {
    if (onStdin) return await fromStdin(buffer);
    if (!positioned) {
      await file.seek(offset, Deno.SeekMode.Start);
      positioned = true;
    }
    for (;;) {
      // Read before looking at `finished`: what tee wrote before it ended is read first.
      const wasFinished = finished;
      const n = await file.read(buffer);
      if (n !== null && n > 0) return n;
      if (wasFinished) {
        watcher?.close();
        await done();
        // Whatever ended tee, stdin is ours now: at its end already, it says so.
        onStdin = true;
        return await fromStdin(buffer);
      }
      watcher ??= watch(path, () => wake.resolve());
      // A watch event, tee's end, or a while: the watch is a hint, the read is the truth (and
      // without a watch, a journal removed meanwhile, the while is short).
      const timer = setTimeout(() => wake.resolve(), watcher ? 1_000 : 50);
      await wake.promise;
      clearTimeout(timer);
      wake = Promise.withResolvers<void>();
    }
  };
}

/** Calls `onChange` on every change of the file at `path`; null when it cannot be watched. */
function watch(path: string, onChange: () => void): Deno.FsWatcher | null {
  try {
    const watcher = Deno.watchFs(path, { recursive: false });
    void (async () => {
      try {
        for await (const _ of watcher) onChange();
      } catch {
        // Closed.
      }
    })();
    return watcher;
  } catch {
    return null;
  }
}

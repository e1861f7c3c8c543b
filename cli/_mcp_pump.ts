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
// from the journal, which `tee` goes on writing (the agent's stdin stays with it). Once the relay
// has an engine again and nothing in flight, it hands the session back to pumps: a new `cat`, and
// for `in` a `tail -f` of the journal from where the relay stopped (`tee` still holds stdin),
// the engine told the client's handshake so that its new session is the one the client opened.
import { CrosstalkError, errorText } from "../schema/errors.ts";
import type { Handshake } from "../engine/wake.ts";
import type { HttpClient } from "./_client.ts";

/** How the pumps ended, and what the relay must take over then. */
export type PumpOutcome =
  /**
   * Not started (another machine's engine, no bash, an engine without pumps): relay stdin. After
   * a relay asked to go back to pumps: it goes on relaying, as it was.
   */
  | { kind: "unavailable"; why: string; again?: "later" | "never" }
  /** The agent's stdin closed: the session is over. */
  | { kind: "ended" }
  /**
   * The engine went away (or the pumps a relay went back to could not start): relay from the
   * journal, sending `seed` again first; `resume` puts the session back on pumps, where it can.
   */
  | { kind: "engine-gone"; seed: RelaySeed; journal: JournalTail; resume?: Resume };

/** What a relay needs to know of the lines the pumps carried, to take over from them. */
export interface RelaySeed {
  initialize?: { id: string | number; line: string };
  initialized?: string;
  /** The requests the engine had not answered, in the order they came. */
  pending: { id: string | number; line: string }[];
  /**
   * The ids (as JSON) of the requests the engine that went away answered. `tee` sends a line to
   * the engine before it appends it to the journal: a request answered in the moment before the
   * engine died can reach the journal after the takeover read it, and must not be sent again (a
   * `read` would mark messages read whose answer the client ignores).
   */
  answered: ReadonlySet<string>;
}

/**
 * True when `id` is a request's that the engine the pumps went to answered (see
 * {@linkcode RelaySeed.answered}): `7` and `"7"` are two requests.
 */
export function answeredBefore(seed: RelaySeed, id: string | number | undefined): boolean {
  return id !== undefined && seed.answered.has(JSON.stringify(id));
}

/**
 * Puts a relaying session back on pumps, from `offset` of the journal (where the relay's last
 * whole line ended; it has nothing in flight). `detach` is called once the engine has the new
 * session, before the new `cat` may write: the relay closes its socket and finishes its writes.
 * `unavailable` means the relay goes on, undetached.
 */
export type Resume = (
  offset: number,
  handshake: Handshake | undefined,
  detach: () => Promise<void>,
) => Promise<PumpOutcome>;

/** The engine's answer to `POST /api/live/me/mcp/pump`. */
interface Ticket {
  port: number;
  ticket: string;
  answered: string;
  /** True when the engine took the handshake sent with the request (older engines ignore it). */
  replayed?: boolean;
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
// Back from a relay, `in` is the journal from where the relay stopped: `tee` still holds stdin,
// and tail's --pid ends the tail once tee has ended and all it wrote was read (it looks every
// 0.2 s, -s; by default once a second). It says `paired`
// on its stdout once the engine has both connections; `cat` starts only when told `go` on its
// stdin, once the relay has written its last line.
const RESUMED_IN_PUMP = `trap '' PIPE
exec 3<>"/dev/tcp/127.0.0.1/$CROSSTALK_PUMP_PORT" || exit 97
printf 'in %s\\n' "$CROSSTALK_PUMP_TICKET" >&3
IFS= read -r ready <&3 || exit 98
[ "$ready" = ok ] || exit 98
printf 'paired\\n'
exec tail -c "+$CROSSTALK_PUMP_FROM" -s 0.2 --pid="$CROSSTALK_PUMP_TEE" -f "$CROSSTALK_PUMP_JOURNAL" >&3`;
const GATED_OUT_PUMP = `exec 3<>"/dev/tcp/127.0.0.1/$CROSSTALK_PUMP_PORT" || exit 97
printf 'out %s\\n' "$CROSSTALK_PUMP_TICKET" >&3
IFS= read -r go || exit 99
[ "$go" = go ] || exit 99
exec cat <&3`;
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
  const ticket = await ticketFor(api, options.reportDelayMs);
  if ("why" in ticket) return { kind: "unavailable", why: ticket.why };
  // Beside the engine's file, and named as it is (never by the ticket, which must not show in
  // tee's arguments).
  const journalPath = ticket.answered.replace(/\.answered$/, ".in");
  // Both files are read through handles held from now on: removed meanwhile (a sweep of the
  // engine's), they can still be read to the end.
  let journal: Deno.FsFile;
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
  const pumps = new SessionPumps(api, options.reportDelayMs, journal, journalPath);
  return await pumps.start(ticket);
}

/** A ticket for the session's pumps, or why there is none (and whether asking again may help). */
async function ticketFor(
  api: HttpClient,
  reportDelayMs: number,
  handshake?: Handshake,
): Promise<Ticket | { why: string; again: "later" | "never" }> {
  try {
    return await api.call<Ticket>(
      "POST",
      `/api/live/me/mcp/pump?woken_report_ms=${reportDelayMs}`,
      handshake
        ? { initialize: handshake.initialize.line, initialized: handshake.initialized }
        : undefined,
    );
  } catch (error) {
    if (error instanceof CrosstalkError && error.code === "ERR_ROUTE_NOT_FOUND") {
      return { why: "the engine has no pumps", again: "never" };
    }
    // The engine will refuse that handshake every time.
    const never = error instanceof CrosstalkError && error.code === "ERR_BODY_INVALID";
    return { why: errorText(error), again: never ? "never" : "later" };
  }
}

/**
 * One session's pumps over its life: the journal and `tee` (stdin's reader from the first pumps
 * to the end), and each ticket's `cat` and `in` in turn.
 */
class SessionPumps {
  #api: HttpClient;
  #reportDelayMs: number;
  #journal: Deno.FsFile;
  #journalPath: string;
  /** The first `in`, which reads stdin for the whole session. */
  #tee: Deno.ChildProcess | undefined;
  #teeEnded = false;
  /** Pumps running now, stopped with this process. */
  #running = new Set<Deno.ChildProcess>();
  /** The engine's answered files this session was given, open for reading. */
  #answered = new Map<string, Deno.FsFile>();
  #removeHandlers: (() => void) | undefined;
  #left = false;

  constructor(api: HttpClient, reportDelayMs: number, journal: Deno.FsFile, journalPath: string) {
    this.#api = api;
    this.#reportDelayMs = reportDelayMs;
    this.#journal = journal;
    this.#journalPath = journalPath;
  }

  /** Starts the first pumps (`tee` reads stdin) and waits for how they end. */
  async start(ticket: Ticket): Promise<PumpOutcome> {
    const answered = await this.#openAnswered(ticket);
    if (typeof answered === "string") {
      await this.#leave();
      return { kind: "unavailable", why: answered };
    }
    let out: Deno.ChildProcess;
    try {
      out = this.#pump(OUT_PUMP, ticket, { stdin: "null", stdout: "inherit" });
    } catch (error) {
      await this.#leave();
      return { kind: "unavailable", why: `bash: ${errorText(error)}` };
    }
    const tee = this.#pump(IN_PUMP, ticket, { stdin: "inherit", stdout: "null" });
    this.#tee = tee;
    void tee.status.then(() => this.#teeEnded = true);
    // Told to stop, this process stops its pumps too (until the journal is left, `tee` may be
    // running), and exits as it would have.
    const handlers = (["SIGTERM", "SIGINT", "SIGHUP"] as const).map((signal) => {
      const handler = () => {
        for (const child of this.#running) kill(child);
        void this.#leave().finally(() =>
          Deno.exit(128 + { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal])
        );
      };
      Deno.addSignalListener(signal, handler);
      return () => Deno.removeSignalListener(signal, handler);
    });
    this.#removeHandlers = () => handlers.forEach((remove) => remove());
    return await this.#watchFirst(out, tee, answered);
  }

  /** The journal's size: anything in it means `tee` may have read stdin. */
  async #size(): Promise<number> {
    return (await this.#journal.stat()).size;
  }

  /** Waits for the first pumps to end, and says what that means. */
  async #watchFirst(
    out: Deno.ChildProcess,
    into: Deno.ChildProcess,
    answered: { path: string; file: Deno.FsFile },
  ): Promise<PumpOutcome> {
    const started = async () => (await this.#size()) > 0;
    const first = await firstToEnd(out, into);
    if (first === "in") {
      const { code } = await into.status;
      // It never read stdin (it could not connect, the engine never said ok), or tee failed
      // before it read anything (only the marker is in the journal): this process reads stdin.
      if (!(await started()) || (code !== 0 && (await this.#size()) === 1)) {
        kill(out);
        await out.status;
        await this.#leave();
        return { kind: "unavailable", why: "the pumps could not start" };
      }
      return await this.#ended(out);
    }
    if (!(await started())) {
      // `in` waits for an ok that will not come: stop it before it reads anything.
      kill(into);
      await into.status;
      if (!(await started())) {
        await this.#leave();
        return { kind: "unavailable", why: "the pumps could not connect" };
      }
    }
    // The engine went away (or ended the session): take over from the journal.
    return await this.#takeOver(answered, 0, undefined);
  }

  /** The agent's stdin closed: the engine ends the session's `out` in turn. */
  async #ended(out: Deno.ChildProcess): Promise<PumpOutcome> {
    const timer = setTimeout(() => kill(out), END_MS);
    await out.status;
    clearTimeout(timer);
    await this.#leave();
    return { kind: "ended" };
  }

  /** What a relay needs to take over from `from` of the journal. */
  async #takeOver(
    answered: { path: string; file: Deno.FsFile },
    from: number,
    handshake: Handshake | undefined,
  ): Promise<PumpOutcome> {
    const { seed, offset } = await seedFrom(this.#journal, answered.file, { from, handshake });
    // Read: the engine it was written for is gone, or is done with that session.
    await this.#forget(answered.path);
    const tee = this.#tee!;
    return {
      kind: "engine-gone",
      seed,
      journal: new JournalTail(
        this.#journal,
        this.#journalPath,
        offset,
        tee.status,
        () => this.#leave(),
      ),
      resume: (at, shake, detach) => this.#resume(at, shake, detach),
    };
  }

  /** Back to pumps from a relay: see {@linkcode Resume}. */
  async #resume(
    offset: number,
    handshake: Handshake | undefined,
    detach: () => Promise<void>,
  ): Promise<PumpOutcome> {
    if (this.#teeEnded || this.#left) {
      return { kind: "unavailable", why: "stdin has closed", again: "never" };
    }
    if (!(await tailHasPid())) {
      return { kind: "unavailable", why: "no tail with --pid on this machine", again: "never" };
    }
    // `tail` follows the journal by its name: one removed meanwhile (a sweep) cannot be followed.
    const named = await Deno.stat(this.#journalPath).catch(() => undefined);
    const held = await this.#journal.stat();
    if (!named || named.ino !== held.ino || named.dev !== held.dev) {
      return { kind: "unavailable", why: "the journal was removed", again: "never" };
    }
    const ticket = await ticketFor(this.#api, this.#reportDelayMs, handshake);
    if ("why" in ticket) return { kind: "unavailable", ...ticket };
    if (handshake && ticket.replayed !== true) {
      // An engine older than this crosstalk: its session would never see the handshake.
      return { kind: "unavailable", why: "the engine cannot resume pumps", again: "never" };
    }
    const answered = await this.#openAnswered(ticket);
    if (typeof answered === "string") {
      return { kind: "unavailable", why: answered, again: "later" };
    }
    // The new pumps connect while the relay goes on: the engine replays the handshake once it
    // has both, and only from then on are the agent's wakes its new session's. `cat` waits to
    // be told to start, so that nothing it copies comes between the relay's lines on stdout.
    let out: Deno.ChildProcess | undefined;
    let into: Deno.ChildProcess | undefined;
    try {
      out = this.#pump(GATED_OUT_PUMP, ticket, { stdin: "piped", stdout: "inherit" });
      into = this.#pump(RESUMED_IN_PUMP, ticket, { stdin: "null", stdout: "piped" }, {
        CROSSTALK_PUMP_FROM: String(offset + 1),
        CROSSTALK_PUMP_TEE: String(this.#tee!.pid),
      });
    } catch (error) {
      await this.#stop(out, into, answered.path);
      return { kind: "unavailable", why: `bash: ${errorText(error)}`, again: "later" };
    }
    if (!(await saysPaired(into, out))) {
      await this.#stop(out, into, answered.path);
      return { kind: "unavailable", why: "the pumps could not connect", again: "later" };
    }
    await detach();
    await tell(out, "go\n");
    const first = await firstToEnd(out, into);
    if (first === "in") {
      // stdin closed: tee ended, the tail read all it wrote and ended.
      if (this.#teeEnded) return await this.#ended(out);
      // Its tail failed: the relay takes over again.
      kill(out);
      await out.status;
    } else {
      // The engine went away: the journal is read by the relay now, not by the tail.
      kill(into);
      await into.status;
    }
    return await this.#takeOver(answered, offset, handshake);
  }

  /** Stops pumps that never paired, and forgets their ticket's answered file. */
  async #stop(
    out: Deno.ChildProcess | undefined,
    into: Deno.ChildProcess | undefined,
    answered: string,
  ): Promise<void> {
    for (const child of [out, into]) {
      if (!child) continue;
      kill(child);
      await child.status;
    }
    await this.#forget(answered);
  }

  /** Opens a ticket's answered file, where the engine writes the ids of what it answered. */
  async #openAnswered(ticket: Ticket): Promise<{ path: string; file: Deno.FsFile } | string> {
    try {
      const file = await Deno.open(ticket.answered, { read: true });
      this.#answered.set(ticket.answered, file);
      return { path: ticket.answered, file };
    } catch (error) {
      return `the engine's state folder: ${errorText(error)}`;
    }
  }

  /** Closes and removes an answered file that was read for the last time. */
  async #forget(path: string): Promise<void> {
    const file = this.#answered.get(path);
    if (file) closeQuietly(file);
    this.#answered.delete(path);
    await removeFiles(path);
  }

  #pump(
    script: string,
    ticket: Ticket,
    stdio: { stdin: "inherit" | "null" | "piped"; stdout: "inherit" | "null" | "piped" },
    env: Record<string, string> = {},
  ): Deno.ChildProcess {
    const child = new Deno.Command("bash", {
      args: ["-c", script],
      env: {
        CROSSTALK_PUMP_PORT: String(ticket.port),
        CROSSTALK_PUMP_TICKET: ticket.ticket,
        CROSSTALK_PUMP_JOURNAL: this.#journalPath,
        ...env,
      },
      ...stdio,
      stderr: "null",
    }).spawn();
    this.#running.add(child);
    void child.status.then(() => this.#running.delete(child));
    return child;
  }

  /** The session is over, or never had pumps: the files go. */
  async #leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    this.#removeHandlers?.();
    for (const file of [this.#journal, ...this.#answered.values()]) closeQuietly(file);
    await removeFiles(this.#journalPath, ...this.#answered.keys());
  }
}

/**
 * True once the resumed `in` pump says the engine has both connections; false when it ends
 * first, or `out` does.
 */
async function saysPaired(into: Deno.ChildProcess, out: Deno.ChildProcess): Promise<boolean> {
  const reader = into.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const said = (async () => {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return false;
      text += value;
    }
    return text === "paired\n";
  })();
  try {
    return await Promise.race([said, out.status.then(() => false)]);
  } finally {
    // Nothing more comes that way (the tail writes to the engine).
    await reader.cancel().catch(() => {});
  }
}

/** Writes `text` to a pump's stdin and closes it; a pump gone already is left to end. */
async function tell(child: Deno.ChildProcess, text: string): Promise<void> {
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text)).catch(() => {});
  await writer.close().catch(() => {});
}

/** Which of a session's two pumps ended first; both at once (stdin closed) counts as `in`. */
async function firstToEnd(out: Deno.ChildProcess, into: Deno.ChildProcess): Promise<"out" | "in"> {
  const first = await Promise.race([
    out.status.then(() => "out" as const),
    into.status.then(() => "in" as const),
  ]);
  if (first === "in") return first;
  // Both ended at once: stdin closed (the engine ends `out` when `in` ends), not the engine.
  return await settlesWithin(into.status, 100) ? "in" : "out";
}

/** True when `promise` settles (either way) within `ms`; false once `ms` have passed. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

function closeQuietly(file: Deno.FsFile): void {
  try {
    file.close();
  } catch {
    // Closed already.
  }
}

let tailPidChecked: Promise<boolean> | undefined;

/**
 * True where `tail` takes `--pid` (GNU's and uutils'; BSD's and busybox's do not), which ends the
 * resumed `in` pump once `tee` has ended.
 */
function tailHasPid(): Promise<boolean> {
  return tailPidChecked ??= new Deno.Command("tail", {
    args: ["-s", "0.2", `--pid=${Deno.pid}`, "-n", "0", "/dev/null"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output().then((out) => out.success, () => false);
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
 * What the journal (from `from.from`) and the engine's answered ids say a relay must send again;
 * `offset` is where the journal's complete lines end (a line `tee` is writing now is read again
 * from there). A journal read from where a relay handed the session back to pumps starts with
 * the handshake that relay had (`from.handshake`). Both files are read a piece at a time, and
 * only the requests not answered are kept: a journal holds every line of a session, however long
 * it ran. A line either file has not ended yet (its writer was cut short) counts for nothing: a
 * cut id in the answered file (`12` of `123`) must not pass for another request's.
 */
export async function seedFrom(
  journal: Deno.FsFile,
  answeredIds: Deno.FsFile,
  from: { from: number; handshake: Handshake | undefined } = { from: 0, handshake: undefined },
): Promise<{ seed: RelaySeed; offset: number }> {
  const answered = new Set<string>();
  for await (const { line } of linesOf(answeredIds, 0)) {
    if (line.trim() !== "") answered.add(line.trim());
  }
  const seed: RelaySeed = {
    ...(from.handshake?.initialize ? { initialize: from.handshake.initialize } : {}),
    ...(from.handshake?.initialized ? { initialized: from.handshake.initialized } : {}),
    pending: [],
    answered,
  };
  const cancelled = new Set<string>();
  const unanswered: { id: string | number; line: string }[] = [];
  let offset = from.from;
  for await (const { line: raw, end } of linesOf(journal, from.from)) {
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
  return { seed, offset };
}

/**
 * The complete lines of `file` from byte `start`, without their line breaks, each with the byte
 * offset just past its line break; what follows the last line break is left out.
 */
async function* linesOf(
  file: Deno.FsFile,
  start: number,
): AsyncGenerator<{ line: string; end: number }> {
  await file.seek(start, Deno.SeekMode.Start);
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let partial: Uint8Array[] = [];
  let at = start;
  for (let n = await file.read(buffer); n !== null; n = await file.read(buffer)) {
    const chunk = buffer.subarray(0, n);
    let from = 0;
    for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, from)) {
      const bytes = concat([...partial, chunk.subarray(from, newline)]);
      partial = [];
      yield { line: decoder.decode(bytes), end: at + newline + 1 };
      from = newline + 1;
    }
    if (from < n) partial.push(chunk.slice(from));
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

/**
 * The journal from an offset, read as if it were stdin: what `tee` appends, as it comes, until
 * `tee` has ended and everything it wrote was read; then stdin itself (tee read nothing it did
 * not write, so stdin goes on where the journal ends). `done` is called when the journal is left.
 */
export class JournalTail {
  #file: Deno.FsFile;
  #path: string;
  #position: number;
  #positioned = false;
  #finished = false;
  #interrupted = false;
  #wake = Promise.withResolvers<void>();
  #watcher: Deno.FsWatcher | undefined | null;
  #onStdin = false;
  #done: () => Promise<void>;

  constructor(
    file: Deno.FsFile,
    path: string,
    offset: number,
    teeEnded: Promise<unknown>,
    done: () => Promise<void>,
  ) {
    this.#file = file;
    this.#path = path;
    this.#position = offset;
    this.#done = done;
    void teeEnded.then(() => {
      this.#finished = true;
      this.#wake.resolve();
    });
  }

  /** Where the bytes read so far end in the journal. */
  get position(): number {
    return this.#position;
  }

  /** True once the journal is left for stdin (tee ended): nothing to hand back to pumps. */
  get onStdin(): boolean {
    return this.#onStdin;
  }

  /** Makes a read that waits for the journal to grow return 0 bytes now. */
  interrupt(): void {
    this.#interrupted = true;
    this.#wake.resolve();
  }

  /** Reads as `Deno.stdin.read` does; 0 when {@linkcode interrupt}ed while waiting. */
  async read(buffer: Uint8Array): Promise<number | null> {
    if (this.#onStdin) return await Deno.stdin.read(buffer);
    if (!this.#positioned) {
      await this.#file.seek(this.#position, Deno.SeekMode.Start);
      this.#positioned = true;
    }
    for (;;) {
      // Read before looking at `finished`: what tee wrote before it ended is read first.
      const wasFinished = this.#finished;
      const n = await this.#file.read(buffer);
      if (n !== null && n > 0) {
        this.#position += n;
        return n;
      }
      if (wasFinished) {
        this.#watcher?.close();
        await this.#done();
        // Whatever ended tee, stdin is ours now: at its end already, it says so.
        this.#onStdin = true;
        return await Deno.stdin.read(buffer);
      }
      if (this.#interrupted) {
        this.#interrupted = false;
        return 0;
      }
      this.#watcher ??= watch(this.#path, () => this.#wake.resolve());
      // A watch event, tee's end, or a while: the watch is a hint, the read is the truth (and
      // without a watch, a journal removed meanwhile, the while is short).
      const timer = setTimeout(() => this.#wake.resolve(), this.#watcher ? 1_000 : 50);
      await this.#wake.promise;
      clearTimeout(timer);
      this.#wake = Promise.withResolvers<void>();
    }
  }

  /** Stops watching the journal (the relay hands the session back to pumps). */
  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
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

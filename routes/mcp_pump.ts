// The fast path of a live agent session on the engine's own machine. Its `crosstalk mcp` process
// hands its stdio to two byte pumps of the system (a `tee` from stdin, a `cat` to stdout, started
// by bash with /dev/tcp) connected to the engine over loopback TCP, and then sleeps: no Deno
// process wakes per message on the session's side. The engine's end is here: a loopback listener,
// one-time tickets that pair the two connections with the session, and a socket shaped like the
// WebSocket of GET /api/live/me/mcp, so that routes/mcp_session.ts serves both alike. What the
// session's process does when the engine goes away (it takes the relay over from the pumps, with
// the requests the engine had not answered) is in cli/_mcp_pump.ts; docs/LIVE.md tells the story.
import { join } from "../transports/path.ts";
import { randomHex } from "../transports/_fs.ts";
import type { Handshake } from "../engine/wake.ts";

/**
 * A socket close code: the session's pumps ended because its stdin closed. Unlike
 * `CLOSE_LEAVING` (engine/wake.ts), the engine does not remove the session: its `crosstalk mcp` process
 * does, once the wakes it delivers itself are reported.
 */
export const CLOSE_PUMP_ENDED = 4001;

/** What the session's socket must do for routes/mcp_session.ts: a WebSocket, or a pump pair. */
export interface SessionSocket {
  readonly readyState: number;
  /** Sends one JSON-RPC message; `answers` is the request id it answers, when it is an answer. */
  send(text: string, answers?: string | number): void;
  close(code?: number, reason?: string): void;
  /** `message` events are `MessageEvent`s (`data`, a string), `close` events have a `code`. */
  addEventListener(
    type: "message" | "close",
    listener: (event: Event) => void,
    options?: { once?: boolean },
  ): void;
}

/** How long a ticket waits for its two connections. */
const TICKET_MS = 10_000;
/** How long a new connection has to name its ticket, and the longest line that may do it. */
const HELLO_MS = 5_000;
const HELLO_BYTES = 200;
/** How long a stopping engine lets the answers on their way go out. */
const DRAIN_MS = 2_000;
/** A socket close code: the engine stops (as a WebSocket's "going away"). */
const CLOSE_ENGINE_STOPS = 1001;
/** How many connections may be naming their ticket at once. */
const MAX_GREETING = 64;
/** The longest line a session's `in` may send (as the API's largest request body). */
const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Answered-id files older than this are from sessions that are gone (see `#sweep`). */
const STALE_MS = 24 * 60 * 60 * 1000;

/** A ticket, as the session's process gets it from `POST /api/live/me/mcp/pump`. */
export interface PumpTicket {
  /** The loopback port to connect to. */
  port: number;
  /** Sent first on each connection: `in <ticket>` or `out <ticket>`. */
  ticket: string;
  /**
   * A file the engine appends the id of every request it answers to (one JSON value a line),
   * for the session's process to read if the engine goes away.
   */
  answered: string;
}

/** The engine's loopback listener for session pumps, opened at the first ticket. */
export class PumpListener {
  #dir: string;
  #listener: Promise<Deno.TcpListener> | undefined;
  /** Connections that have not named their ticket yet. */
  #greeting = 0;
  #tickets = new Map<string, PumpSocket>();
  #sockets = new Set<PumpSocket>();
  #closed = false;

  /** Files go to `<stateDir>/mcp-pumps`; everything closes when `shutdown` aborts. */
  constructor(stateDir: string, shutdown?: AbortSignal) {
    this.#dir = join(stateDir, "mcp-pumps");
    shutdown?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** A ticket for a session, and the socket its MCP server is served on. */
  async open(): Promise<{ ticket: PumpTicket; socket: PumpSocket }> {
    if (this.#closed) throw new Error("the engine is stopping");
    // Two sessions starting at once share one listener.
    const listener = await (this.#listener ??= this.#listen());
    const ticket = randomHex(32);
    // Named apart from the ticket: a file's name can show in a process's arguments.
    const answered = join(this.#dir, `${randomHex(16)}.answered`);
    const file = await Deno.open(answered, { create: true, append: true, mode: 0o600 });
    const socket = new PumpSocket(file, answered, () => {
      this.#tickets.delete(ticket);
      this.#sockets.delete(socket);
    });
    this.#tickets.set(ticket, socket);
    this.#sockets.add(socket);
    setTimeout(() => {
      // Never (fully) connected: the session's process took another way.
      if (this.#tickets.get(ticket) === socket) socket.close(CLOSE_PUMP_ENDED, "no pumps came");
    }, TICKET_MS);
    return { ticket: { port: (listener.addr as Deno.NetAddr).port, ticket, answered }, socket };
  }

  /** Stops listening and closes every session's pumps (the engine stops). */
  close(): void {
    this.#closed = true;
    void this.#listener?.then((listener) => listener.close(), () => {});
    // Not ended by the client: the answered files stay for the sessions' processes to read.
    for (const socket of [...this.#sockets]) socket.close(CLOSE_ENGINE_STOPS, "the engine stops");
  }

  async #listen(): Promise<Deno.TcpListener> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await this.#sweep();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    // Stopped while this started: no port outlives the engine.
    if (this.#closed) listener.close();
    void (async () => {
      try {
        for await (const conn of listener) void this.#accept(conn);
      } catch {
        // Closed.
      }
    })();
    return listener;
  }

  /** Removes the files of sessions long gone (their processes were killed). */
  async #sweep(): Promise<void> {
    for await (const entry of Deno.readDir(this.#dir)) {
      const path = join(this.#dir, entry.name);
      const info = await Deno.lstat(path).catch(() => undefined);
      if (info?.mtime && Date.now() - info.mtime.getTime() > STALE_MS) {
        await Deno.remove(path).catch(() => {});
      }
    }
  }

  /** Takes a connection, if not too many are still naming their ticket. */
  async #accept(conn: Deno.TcpConn): Promise<void> {
    // A session's pumps name their ticket at once: a crowd of connections that do not is no one's.
    if (this.#greeting >= MAX_GREETING) {
      tryClose(conn);
      return;
    }
    this.#greeting++;
    try {
      await this.#greet(conn);
    } finally {
      this.#greeting--;
    }
  }

  /** Reads a connection's first line (`in|out <ticket>`) and hands it to its session. */
  async #greet(conn: Deno.TcpConn): Promise<void> {
    conn.setNoDelay(true);
    const buffer = new Uint8Array(HELLO_BYTES);
    let length = 0;
    const timer = setTimeout(() => tryClose(conn), HELLO_MS);
    try {
      while (!buffer.subarray(0, length).includes(10)) {
        if (length === buffer.length) throw new Error("too long");
        const n = await conn.read(buffer.subarray(length));
        if (n === null) throw new Error("closed");
        length += n;
      }
    } catch {
      clearTimeout(timer);
      tryClose(conn);
      return;
    }
    clearTimeout(timer);
    const newline = buffer.indexOf(10);
    const [role, ticket, ...rest] = new TextDecoder().decode(buffer.subarray(0, newline)).split(
      " ",
    );
    const socket = ticket ? this.#tickets.get(ticket) : undefined;
    const attached = socket && rest.length === 0 && (role === "in" || role === "out") &&
      socket.attach(role, conn, buffer.subarray(newline + 1, length));
    if (!attached) {
      tryClose(conn);
      return;
    }
    if (socket.paired) this.#tickets.delete(ticket!);
  }
}

/**
 * One session's two connections, as the WebSocket of GET /api/live/me/mcp would be: the client's
 * lines from `in`, the engine's to `out`. The `in` side is told `ok` once `out` is there, so that
 * no request is read before its answer has a way back.
 */
export class PumpSocket extends EventTarget implements SessionSocket {
  readyState: number = WebSocket.OPEN;
  #in: Deno.TcpConn | undefined;
  #out: Deno.TcpConn | undefined;
  #answered: Deno.FsFile;
  #answeredPath: string;
  #forget: () => void;
  /** Writes to `out`, one after the other; lines sent before `out` came wait in it. */
  #writing: Promise<void>;
  #outReady = Promise.withResolvers<void>();
  #encoder = new TextEncoder();
  /** The client's handshake, replayed once both connections are there (see `replay`). */
  #handshake: Handshake | undefined;
  /** The id of a replayed initialize, whose answer the client has had already. */
  #replayed: string | number | undefined;

  constructor(answered: Deno.FsFile, answeredPath: string, forget: () => void) {
    super();
    this.#answered = answered;
    this.#answeredPath = answeredPath;
    this.#forget = forget;
    this.#writing = this.#outReady.promise;
  }

  get paired(): boolean {
    return this.#in !== undefined && this.#out !== undefined;
  }

  /** Takes a connection for `role`; false when that role is taken or the socket closed. */
  attach(role: "in" | "out", conn: Deno.TcpConn, rest: Uint8Array): boolean {
    if (this.readyState !== WebSocket.OPEN || (role === "in" ? this.#in : this.#out)) return false;
    if (role === "out") {
      this.#out = conn;
      this.#outReady.resolve();
      // The pump only reads; its end (the agent's stdout closed) ends the session.
      void this.#drain(conn);
    } else {
      this.#in = conn;
      void this.#readIn(conn, rest);
    }
    return true;
  }

  /**
   * Gives the session's MCP server the client's handshake before anything from `in` (the server
   * of a session that relayed and comes back to pumps is new; the client is not): the answer to
   * the initialize is not sent, nor recorded as answered. Given once both connections are there,
   * not before: from the initialized notification on, this session is the one the agent's wakes
   * go to, and until its pumps are there the relay's session must stay that one.
   */
  replay(handshake: Handshake): void {
    this.#handshake = handshake;
  }

  #replay(): void {
    const handshake = this.#handshake;
    if (!handshake) return;
    this.#handshake = undefined;
    this.#replayed = handshake.initialize.id;
    for (const line of [handshake.initialize.line, handshake.initialized]) {
      if (line !== undefined && this.readyState === WebSocket.OPEN) {
        this.dispatchEvent(new MessageEvent("message", { data: line }));
      }
    }
  }

  send(text: string, answers?: string | number): void {
    if (this.readyState !== WebSocket.OPEN) return;
    if (answers !== undefined && answers === this.#replayed) {
      this.#replayed = undefined;
      return;
    }
    const bytes = this.#encoder.encode(`${text}\n`);
    this.#writing = this.#writing.then(async () => {
      const out = this.#out!;
      for (let at = 0; at < bytes.length;) at += await out.write(bytes.subarray(at));
      // After the answer left, never before: an engine that dies in between has the request
      // sent again, and the client drops a second answer; the other way round, it would hang.
      if (answers !== undefined) {
        this.#answered.writeSync(this.#encoder.encode(`${JSON.stringify(answers)}\n`));
      }
    }).catch(() => this.close(1006, "the session's pump is gone"));
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSED;
    this.#forget();
    if (this.#in) tryClose(this.#in);
    this.#outReady.resolve();
    const finish = () => {
      if (this.#out) tryClose(this.#out);
      try {
        this.#answered.close();
      } catch {
        // Closed already.
      }
      // The client ended: nobody will ask what was answered. Otherwise its process may.
      if (code === CLOSE_PUMP_ENDED) Deno.remove(this.#answeredPath).catch(() => {});
    };
    if (code === CLOSE_ENGINE_STOPS) {
      // The answers on their way go out whole (half a line would spoil the next one the
      // session's process writes when it takes over), for a moment at most.
      const late = new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
      void Promise.race([this.#writing, late]).finally(finish);
    } else finish();
    this.dispatchEvent(Object.assign(new Event("close"), { code, reason }));
  }

  async #readIn(conn: Deno.TcpConn, rest: Uint8Array): Promise<void> {
    await this.#outReady.promise;
    if (this.readyState !== WebSocket.OPEN) return;
    const decoder = new TextDecoder();
    let text = decoder.decode(rest, { stream: true });
    /** How much of `text` is known to hold no newline. */
    let scanned = 0;
    const buffer = new Uint8Array(64 * 1024);
    this.#replay();
    try {
      await conn.write(this.#encoder.encode("ok\n"));
      for (;;) {
        let newline: number;
        while ((newline = text.indexOf("\n", scanned)) >= 0) {
          const line = text.slice(0, newline).trim();
          text = text.slice(newline + 1);
          scanned = 0;
          if (line !== "" && this.readyState === WebSocket.OPEN) {
            this.dispatchEvent(new MessageEvent("message", { data: line }));
          }
        }
        scanned = text.length;
        if (scanned > MAX_LINE_BYTES) {
          this.close(1009, "a line longer than the session's limit");
          return;
        }
        const n = await conn.read(buffer);
        if (n === null) break;
        text += decoder.decode(buffer.subarray(0, n), { stream: true });
      }
    } catch {
      // Reset: as closed.
    }
    this.close(CLOSE_PUMP_ENDED, "the session's stdin closed");
  }

  async #drain(conn: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(1024);
    try {
      while ((await conn.read(buffer)) !== null) {
        // The pump writes nothing; whatever comes is dropped.
      }
    } catch {
      // Reset: as closed.
    }
    // Not the client's end: its process may still take over, and asks what was answered.
    this.close(1006, "the session's stdout closed");
  }
}

function tryClose(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

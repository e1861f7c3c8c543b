// `crosstalk mcp`: the stdio MCP server a live agent session runs (Claude Code, Codex, Gemini
// CLI, …). It registers the session with the engine as a live agent, then carries its stdio to
// the engine's MCP endpoint for the session: with this machine's engine, through byte pumps it
// starts (cli/_mcp_pump.ts); else, or once that engine went away, by relaying it itself over
// GET /api/live/me/mcp, a WebSocket. The tools (send, read, wait, history, peers, status, task,
// badge) and Claude Code channel pushes run in the engine (routes/mcp_session.ts). Wakes that
// need this machine, keystrokes in the session's tmux pane or a signed webhook, are delivered
// from here. It exits when its stdin closes.
import { CrosstalkError, errorText } from "../schema/errors.ts";
import type { LiveAgentInfo, WakeEvent, WakeKind } from "../engine/live.ts";
import {
  checkTypedText,
  CLOSE_LEAVING,
  deliverWake,
  type Handshake,
  reportDelay,
  TMUX_WAKE_RESERVE,
  WakeReports,
  type WakeTarget,
} from "../engine/wake.ts";
import { VERSION } from "../engine/version.ts";
import { HttpClient, localEngineServer, openApi } from "./_client.ts";
import {
  type CliContext,
  Command,
  locationOf,
  type TransportFlags,
  wholeNumber,
  withTransportOptions,
} from "./_context.ts";
import { recordLocalSession } from "../engine/local_sessions.ts";
import { currentSocket } from "../transports/tmux.ts";
import { collectNames } from "./_session_options.ts";
import { readSse } from "./_sse.ts";
import {
  answeredBefore,
  type JournalTail,
  type PumpOutcome,
  type RelaySeed,
  type Resume,
  runPumps,
  settlesWithin,
} from "./_mcp_pump.ts";

interface McpFlags extends TransportFlags {
  name?: string;
  agent?: string;
  model?: string;
  role?: string;
  wake?: WakeKind;
  webhook?: string;
  enterDelay?: number;
  marker?: string;
  maxChars?: number;
  allow?: string[];
  /** `--no-start`: never start an engine. */
  noStart?: boolean;
}

/** The `mcp` command. */
export function mcpCommand(ctx: CliContext): Command {
  return withTransportOptions(new Command("mcp"))
    .description("stdio MCP server for a live agent session: send, read, wait, peers, tasks")
    .option("--name <name>", "the agent's name on the bus (default: <agent>-<folder>)")
    .option(
      "--agent <cli>",
      "the agent CLI that runs this server (default: from the parent process)",
    )
    .option("--model <model>", "the model the agent runs, shown to peers")
    .option("--role <role>", "what the agent does (shown to peers, matched by tasks)")
    .option(
      "--wake <how>",
      "channel | tmux | webhook | pull (default: channel for Claude Code, tmux in tmux, else pull)",
    )
    .option("--webhook <url>", "wake by POSTing here, signed with $CROSSTALK_WEBHOOK_SECRET")
    .option("--enter-delay <ms>", "tmux: pause between the paste and Enter", (v: string) => {
      const ms = Number(v);
      if (!Number.isInteger(ms) || ms < 0 || ms > 10_000) {
        throw new CrosstalkError("ERR_USAGE", "--enter-delay must be 0 to 10000 ms");
      }
      return ms;
    })
    .option(
      "--marker <text>",
      'tmux: put before every wake typed (default "[crosstalk]"; at most 40 characters; "" for none)',
    )
    .option(
      "--max-chars <n>",
      "tmux: the most characters of a wake typed, marker included (default 2000; 200 to 100000)",
      wholeNumber("--max-chars"),
    )
    .option(
      "--allow <names>",
      "who may wake this agent, comma-separated or repeated (default: every user, model and " +
        "agent of the transport)",
      collectNames,
    )
    .option("--no-start", "with no engine running, fail instead of starting one in the background")
    .action(async (flags: McpFlags) => await runMcp(flags, ctx));
}

async function runMcp(flags: McpFlags, ctx: CliContext): Promise<void> {
  const reportDelayMs = reportDelay(ctx.env.CROSSTALK_WOKEN_REPORT_MS);
  // Checked whatever the wake, as --enter-delay is: one MCP entry may run in and out of tmux.
  checkTypedText({ marker: flags.marker, maxChars: flags.maxChars }, {
    reserve: TMUX_WAKE_RESERVE,
    reserveFor: "the pointer to the read tool after a cut",
    names: { marker: "--marker", maxChars: "--max-chars" },
    code: "ERR_USAGE",
  });
  const pane = ctx.env.TMUX_PANE;
  // Which tmux server the pane is of: another server has a pane of that id too.
  const socket = pane ? currentSocket(ctx.env) : undefined;
  const agentCli = flags.agent ?? await guessAgent();
  const wake: WakeKind = flags.wake ??
    (flags.webhook ? "webhook" : agentCli === "claude" ? "channel" : pane ? "tmux" : "pull");
  if (!["channel", "tmux", "webhook", "pull"].includes(wake)) {
    throw new CrosstalkError("ERR_USAGE", `--wake must be channel, tmux, webhook or pull`);
  }
  const target: WakeTarget = { kind: wake };
  if (wake === "tmux") {
    if (!pane) throw new CrosstalkError("ERR_USAGE", "--wake tmux needs to run inside tmux");
    target.pane = pane;
    if (flags.enterDelay !== undefined) target.enterDelayMs = flags.enterDelay;
    if (flags.marker !== undefined) target.marker = flags.marker;
    if (flags.maxChars !== undefined) target.maxChars = flags.maxChars;
  }
  if (wake === "webhook") {
    const secret = ctx.env.CROSSTALK_WEBHOOK_SECRET;
    if (!flags.webhook || !secret) {
      throw new CrosstalkError(
        "ERR_USAGE",
        "--wake webhook needs --webhook URL and the shared secret in $CROSSTALK_WEBHOOK_SECRET",
      );
    }
    const { checkWebhookUrl, MIN_SECRET_LENGTH } = await import("../transports/webhook.ts");
    checkWebhookUrl(flags.webhook);
    if (secret.length < MIN_SECRET_LENGTH) {
      // Refused now: accepted, every wake would fail later, and the agent would never wake.
      throw new CrosstalkError(
        "ERR_USAGE",
        `$CROSSTALK_WEBHOOK_SECRET must be at least ${MIN_SECRET_LENGTH} characters`,
      );
    }
    target.webhook = { url: flags.webhook, secret };
  }

  const owner = flags.noStart
    ? await openApi(flags, ctx)
    : await (await import("./server.ts")).apiStartingEngine(flags, ctx);
  const registered = await owner.call<{ agent: LiveAgentInfo; token: string }>(
    "POST",
    "/api/live",
    {
      agent: agentCli,
      wake,
      cwd: ctx.env.PWD?.startsWith("/") ? ctx.env.PWD : Deno.cwd(),
      ...(flags.name ? { name: flags.name } : {}),
      ...(flags.model ? { model: flags.model } : {}),
      ...(flags.role ? { role: flags.role } : {}),
      ...(pane ? { tmux: pane } : {}),
      ...(socket ? { tmux_socket: socket } : {}),
      ...(flags.allow ? { allow: flags.allow } : {}),
    },
  );
  const me = registered.agent.name;
  const api = new HttpClient(owner.via, registered.token);
  const log = (text: string) => ctx.err(`crosstalk mcp (${me}): ${text}\n`);
  // With this machine's engine, a restart may put it on another port: its credential file says.
  const local = owner.via === (await localEngineServer(flags, ctx));
  log(`registered as "${me}" (wake: ${wake}) with ${owner.via}`);
  // The agent CLI's hooks find the session by the process tree (an approval says who asks).
  const forget = await recordLocalSession(locationOf(flags, ctx).stateDir, me);

  // Channel pushes come from the engine through the relay; tmux and webhook wakes need this
  // machine, so this process follows them itself.
  const stop = new AbortController();
  const reports = new WakeReports(api, log, reportDelayMs);
  const wakes = wake === "tmux" || wake === "webhook"
    ? wakeLoop(api, target, reports, stop.signal, log)
    : Promise.resolve();
  // With this machine's engine, byte pumps carry the session's stdio (cli/_mcp_pump.ts) until
  // the engine goes away; then, or without them, this process relays, and hands the session
  // back to pumps once an engine is there again and nothing is in flight.
  let pumped: PumpOutcome = local
    ? await runPumps(api, { reportDelayMs, env: ctx.env })
    : { kind: "unavailable", why: "the engine is not this machine's" };
  let relay: McpRelay | undefined;
  let resume: Resume | undefined;
  const relayOptions = {
    token: registered.token,
    reportDelayMs,
    log,
    ...(local ? { locate: () => localEngineServer(flags, ctx) } : {}),
  };
  /** When the session last went back to pumps. */
  let backAt: number | undefined;
  while (pumped.kind !== "ended") {
    if (pumped.kind === "engine-gone") {
      log("the engine went away; this process relays the session until it can go back to pumps");
      relay = new McpRelay(api, {
        ...relayOptions,
        seed: pumped.seed,
        journal: pumped.journal,
        pumpsFailed: backAt !== undefined && Date.now() - backAt < PUMPS_FAILED_MS,
      });
      resume = pumped.resume;
    } else if (!relay) {
      if (local) log(`relaying in this process (${pumped.why})`);
      relay = new McpRelay(api, relayOptions);
    } else {
      log(`relaying on: ${pumped.why}`);
      if (pumped.again !== "later") resume = undefined;
      relay.handOverLater();
    }
    const ran = await relay.run(resume !== undefined);
    if (ran.kind === "ended") break;
    const detaching = relay;
    // Resolves when the pumps it went back to end (or, unavailable, at once).
    pumped = await resume!(ran.offset, relay.handshake, async () => {
      await detaching.detach();
      log("back on pumps");
      backAt = Date.now();
    });
    if (pumped.kind !== "unavailable") relay = undefined;
  }
  stop.abort();
  // The wake being delivered now reports too, before the session leaves.
  await wakes;
  await reports.flush();
  if (relay) await relay.leave();
  // The pumps' end does not remove the session (the reports above come first): this does.
  else await api.call("DELETE", "/api/live/me").catch(() => {});
  await forget();
}

/** How long a tool call waits for the engine's socket before it answers with an error. */
const WAIT_FOR_ENGINE_MS = 30_000;
/** How many engines one tool call is sent to, at most, when they go away before answering. */
const MAX_SENDS = 3;
/** Socket opens refused in a row by an engine whose API answers, before the relay gives up. */
const MAX_REFUSED_UPGRADES = 5;
/**
 * How long another engine may answer at the session's address (one that does not know its
 * token: ours restarted on another port, and someone else's took the old one) before the relay
 * takes it for the end of the session.
 */
const FOREIGN_ENGINE_MS = 60_000;

/** Options for {@linkcode McpRelay}. */
interface McpRelayOptions {
  /** The session's live agent token. */
  token: string;
  reportDelayMs: number;
  log: (text: string) => void;
  /** Where this machine's engine listens now, for following it to another port. */
  locate?: () => Promise<string | undefined>;
  /** What the pumps carried before this relay took over: sent again to the next engine. */
  seed?: RelaySeed;
  /** Where the client's lines come from after the pumps: the journal (default: stdin). */
  journal?: JournalTail;
  /**
   * The pumps before this relay ended soon after they started: if the engine is there at the
   * relay's first try (it never went away), they failed, and are not tried again at once.
   */
  pumpsFailed?: boolean;
}

/** How {@linkcode McpRelay.run} ended: stdin closed, or the relay can hand over to pumps. */
type RelayEnd = { kind: "ended" } | { kind: "handover"; offset: number };

/** How long a relay whose way back to pumps failed relays before it tries again. */
const HAND_OVER_RETRY_MS = 30_000;
/** Pumps a relay went back to that end sooner than this failed: the next relay waits to retry. */
const PUMPS_FAILED_MS = 5_000;
/** How long a relay going back to pumps waits for its socket's close, and for its last write. */
const DETACH_MS = 5_000;

/**
 * Relays the agent's MCP messages between stdio (one JSON-RPC message per line) and the
 * engine's WebSocket for this session (one per frame). When the engine goes away (a restart),
 * the relay reconnects, replays the client's `initialize` to the new engine, and sends again
 * the requests the old one had not answered, so that the agent's MCP client never notices. A
 * request is sent again with its own id, which is how the engine knows it for a retry (a send
 * the lost engine had written is not written twice). Requests still unanswered when no engine
 * has come back within {@linkcode WAIT_FOR_ENGINE_MS} get an error.
 */
class McpRelay {
  #api: HttpClient;
  #token: string;
  #reportDelayMs: number;
  #log: (text: string) => void;
  #locate: (() => Promise<string | undefined>) | undefined;
  /** Since when another engine answers at the session's address, while it does. */
  #foreignSince: number | undefined;
  #socket: WebSocket | undefined;
  #open = Promise.withResolvers<void>();
  #closedByUs = false;
  /**
   * Requests sent to an engine and not yet answered, by id, in the order they came, with how
   * many engines they were sent to.
   */
  #pending = new Map<string | number, { line: string; sends: number }>();
  /** Fails the pending requests when no engine comes back in time after a socket closed. */
  #giveUp: ReturnType<typeof setTimeout> | undefined;
  /** The client's initialize request and initialized notification, replayed on reconnect. */
  #initialize: { id: string | number; line: string } | undefined;
  #initialized: string | undefined;
  /** Why the engine will not take this session any more, once it has said so. */
  #ended: string | undefined;
  /** The id of a replayed initialize, whose answer the client must not see twice. */
  #replayed: string | number | undefined;
  /** The client's lines on their way to the engine, one after the other. */
  #relaying: Promise<void> = Promise.resolve();
  /** Failed connects in a row to an engine whose API answers (a proxy that drops Upgrade?). */
  #refusedUpgrades = 0;
  #out = Deno.stdout.writable.getWriter();
  /** The last write to stdout: all before it are done once it is. */
  #lastWrite: Promise<void> = Promise.resolve();
  #encoder = new TextEncoder();
  #journal: JournalTail | undefined;
  /** What the pumps carried before this relay, if they did. */
  #seed: RelaySeed | undefined;
  /** The bytes of a line not ended yet. */
  #rest = new Uint8Array(0);
  /** The client's lines queued for {@linkcode McpRelay.#fromClient} and not done. */
  #queued = 0;
  /** True while a socket is open and has been told the handshake and the pending requests. */
  #isOpen = false;
  /** Whether {@linkcode McpRelay.run} may end to hand the session back to pumps, and from when. */
  #mayHandOver = false;
  #handOverAt = 0;
  #handOverTimer: ReturnType<typeof setTimeout> | undefined;
  #pumpsFailed: boolean;
  /** Sockets that closed before they opened, since the relay started. */
  #failedConnects = 0;

  constructor(api: HttpClient, options: McpRelayOptions) {
    this.#api = api;
    this.#token = options.token;
    this.#reportDelayMs = options.reportDelayMs;
    this.#log = options.log;
    this.#locate = options.locate;
    this.#journal = options.journal;
    this.#pumpsFailed = options.pumpsFailed ?? false;
    const seed = options.seed;
    if (seed) {
      this.#initialize = seed.initialize;
      this.#initialized = seed.initialized;
      this.#seed = seed;
      for (const { id, line } of seed.pending) this.#pending.set(id, { line, sends: 1 });
    }
  }

  /** The client's handshake, once it went to an engine. */
  get handshake(): Handshake | undefined {
    return this.#initialize
      ? {
        initialize: this.#initialize,
        ...(this.#initialized ? { initialized: this.#initialized } : {}),
      }
      : undefined;
  }

  /** The session's MCP socket on the engine, where the engine is now. */
  get #url(): string {
    const base = this.#api.via.replace(/^http/, "ws");
    return `${base}/api/live/me/mcp?woken_report_ms=${this.#reportDelayMs}`;
  }

  /**
   * Relays until stdin closes; with `resumable`, reading the journal after pumps, until it can
   * hand the session back to pumps (an engine is there, and nothing is in flight or half read).
   */
  async run(resumable = false): Promise<RelayEnd> {
    this.#mayHandOver = resumable && this.#journal !== undefined;
    if (!this.#socket) this.#connect(200);
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      if (this.#readyToHandOver()) return { kind: "handover", offset: this.#journal!.position };
      const n = this.#journal ? await this.#journal.read(buffer) : await Deno.stdin.read(buffer);
      if (n === null) break;
      if (n === 0) continue;
      const chunk = concatBytes(this.#rest, buffer.subarray(0, n));
      let start = 0;
      for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, start)) {
        const line = decoder.decode(chunk.subarray(start, newline)).trim();
        start = newline + 1;
        // In order, without holding up stdin: its end must be seen even while the engine is away.
        if (line !== "") {
          // A cancel takes effect at once: the request it names must not go to an engine that
          // comes back before the cancel's turn (a cancelled send would still be written).
          this.#forgetCancelled(line);
          this.#queued++;
          this.#relaying = this.#relaying.then(() => this.#fromClient(line)).catch((error) =>
            this.#log(`relay: ${errorText(error)}`)
          ).finally(() => {
            this.#queued--;
            this.#nudge();
          });
        }
      }
      this.#rest = chunk.slice(start);
    }
    return { kind: "ended" };
  }

  /** True when the session can go back to pumps now (see {@linkcode McpRelay.run}). */
  #readyToHandOver(): boolean {
    return this.#mayHandOver && this.#journal !== undefined && !this.#journal.onStdin &&
      Date.now() >= this.#handOverAt && this.#rest.length === 0 && this.#isOpen &&
      this.#socket?.readyState === WebSocket.OPEN && this.#pending.size === 0 &&
      this.#replayed === undefined && this.#queued === 0 && this.#ended === undefined &&
      !this.#closedByUs;
  }

  /** Stops a wait for the journal when the relay can hand over: run() ends. */
  #nudge(): void {
    if (this.#readyToHandOver()) this.#journal!.interrupt();
  }

  /** The way back to pumps failed: relay on, and try again a while later (if run() may). */
  handOverLater(): void {
    this.#handOverAt = Date.now() + HAND_OVER_RETRY_MS;
    clearTimeout(this.#handOverTimer);
    this.#handOverTimer = setTimeout(() => this.#nudge(), HAND_OVER_RETRY_MS);
  }

  /**
   * Hands the session back to pumps: closes the socket (without leaving; the engine has the
   * session's new one by now), writes what came on it before it closed, and lets go of stdout
   * for the new `cat`.
   */
  async detach(): Promise<void> {
    this.#closedByUs = true;
    clearTimeout(this.#giveUp);
    clearTimeout(this.#handOverTimer);
    this.#journal?.close();
    const socket = this.#socket;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      const closed = new Promise((resolve) =>
        socket.addEventListener("close", resolve, { once: true })
      );
      socket.close(1000, "back to the pumps");
      // An engine that does not answer the close (hung) holds nothing back for long.
      await settlesWithin(closed, DETACH_MS);
    }
    // A client that stopped reading its stdout blocks the last write: the pumps go on anyway.
    await settlesWithin(this.#lastWrite, DETACH_MS);
    this.#out.releaseLock();
  }

  /** Closes the socket so that the engine reports what waits and lets the agent leave. */
  async leave(): Promise<void> {
    this.#closedByUs = true;
    clearTimeout(this.#giveUp);
    // Lines still waiting for an engine go nowhere now.
    this.#ended ??= "The session is leaving";
    this.#open.resolve();
    const socket = this.#socket;
    if (socket?.readyState === WebSocket.OPEN) {
      const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
      socket.close(CLOSE_LEAVING, "leaving");
      await closed;
    } else {
      socket?.close();
      await this.#api.call("DELETE", "/api/live/me").catch(() => {});
    }
    await this.#out.close().catch(() => {});
  }

  async #fromClient(line: string): Promise<void> {
    let message: { id?: string | number; method?: string } | undefined;
    try {
      message = JSON.parse(line);
    } catch {
      // Not JSON: the engine says so to nobody, as a stdio server would; pass it on anyway.
    }
    const id = message?.method !== undefined ? message.id : undefined;
    // Answered by the engine the pumps went to (see RelaySeed.answered): its answer went out.
    if (this.#seed && answeredBefore(this.#seed, id)) return;
    // Waits while the engine is away, within a bound: only what was sent to an engine can be
    // lost with it, and a call should not wait longer than an agent would.
    if (!(await this.#opened(WAIT_FOR_ENGINE_MS))) {
      if (id !== undefined) {
        await this.#write(errorResponse(
          id,
          `The crosstalk engine at ${this.#api.via} has not answered for ${
            WAIT_FOR_ENGINE_MS / 1000
          } s; call again later`,
        ));
      }
      return;
    }
    if (this.#ended !== undefined) {
      if (id !== undefined) await this.#write(errorResponse(id, this.#ended));
      return;
    }
    const socket = this.#socket!;
    // What a new engine must be told again: the handshake, once it went to an engine.
    if (message?.method === "initialize" && id !== undefined) this.#initialize = { id, line };
    if (message?.method === "notifications/initialized") this.#initialized = line;
    if (id !== undefined) this.#pending.set(id, { line, sends: 1 });
    // A socket closed already (its close event came between the open and now) drops the line;
    // the request is pending, so it goes to the next engine.
    if (socket.readyState === WebSocket.OPEN) socket.send(line);
  }

  /** Resolves true once a socket is open (or the relay has ended), false after `ms`. */
  #opened(ms: number): Promise<boolean> {
    return settlesWithin(this.#open.promise, ms);
  }

  #connect(retryMs: number): void {
    const socket = new WebSocket(this.#url, {
      headers: { Authorization: `Bearer ${this.#token}` },
    });
    this.#socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.#refusedUpgrades = 0;
      this.#foreignSince = undefined;
      clearTimeout(this.#giveUp);
      this.#giveUp = undefined;
      const initialize = this.#initialize;
      if (initialize) {
        // A new engine: it must see the session's handshake before anything else. An
        // initialize the lost engine had answered is answered again: not for the client.
        if (!this.#pending.has(initialize.id)) this.#replayed = initialize.id;
        socket.send(initialize.line);
        if (this.#initialized) socket.send(this.#initialized);
      }
      this.#isOpen = true;
      if (this.#pumpsFailed && this.#failedConnects === 0) this.handOverLater();
      this.#pumpsFailed = false;
      for (const [id, request] of this.#pending) {
        if (id === initialize?.id) continue;
        // A call that every engine it reached went away with may be what brings them down:
        // after MAX_SENDS, the client gets an error instead of the next engine the call.
        if (request.sends >= MAX_SENDS) {
          this.#pending.delete(id);
          void this.#write(errorResponse(
            id,
            `The crosstalk engine went away ${request.sends} times while this call ran; ` +
              "it was not sent again",
          ));
          continue;
        }
        request.sends++;
        socket.send(request.line);
      }
      this.#open.resolve();
      this.#nudge();
    });
    socket.addEventListener("message", (event) => void this.#fromEngine(event.data));
    socket.addEventListener("close", () => {
      this.#isOpen = false;
      if (!opened) this.#failedConnects++;
      if (this.#closedByUs) return;
      if (opened) this.#open = Promise.withResolvers();
      this.#giveUp ??= setTimeout(() => {
        this.#giveUp = undefined;
        this.#failPending(
          `The crosstalk engine at ${this.#api.via} went away and has not come back in ${
            WAIT_FOR_ENGINE_MS / 1000
          } s; call the tool again later`,
        );
      }, WAIT_FOR_ENGINE_MS);
      void this.#reconnect(opened ? 200 : retryMs);
    });
  }

  async #reconnect(retryMs: number): Promise<void> {
    // A socket that cannot open says nothing of why: ask the API whether this session still is,
    // and whether the engine has the endpoint at all (one older than this crosstalk has not).
    const moved = await this.#locate?.().catch(() => undefined);
    if (moved !== undefined && moved !== this.#api.via) {
      this.#log(`the engine moved from ${this.#api.via} to ${moved}`);
      this.#api.moveTo(moved);
    }
    try {
      await this.#api.call("GET", "/api/live/me");
      await this.#api.call("GET", "/api/live/me/mcp").catch((error) => {
        // An engine with the endpoint refuses a plain GET (no upgrade); that is the good case.
        if (error instanceof CrosstalkError && error.code === "ERR_ROUTE_NOT_FOUND") throw error;
      });
      // The engine answers, yet the socket did not open: after a few tries, that will not change.
      if (++this.#refusedUpgrades >= MAX_REFUSED_UPGRADES) {
        this.#end(
          `The engine at ${this.#api.via} answers but its MCP socket does not open (a proxy ` +
            "that drops the WebSocket Upgrade header?); restart the agent's MCP server once " +
            "that is fixed",
        );
        return;
      }
    } catch (error) {
      if (error instanceof CrosstalkError && error.code === "ERR_ROUTE_NOT_FOUND") {
        this.#end(
          `The engine at ${this.#api.via} has no MCP endpoint for sessions: it is older than ` +
            `this crosstalk (${VERSION}). Restart it with this version, then restart the agent's ` +
            "MCP server",
        );
        return;
      }
      // A token the engine at that address cannot verify: another engine took the port while
      // ours restarted (on another port, which locate() follows), for a while; then, the end.
      const invalid = error instanceof CrosstalkError && error.code === "ERR_TOKEN_INVALID";
      if (invalid) this.#foreignSince ??= Date.now();
      if (invalid && Date.now() - this.#foreignSince! < FOREIGN_ENGINE_MS) {
        this.#log(`another engine answers at ${this.#api.via}; waiting for this session's`);
      } else if (
        error instanceof CrosstalkError &&
        ["ERR_TOKEN_REVOKED", "ERR_TOKEN_EXPIRED", "ERR_TOKEN_INVALID", "ERR_AGENT_NOT_FOUND"]
          .includes(error.code)
      ) {
        this.#end(
          `The engine ended this session (${error.message}); restart the agent's MCP server to ` +
            "register again",
        );
        return;
      } else {
        this.#log(`engine connection: ${errorText(error)}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, retryMs));
    if (!this.#closedByUs) this.#connect(Math.min(retryMs * 2, 5_000));
  }

  /** Stops for good: every tool call from now on answers with `why`. */
  #end(why: string): void {
    this.#ended = why;
    this.#log(`${why}; tools answer with an error`);
    this.#closedByUs = true;
    clearTimeout(this.#giveUp);
    this.#open.resolve();
    this.#failPending(why);
  }

  async #fromEngine(data: unknown): Promise<void> {
    if (typeof data !== "string") return;
    try {
      const message = JSON.parse(data) as { id?: string | number; method?: string };
      if (message.method === undefined && message.id !== undefined) {
        if (message.id === this.#replayed) {
          this.#replayed = undefined;
          this.#nudge();
          return;
        }
        this.#pending.delete(message.id);
      }
    } catch {
      // The engine sends JSON; pass on whatever it sent.
    }
    await this.#write(data);
    this.#nudge();
  }

  /** Drops the request a `notifications/cancelled` line names from those sent again. */
  #forgetCancelled(line: string): void {
    if (!line.includes("notifications/cancelled")) return;
    try {
      const message = JSON.parse(line) as { method?: string; params?: { requestId?: unknown } };
      const id = message.params?.requestId;
      if (message.method === "notifications/cancelled" && id !== undefined) {
        this.#pending.delete(id as string | number);
      }
    } catch {
      // Not JSON: nothing to cancel.
    }
  }

  /** Answers every request no engine will, so that no tool call hangs. */
  #failPending(why: string): void {
    for (const id of this.#pending.keys()) void this.#write(errorResponse(id, why));
    this.#pending.clear();
  }

  #write(line: string): Promise<void> {
    this.#lastWrite = this.#out.write(this.#encoder.encode(`${line}\n`)).catch(() => {});
    return this.#lastWrite;
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const all = new Uint8Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  return all;
}

/** Follows the engine's wake stream, reconnecting (with backoff) when the engine restarts. */
async function wakeLoop(
  api: HttpClient,
  target: WakeTarget,
  reports: WakeReports,
  signal: AbortSignal,
  log: (text: string) => void,
): Promise<void> {
  let delay = 200;
  while (!signal.aborted) {
    try {
      const response = await api.stream("/api/live/me/wake", signal);
      delay = 200;
      for await (const sse of readSse(response.body!)) {
        if (sse.event !== "wake") continue;
        const event = JSON.parse(sse.data) as WakeEvent;
        const report = await deliverWake(event, target);
        if (!report.ok) log(`could not wake: ${report.detail}`);
        reports.add(event.ref, report);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof CrosstalkError && error.code === "ERR_TOKEN_REVOKED") {
        log("the engine ended this session; wakes stop (tools still answer with an error)");
        return;
      }
      log(`wake stream: ${errorText(error)}`);
    }
    if (signal.aborted) return;
    // Reports still waiting go first: a stream that comes back replays the wakes the engine
    // does not know were delivered.
    await reports.flush();
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 5_000);
  }
}

/**
 * The agent CLI that started this process, by its command line (Linux): its program, or the
 * script an interpreter runs (engine/tmux_discover.ts); else "agent".
 */
async function guessAgent(): Promise<string> {
  try {
    const argv = Deno.readTextFileSync(`/proc/${Deno.ppid}/cmdline`).split("\0");
    if (argv.at(-1) === "") argv.pop();
    // Loaded only here: most MCP entries name their agent (agent install writes --agent).
    const { guessCommandLineCli } = await import("../engine/tmux_discover.ts");
    return guessCommandLineCli(argv) ?? "agent";
  } catch {
    // Not Linux, or the parent is gone.
    return "agent";
  }
}

/** A JSON-RPC error answer to request `id`. */
function errorResponse(id: string | number, message: string): string {
  return JSON.stringify({ jsonrpc: "2.0", id, error: { code: -32000, message } });
}

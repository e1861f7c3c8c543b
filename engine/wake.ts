/**
 * Wake adapters: how a live agent's session turns a wake event into something the agent
 * notices: a Claude Code channel notification, keystrokes in its tmux pane, a signed webhook, or
 * nothing (pull only: the agent asks with the read and wait tools). Every adapter only hints; the
 * message waits in the agent's inbox until a tool reads it. How each wake went goes back to the
 * engine through {@linkcode WakeReports}. The engine delivers channel pushes itself (its MCP
 * endpoint, routes/mcp_session.ts); tmux and webhook wakes are delivered by `crosstalk mcp` on the
 * session's machine.
 */
import { CrosstalkError, type ErrorCode, errorText } from "../schema/errors.ts";
import { tryParseMessageId } from "../transports/names.ts";
import type { WakeEvent, WakeKind, WakeReport } from "./live.ts";

/** Where a session delivers its wakes. */
export interface WakeTarget {
  kind: WakeKind;
  /** Sends a Claude Code channel notification (kind "channel"). */
  notify?: (content: string, meta: Record<string, string>) => Promise<void>;
  /** The tmux pane (kind "tmux"). */
  pane?: string;
  /** Pause between the paste and Enter, for slow TUIs (kind "tmux"). */
  enterDelayMs?: number;
  /** Put before each wake text (kind "tmux"; default {@linkcode WAKE_MARKER}, `""` for none). */
  marker?: string;
  /** The most characters typed, marker included (kind "tmux"; default {@linkcode TMUX_MAX_CHARS}). */
  maxChars?: number;
  /** The receiver and its shared secret (kind "webhook"). */
  webhook?: { url: string; secret: string };
}

/** The largest wake text typed into a pane; longer ones point at the read tool. */
export const TMUX_MAX_CHARS = 2000;
/** The marker that starts a text typed into a pane, so that the agent can tell the bus from its user. */
export const WAKE_MARKER = "[crosstalk]";
/** The longest marker a session or a tmux agent may set. */
export const MAX_MARKER_CHARS = 40;
/** The smallest cap on a text typed into a pane that a session or a tmux agent may set. */
export const MIN_TYPED_CHARS = 200;
/** The largest cap on a text typed into a pane that a session or a tmux agent may set. */
export const MAX_TYPED_CHARS = 100_000;
/** A message's ref as long as any on the bus: `<channel uuid>/YYYY/MM/DD/HHMMSSmmmZ-<8 hex>.md`. */
const LONGEST_REF = "00000000-0000-4000-8000-000000000000/2026/01/01/000000000Z-00000000.md";
/**
 * What a session's wake text needs past its marker when it is cut: the pointer to the read tool.
 * A cap below marker + this would leave the tmux adapter no room (a `RangeError` at each wake).
 */
export const TMUX_WAKE_RESERVE = Array.from(`…\n${wakePointer(LONGEST_REF)}`).length;

/** The limits of a text typed into a pane, as given (flags or API fields), not checked yet. */
export interface TypedTextLimits {
  marker?: unknown;
  maxChars?: unknown;
}

/** Options for {@linkcode checkTypedText}. */
export interface CheckTypedTextOptions {
  /** The characters a cut text needs past the marker (its pointer, and what must stay with it). */
  reserve: number;
  /** What those characters are, for the message that refuses a cap too small for them. */
  reserveFor: string;
  /** How the marker and the cap are named to the user (default `marker`, `max chars`). */
  names?: { marker: string; maxChars: string };
  /** The code of the error (default `ERR_BODY_INVALID`). */
  code?: ErrorCode;
}

/**
 * Refuses a marker that is not printable text on one line of at most {@linkcode MAX_MARKER_CHARS}
 * characters without spaces at its ends (`""` is allowed: no marker), and a cap that is not a whole
 * number from {@linkcode MIN_TYPED_CHARS} to {@linkcode MAX_TYPED_CHARS} or leaves less than
 * `reserve` characters after the marker. Either may be missing (the default then).
 *
 * @throws {CrosstalkError} `options.code` (default `ERR_BODY_INVALID`)
 */
export function checkTypedText(limits: TypedTextLimits, options: CheckTypedTextOptions): void {
  const { marker, maxChars } = limits;
  const names = options.names ?? { marker: "marker", maxChars: "max chars" };
  const code = options.code ?? "ERR_BODY_INVALID";
  if (
    marker !== undefined && (
      typeof marker !== "string" || Array.from(marker).length > MAX_MARKER_CHARS ||
      // Control characters, line breaks and the bidi controls that could hide what is typed.
      /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/u.test(marker) || /^\s|\s$/.test(marker)
    )
  ) {
    throw new CrosstalkError(
      code,
      `Invalid ${names.marker} ${
        JSON.stringify(typeof marker === "string" ? marker.slice(0, 80) : marker)
      }: at most ${MAX_MARKER_CHARS} printable characters on one line, without spaces at the ends ("" for no marker)`,
    );
  }
  if (maxChars === undefined) return;
  if (
    typeof maxChars !== "number" || !Number.isInteger(maxChars) || maxChars < MIN_TYPED_CHARS ||
    maxChars > MAX_TYPED_CHARS
  ) {
    throw new CrosstalkError(
      code,
      `Invalid ${names.maxChars} ${
        JSON.stringify(maxChars)
      }: a whole number of characters from ${MIN_TYPED_CHARS} to ${MAX_TYPED_CHARS}`,
    );
  }
  const head = marker ?? WAKE_MARKER;
  const least = (head === "" ? 0 : Array.from(head).length + 1) + options.reserve;
  if (maxChars < least) {
    throw new CrosstalkError(
      code,
      `Invalid ${names.maxChars} ${maxChars}: too small for the marker ${
        JSON.stringify(head)
      } and ${options.reserveFor} (at least ${least})`,
    );
  }
}

/** Where a session's wake text cut at its cap points to: the read tool, with the message's ref. */
function wakePointer(ref: string): string {
  return `full message: read it with the crosstalk read tool (id ${ref})`;
}

/**
 * When the message was sent, for the header line of a wake: ` at HH:MM UTC`, the sender's clock as
 * its id has it (by the protocol, the sender's time in UTC); "" for an id that is not a message's.
 * UTC, like the ids and timestamps the agent reads elsewhere (history, message list), rather than
 * the time zone of whichever machine types the wake (the engine's for a tmux agent, the session's
 * own under `crosstalk mcp`).
 */
export function sentAt(id: string): string {
  const parts = tryParseMessageId(id);
  return parts ? ` at ${parts.time.toISOString().slice(11, 16)} UTC` : "";
}

/** The text of a wake: who, where, when, what (a preview), and the hints that go with it. */
export function wakeText(event: WakeEvent): string {
  const to = event.to.length === 1 ? event.to[0] : event.to.join(", ");
  const lines = [
    `${event.from} -> ${to} in #${event.channelName}${event.re ? " (reply)" : ""}${
      sentAt(event.ref.slice(event.ref.indexOf("/") + 1))
    }: ${event.preview}`,
  ];
  if (event.noReply) lines.push("(no reply needed)");
  if (event.loopWarning) lines.push(`(loop warning: ${event.loopWarning})`);
  return lines.join("\n");
}

/**
 * The meta of a channel notification. Claude Code turns each key into an attribute of the
 * `<channel>` tag and drops keys that are not identifiers, so every key here is one.
 */
export function channelMeta(event: WakeEvent): Record<string, string> {
  const meta: Record<string, string> = {
    from: event.from,
    channel: event.channelName,
    message_id: event.ref,
  };
  if (event.re?.length) meta.re = event.re.join(" ");
  if (event.noReply) meta.no_reply = "true";
  if (event.loopWarning) meta.loop_warning = "true";
  return meta;
}

/** Delivers one wake; says how it went, never throws for a failed delivery. */
export async function deliverWake(event: WakeEvent, target: WakeTarget): Promise<WakeReport> {
  try {
    switch (target.kind) {
      case "channel": {
        if (!target.notify) return { ok: false, detail: "no MCP client to notify" };
        await target.notify(
          `${
            wakeText(event)
          }\n(read it in full with the read tool; reply with send, re=${event.ref})`,
          channelMeta(event),
        );
        return { ok: true };
      }
      case "tmux": {
        if (!target.pane) return { ok: false, detail: "the agent runs in no tmux pane" };
        // Loaded on first use: a session that never types into tmux never pays for it.
        const { wakeTmux } = await import("../transports/tmux.ts");
        const result = await wakeTmux(target.pane, wakeText(event), {
          marker: target.marker ?? WAKE_MARKER,
          maxChars: target.maxChars ?? TMUX_MAX_CHARS,
          pointer: wakePointer(event.ref),
          ...(target.enterDelayMs === undefined ? {} : { enterDelayMs: target.enterDelayMs }),
        });
        return result.ok
          ? { ok: true }
          : { ok: false, detail: `tmux pane ${target.pane} ${result.reason}: ${result.detail}` };
      }
      case "webhook": {
        if (!target.webhook) return { ok: false, detail: "no webhook URL" };
        const { postWebhook } = await import("../transports/webhook.ts");
        const result = await postWebhook(target.webhook.url, "wake", event, {
          secret: target.webhook.secret,
        });
        return result.ok ? { ok: true } : { ok: false, detail: `webhook: ${result.detail}` };
      }
      case "pull":
        return { ok: true };
    }
  } catch (error) {
    return { ok: false, detail: errorText(error) };
  }
}

/** How the tools and the wake reports reach the API: over HTTP, or in the engine's process. */
export interface ApiCaller {
  /** Calls the API; `signal` ends the call early (a cancelled tool call). */
  call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<T>;
}

/**
 * How long a successful wake waits to be reported, by default (`CROSSTALK_WOKEN_REPORT_MS`). A
 * read tells the engine more than a wake (read implies woken), and most agents read on their
 * wake: within this time the report is not needed, and each message costs one request less. A
 * failed wake is reported at once.
 */
export const WOKEN_REPORT_MS = 300;
/** Tries of one wake report, and the pause before the second (doubled before the third). */
const REPORT_TRIES = 3;
const REPORT_RETRY_MS = 200;

/** A socket close code: the session leaves the bus (its relay's stdin closed). */
export const CLOSE_LEAVING = 4000;

/**
 * How a client opened its MCP session: its `initialize` request and `notifications/initialized`
 * line. A session whose relay goes back to pumps hands them to the engine, which replays them to
 * the pumps' new session (routes/mcp_pump.ts, cli/_mcp_pump.ts).
 */
export interface Handshake {
  initialize: { id: string | number; line: string };
  initialized?: string;
}

/**
 * Tells the engine how wakes went, without holding up the next wake: failures at once, successes
 * after {@linkcode WOKEN_REPORT_MS} in one request, minus the messages read meanwhile.
 */
export class WakeReports {
  #api: ApiCaller;
  #log: (text: string) => void;
  #delayMs: number;
  #woken = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #posting: Promise<void> = Promise.resolve();

  constructor(api: ApiCaller, log: (text: string) => void, delayMs: number) {
    this.#api = api;
    this.#log = log;
    this.#delayMs = delayMs;
  }

  /** A wake was delivered (or failed) for `ref`. */
  add(ref: string, report: WakeReport): void {
    if (!report.ok) {
      this.#post([ref], report);
      return;
    }
    this.#woken.add(ref);
    this.#timer ??= setTimeout(() => void this.flush(), this.#delayMs);
  }

  /** These messages were read: the engine knows they reached the agent. */
  read(refs: Iterable<string>): void {
    for (const ref of refs) this.#woken.delete(ref);
  }

  /** Reports what waits now, and resolves when every report so far has been sent. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#woken.size > 0) this.#post([...this.#woken], { ok: true });
    this.#woken.clear();
    return this.#posting;
  }

  #post(refs: string[], report: WakeReport): void {
    this.#posting = this.#posting.then(async () => {
      for (let attempt = 1;; attempt++) {
        try {
          await this.#api.call("POST", "/api/live/me/wake-report", { refs, ...report });
          return;
        } catch (error) {
          if (attempt >= REPORT_TRIES) {
            this.#log(`wake report: ${errorText(error)}`);
            return;
          }
          await new Promise((r) => setTimeout(r, REPORT_RETRY_MS * 2 ** (attempt - 1)));
        }
      }
    });
  }
}

/** The woken-report delay from `CROSSTALK_WOKEN_REPORT_MS`, in ms. */
export function reportDelay(
  value: string | undefined,
  label = "CROSSTALK_WOKEN_REPORT_MS",
  code: ErrorCode = "ERR_USAGE",
): number {
  if (value === undefined) return WOKEN_REPORT_MS;
  const ms = Number(value);
  if (value === "" || !Number.isInteger(ms) || ms < 0 || ms > 600_000) {
    throw new CrosstalkError(code, `${label} must be 0 to 600000 ms, not ${JSON.stringify(value)}`);
  }
  return ms;
}

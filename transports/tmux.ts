/**
 * The tmux wake adapter: wakes a live agent (Claude Code, Codex, Aider… in a tmux pane) by typing
 * a short text into its pane and pressing Enter, the way a person would, but only when the pane
 * is ready for it: never into copy mode, never into an agent's confirmation dialog (Enter there
 * would answer the dialog).
 */

/** Options for {@linkcode wakeTmux} and {@linkcode paneState}. */
export interface TmuxWakeOptions {
  /** The tmux binary (default `"tmux"`). */
  tmux?: string;
  /** A server socket, passed as `-S <path>` (default: the server of `$TMUX`, else the default one). */
  socket?: string;
  /** Pause between the paste and the Enter key, in ms (default 300). */
  enterDelayMs?: number;
  /** Put before the text, so that the agent can tell a wake from its user (default `[crosstalk]`). */
  marker?: string;
  /** The most characters typed (default 4000); a longer text is cut and `pointer` appended. */
  maxChars?: number;
  /** Where the whole text is, appended after a cut (e.g. `full message: crosstalk message show <id>`). */
  pointer?: string;
  /** Stops a wake before its paste (nothing is left behind); once pasted, it ends with its Enter. */
  signal?: AbortSignal;
}

/** What a pane looks like now. */
export type PaneState = "ready" | "busy" | "dialog" | "missing";

/**
 * How a wake went: the text typed, or why it was not. `pasted` says whether the text may be in
 * the pane already (a failure from the paste on): then typing it again could type it twice.
 */
export type TmuxWakeResult =
  | { ok: true; typed: string }
  | {
    ok: false;
    reason: "missing" | "busy" | "dialog" | "failed";
    detail: string;
    pasted: boolean;
  };

const DEFAULT_MARKER = "[crosstalk]";
const DEFAULT_MAX_CHARS = 4000;
const DEFAULT_ENTER_DELAY_MS = 300;
/** tmux answers in milliseconds; a server that does not answer must not hang the wake. */
const TMUX_TIMEOUT_MS = 5000;
/** How far up from the bottom of the screen a dialog is looked for, in non-blank lines. */
const DIALOG_LINES = 15;

/**
 * Lines of the confirmation dialogs of known agent CLIs (Claude Code, Codex, Gemini CLI, Aider).
 * A wake typed into one would answer it (Enter picks the highlighted "Yes"), so a false alarm,
 * which only delays a wake, is the lesser harm.
 */
const DIALOG_PATTERNS: RegExp[] = [
  /\bdo you want to\b.*\?/i,
  /\bwould you like to\b.*\?/i,
  /^allow\b.*\?/i,
  /^[❯›>▶●*]\s*\d+\.\s*(yes|no|allow|deny|approve|reject|proceed)\b/i,
  /\(y\/n\)|\[y\/n\]|\(Y\)es\/\(N\)o/i,
  /\bpress enter to continue\b/i,
];

/**
 * What a pane looks like now: `missing` (no such pane, a dead one, or no tmux server), `busy` (in
 * copy mode or another tmux mode, input disabled, or panes synchronized so that Enter would reach
 * them all), `dialog` (the bottom of the screen shows an agent CLI's confirmation dialog), else
 * `ready`.
 *
 * @throws {Error} when tmux cannot be run or does not answer in time
 */
export async function paneState(pane: string, options: TmuxWakeOptions = {}): Promise<PaneState> {
  checkPane(pane);
  const probe = await probePane(pane, options, true);
  if (probe.failed) throw new Error(probe.detail);
  return probe.state;
}

/**
 * Types `marker + " " + text` into `pane` as one bracketed paste, waits `enterDelayMs`, then
 * presses Enter. Types nothing unless the pane is `ready`; says why instead of throwing.
 *
 * @throws {TypeError} when `pane` is empty or has a line break
 * @throws {RangeError} when `maxChars` leaves no room for the marker and the pointer
 */
export async function wakeTmux(
  pane: string,
  text: string,
  options: TmuxWakeOptions = {},
): Promise<TmuxWakeResult> {
  checkPane(pane);
  if (typeof text !== "string") throw new TypeError("The wake text must be a string");
  const typed = composeWake(text, options);
  const delayMs = options.enterDelayMs ?? DEFAULT_ENTER_DELAY_MS;
  if (!Number.isFinite(delayMs) || delayMs < 0) {
    throw new RangeError(`enterDelayMs must be a non-negative number, got ${delayMs}`);
  }

  const before = await probePane(pane, options, true);
  const notPasted = (reason: "missing" | "busy" | "dialog" | "failed", detail: string) =>
    ({ ok: false, reason, detail, pasted: false }) as const;
  // From the paste on, the text may be in the pane whatever fails.
  const maybePasted = (reason: "missing" | "failed", detail: string) =>
    ({ ok: false, reason, detail, pasted: true }) as const;
  if (before.failed) return notPasted("failed", before.detail);
  if (before.state !== "ready") return notPasted(before.state, before.detail);

  // A buffer of our own, deleted by the paste: a wake never clobbers the user's paste buffers, and
  // two wakes at once never paste each other's text.
  const buffer = `crosstalk-wake-${crypto.randomUUID()}`;
  // From the buffer's load on, the signal is heeded once, before the paste (the buffer is then
  // deleted): stopped between the paste and its Enter, the text would sit in the agent's
  // composer, and the message, still unread, would be pasted again after it (an edit of the
  // agent, the engine stopping). The Enter comes at most `delayMs` and three tmux calls later.
  const { signal, ...finishing } = options;
  const load = await runTmux(["load-buffer", "-b", buffer, "-"], finishing, typed);
  if (load.failed) return notPasted("failed", load.detail);
  if (load.code !== 0) return notPasted("failed", `load-buffer: ${tmuxDetail(load)}`);
  if (signal?.aborted) {
    await runTmux(["delete-buffer", "-b", buffer], finishing);
    signal.throwIfAborted();
  }
  // -p: wrapped in bracketed-paste codes when the program asked for them, so newlines are text.
  // -r: newlines stay LF instead of becoming CR, which a program without bracketed paste reads
  // as Enter; raw-mode TUIs read LF (Ctrl-J) as a new line within the prompt.
  const paste = await runTmux(
    ["paste-buffer", "-p", "-r", "-d", "-b", buffer, "-t", pane],
    finishing,
  );
  if (paste.failed || paste.code !== 0) {
    await runTmux(["delete-buffer", "-b", buffer], finishing);
    if (paste.failed) return maybePasted("failed", paste.detail);
    const detail = tmuxDetail(paste);
    // A pane that is gone took nothing.
    return isNoPane(detail) ? notPasted("missing", detail) : maybePasted("failed", detail);
  }

  // A separate Enter, later: TUIs read a paste and a key that arrive together as one input, and
  // some then take the Enter as part of the pasted text.
  await delay(delayMs, undefined);
  // Someone may have scrolled up (copy mode) meanwhile: Enter would then end copy mode instead.
  const after = await probePane(pane, finishing, false);
  if (after.failed) return maybePasted("failed", after.detail);
  // A pane that went away took its composer with it: nothing of the text is left anywhere. A
  // server that could not be reached may run on, with the text in the pane.
  if (after.state === "missing" && !after.unreachable) return notPasted("missing", after.detail);
  if (after.state !== "ready") {
    return maybePasted("failed", `the text was pasted but not submitted: ${after.detail}`);
  }
  const enter = await runTmux(["send-keys", "-t", pane, "Enter"], finishing);
  if (enter.failed) return maybePasted("failed", enter.detail);
  if (enter.code !== 0) {
    const detail = tmuxDetail(enter);
    return isNoPane(detail) || isNoServer(detail)
      ? notPasted("missing", detail)
      : maybePasted("failed", `send-keys: ${detail}`);
  }
  return { ok: true, typed };
}

/** The pane this process runs in, from `$TMUX_PANE` (undefined outside tmux). */
export function currentPane(env: Record<string, string | undefined>): string | undefined {
  const pane = env.TMUX_PANE?.trim();
  return pane ? pane : undefined;
}

/**
 * The socket of the tmux server this process runs under, from `$TMUX` (`socket,pid,session`;
 * undefined outside tmux).
 */
export function currentSocket(env: Record<string, string | undefined>): string | undefined {
  const socket = env.TMUX?.split(",")[0]?.trim();
  return socket ? socket : undefined;
}

function checkPane(pane: unknown): asserts pane is string {
  if (typeof pane !== "string" || pane.trim() === "" || /[\r\n]/.test(pane)) {
    throw new TypeError(`Invalid tmux pane ${JSON.stringify(pane)}: must be a non-empty line`);
  }
}

/**
 * The text to type: marker, text, cut at `maxChars` (in code points, so that no character is
 * split) with the pointer after the cut. Control characters go: an ESC could end the bracketed
 * paste early and turn the rest of a message into keystrokes, a CR could submit it early.
 */
function composeWake(text: string, options: TmuxWakeOptions): string {
  const maxChars = options.maxChars ?? DEFAULT_MAX_CHARS;
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`maxChars must be a positive integer, got ${maxChars}`);
  }
  const marker = cleanText(options.marker ?? DEFAULT_MARKER);
  const head = marker ? `${marker} ` : "";
  const chars = Array.from(head + cleanText(text));
  if (chars.length <= maxChars) return chars.join("");
  const tail = options.pointer ? `…\n${cleanText(options.pointer)}` : "…";
  const room = maxChars - Array.from(tail).length;
  if (room < Array.from(head).length) {
    throw new RangeError(
      `maxChars ${maxChars} leaves no room for the text between the marker and the pointer`,
    );
  }
  return chars.slice(0, room).join("").trimEnd() + tail;
}

function cleanText(text: string): string {
  return text.replace(/\r\n?/g, "\n")
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, "");
}

type Probe =
  // `unreachable`: "missing" because tmux could not reach its server, not because it said so.
  | { failed: false; state: PaneState; detail: string; unreachable?: boolean }
  | { failed: true; detail: string };

/** The pane's state, and with `screen`, whether its screen shows a dialog. */
async function probePane(pane: string, options: TmuxWakeOptions, screen: boolean): Promise<Probe> {
  // capture-pane fails on an unknown pane, where display-message would quietly describe another
  // one; the two run in one tmux call, the second only when the first succeeds.
  // The description is the last line of the output, whatever the screen shows above it.
  const info = "crosstalk-pane-info:";
  const format = `${info}#{pane_dead}:#{pane_in_mode}:#{pane_input_off}:#{pane_synchronized}:` +
    "#{pane_mode}";
  const capture = screen
    ? ["capture-pane", "-p", "-J"]
    : ["capture-pane", "-p", "-S", "0", "-E", "0"];
  const out = await runTmux(
    [...capture, "-t", pane, ";", "display-message", "-p", "-t", pane, format],
    options,
  );
  if (out.failed) return out;
  if (out.code !== 0) {
    const detail = tmuxDetail(out);
    if (isUnreachable(detail)) {
      return { failed: false, state: "missing", detail, unreachable: true };
    }
    return isNoPane(detail) || isNoServer(detail)
      ? { failed: false, state: "missing", detail }
      : { failed: true, detail: `tmux could not inspect pane ${pane}: ${detail}` };
  }
  const at = out.stdout.lastIndexOf(info);
  if (at < 0) return { failed: true, detail: `tmux did not describe pane ${pane}` };
  const [dead, inMode, inputOff, synchronized, mode] = out.stdout.slice(at + info.length).trim()
    .split(":");
  if (dead === "1") return { failed: false, state: "missing", detail: `pane ${pane} is dead` };
  if (inMode === "1") {
    return { failed: false, state: "busy", detail: `pane ${pane} is in ${mode || "a mode"}` };
  }
  if (inputOff === "1") {
    return { failed: false, state: "busy", detail: `input to pane ${pane} is disabled` };
  }
  if (synchronized === "1") {
    // tmux sends keys (the Enter) to every synchronized pane, so a wake would submit in all.
    return { failed: false, state: "busy", detail: `pane ${pane} is synchronized with others` };
  }
  if (screen) {
    const line = dialogLine(out.stdout.slice(0, at));
    if (line) return { failed: false, state: "dialog", detail: `pane ${pane} shows "${line}"` };
  }
  return { failed: false, state: "ready", detail: "" };
}

/** The line of a confirmation dialog near the bottom of `screen`, if any. */
function dialogLine(screen: string): string | undefined {
  const lines = screen.split("\n")
    // Dialogs are often drawn in a box: its side bars are not part of the text.
    .map((l) => l.replace(/^[\s│┃║|]+|[\s│┃║|]+$/g, ""))
    .filter((l) => l !== "")
    .slice(-DIALOG_LINES);
  return lines.find((l) => DIALOG_PATTERNS.some((p) => p.test(l)));
}

function isNoPane(detail: string): boolean {
  return /can't find (pane|window|session)/.test(detail);
}

/** `no server running on …`: nobody listens on the socket, so the server and its panes are gone. */
function isNoServer(detail: string): boolean {
  return /no server running/.test(detail);
}

/**
 * `error connecting to …`: the socket is gone or cannot be opened, or a passing failure. The
 * server may run on (a socket deleted by a cleaner of /tmp), so nothing is known of the pane.
 */
function isUnreachable(detail: string): boolean {
  return /error connecting to/.test(detail);
}

/** How a tmux command went: its exit code and output, or why it could not run. */
export type TmuxRun =
  | { failed: false; code: number; stdout: string; stderr: string }
  | { failed: true; detail: string };

/** Which tmux, which server, and when to give up waiting for it. */
export type TmuxRunOptions = Pick<TmuxWakeOptions, "tmux" | "socket" | "signal">;

const decoder = new TextDecoder();

/**
 * Runs tmux without a shell, on `options.socket`'s server, for at most 5 s; a missing binary or a
 * timeout is a failure, not an exception. Rejects with the signal's reason when it is aborted.
 */
export async function runTmux(
  args: string[],
  options: TmuxRunOptions = {},
  stdin?: string,
): Promise<TmuxRun> {
  const binary = options.tmux ?? "tmux";
  const fullArgs = options.socket ? ["-S", options.socket, ...args] : args;
  const timeout = AbortSignal.timeout(TMUX_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    const child = new Deno.Command(binary, {
      args: fullArgs,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      // A failed write shows as tmux's own error below (it exits without reading).
      await writer.write(new TextEncoder().encode(stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const output = await child.output();
    if (timeout.aborted) {
      return {
        failed: true,
        detail: `tmux ${args[0]} did not finish within ${TMUX_TIMEOUT_MS} ms`,
      };
    }
    options.signal?.throwIfAborted();
    return {
      failed: false,
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } catch (error) {
    options.signal?.throwIfAborted();
    if (timeout.aborted) {
      return {
        failed: true,
        detail: `tmux ${args[0]} did not finish within ${TMUX_TIMEOUT_MS} ms`,
      };
    }
    if (error instanceof Deno.errors.NotFound) {
      return {
        failed: true,
        detail: `Cannot run "${binary}": tmux is not installed or not on PATH`,
      };
    }
    return { failed: true, detail: `Cannot run "${binary}": ${String(error)}` };
  }
}

function tmuxDetail(run: { code: number; stderr: string }): string {
  return run.stderr.trim().split("\n").slice(-2).join("; ") || `exit ${run.code}`;
}

/** Waits `ms`, or rejects with the signal's reason when it is aborted first. */
function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const onAbort = () => {
    clearTimeout(timer);
    reject(signal?.reason);
  };
  const timer = setTimeout(() => {
    signal?.removeEventListener("abort", onAbort);
    resolve();
  }, ms);
  signal?.addEventListener("abort", onAbort, { once: true });
  return promise;
}

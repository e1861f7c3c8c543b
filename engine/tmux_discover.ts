/**
 * Discovery of tmux panes to register as agents (`crosstalk agent discover`): the panes a tmux
 * server runs ({@linkcode listTmuxPanes}, with `tmux list-panes -a`), the target that names each
 * one ({@linkcode paneTarget}), a guess of the agent CLI in it from its command
 * ({@linkcode guessAgentCli}) and a name for it ({@linkcode proposeName}). Which panes are taken
 * is {@linkcode TmuxAgents.candidates}'s to say, since it knows the registrations.
 */
import { CrosstalkError } from "../schema/errors.ts";
import { isLiveName } from "./live.ts";

/**
 * Which run of a tmux server: its pid and start time (Unix seconds). A pane id (`%3`) is only
 * unique within one run: a new server (after a reboot) numbers its panes from `%0` again.
 */
export interface TmuxServerId {
  pid: number;
  start_time: number;
}

/** One pane, as `tmux list-panes -a` reports it. */
export interface TmuxPane {
  session: string;
  /** The window's index in its session. */
  window: number;
  /** The window's name. */
  windowName: string;
  /** The pane's index in its window. */
  index: number;
  /** Its pane id, `%3`: unique on its server for as long as it lives. */
  id: string;
  /** The program in its foreground, as tmux names it (`bash`, `aider`, `2.1.112`, …). */
  command: string;
  /** Its terminal (`/dev/pts/3`), where {@linkcode foregroundCommands} finds its command line. */
  tty: string;
  /** The folder that program runs in. */
  folder: string;
  /** True for a pane kept by remain-on-exit after its program ended. */
  dead: boolean;
  /** The path of the socket of the tmux server that reported it. */
  socketPath: string;
  /** The run of that server. */
  server: TmuxServerId;
}

/** Options for {@linkcode listTmuxPanes}. */
export interface ListTmuxPanesOptions {
  /** The tmux server's socket (`tmux -S`); default tmux's own default server. */
  socket?: string | undefined;
  /** The tmux binary (default `tmux`). */
  tmux?: string | undefined;
}

const SEPARATOR = "\x1f";
/**
 * What is asked of each pane: the values with the unit separator between them, and after the last
 * one, so that a pane's line ends with the separator and a line break. tmux writes values as they
 * are: a folder's name may hold a line break, and that pair in no name a person gives.
 */
const PANE_FORMAT = [
  "#{session_name}",
  "#{window_index}",
  "#{window_name}",
  "#{pane_index}",
  "#{pane_id}",
  "#{pane_dead}",
  "#{socket_path}",
  "#{pid}",
  "#{start_time}",
  "#{pane_tty}",
  "#{pane_current_command}",
  "#{pane_current_path}",
  "",
].join(SEPARATOR);
/** What ends each pane in tmux's output. */
const END = `${SEPARATOR}\n`;
const FIELDS = 12;
/** A session name a target may hold as it is (tmux makes `.` and `:` in session names `_`). */
const SESSION_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;
/** What tmux says when there is no server to ask: nothing runs, so there are no panes. */
const NO_SERVER_RE =
  /^(?:no server running on |error connecting to .*\((?:No such file or directory|Connection refused)\)$)/m;

/** Shells: a pane that runs one is free for a person (or an agent with a shell) to be typed into. */
const SHELLS = new Set([
  "bash",
  "zsh",
  "fish",
  "sh",
  "dash",
  "ksh",
  "mksh",
  "tcsh",
  "csh",
  "nu",
  "elvish",
  "xonsh",
  "pwsh",
  "ash",
]);
/** Agent CLIs known by the name of their program, with other names they run under. */
const AGENT_CLIS = new Map([
  ["claude", "claude"],
  ["claude-code", "claude"],
  ["codex", "codex"],
  ["gemini", "gemini"],
  ["gemini-cli", "gemini"],
  ["qwen", "qwen"],
  ["qwen-code", "qwen"],
  ["opencode", "opencode"],
  ["aider", "aider"],
  ["grok", "grok"],
  ["grok-cli", "grok"],
  ["cursor-agent", "cursor-agent"],
  ["amp", "amp"],
  ["goose", "goose"],
  ["crush", "crush"],
  ["copilot", "copilot"],
  ["kimi", "kimi"],
  ["droid", "droid"],
]);

/**
 * The panes of a tmux server, in tmux's order (by session, window, pane). No server running on
 * that socket: none.
 *
 * @throws {CrosstalkError} `ERR_SERVICE_FAILED` when tmux cannot be run (not installed) or fails
 *   for another reason than no server
 */
export async function listTmuxPanes(options: ListTmuxPanesOptions = {}): Promise<TmuxPane[]> {
  const tmux = options.tmux ?? "tmux";
  const where = options.socket === undefined
    ? "the default tmux server"
    : `the tmux server of ${JSON.stringify(options.socket)}`;
  const { runTmux } = await import("../transports/tmux.ts");
  const run = await runTmux(["list-panes", "-a", "-F", PANE_FORMAT], {
    tmux,
    ...(options.socket === undefined ? {} : { socket: options.socket }),
  });
  if (run.failed) {
    throw new CrosstalkError(
      "ERR_SERVICE_FAILED",
      `Cannot list the panes of ${where}: ${run.detail}`,
    );
  }
  const stderr = run.stderr.trim();
  if (run.code !== 0) {
    if (NO_SERVER_RE.test(stderr)) return [];
    throw new CrosstalkError(
      "ERR_SERVICE_FAILED",
      `Cannot list the panes of ${where}: tmux list-panes failed: ${
        stderr.split("\n").at(-1) || `exit ${run.code}`
      }`,
    );
  }
  return parsePaneList(run.stdout);
}

/**
 * Parses what `tmux list-panes -a -F` printed with the format of {@linkcode listTmuxPanes}.
 *
 * @throws {SyntaxError} naming the line that has not the fields asked for
 */
export function parsePaneList(text: string): TmuxPane[] {
  const panes: TmuxPane[] = [];
  const records = text.split(END);
  let line = 1;
  for (const [i, record] of records.entries()) {
    if (record === "" && i === records.length - 1) break;
    const fields = record.split(SEPARATOR);
    const [session, window, windowName, index, id, dead, socketPath, pid, started, tty, command] =
      fields;
    const at = line;
    line += record.split("\n").length;
    const bad = (what: string) =>
      new SyntaxError(`Cannot parse tmux list-panes output line ${at}:1: ${what}`);
    if (fields.length < FIELDS) {
      throw bad(`${fields.length} fields instead of ${FIELDS}`);
    }
    if (!/^\d{1,9}$/.test(window!) || !/^\d{1,9}$/.test(index!)) {
      throw bad(`window and pane index must be numbers, not ${JSON.stringify([window, index])}`);
    }
    if (!/^%\d{1,9}$/.test(id!)) throw bad(`${JSON.stringify(id)} is not a pane id`);
    if (!/^\d{1,10}$/.test(pid!) || !/^\d{1,12}$/.test(started!)) {
      throw bad(`server pid and start time must be numbers, not ${JSON.stringify([pid, started])}`);
    }
    panes.push({
      session: session!,
      window: Number(window),
      windowName: windowName!,
      index: Number(index),
      id: id!,
      dead: dead === "1",
      socketPath: socketPath!,
      server: { pid: Number(pid), start_time: Number(started) },
      command: command!,
      tty: tty!,
      // The last field: a separator in it stays.
      folder: fields.slice(FIELDS - 1).join(SEPARATOR),
    });
  }
  return panes;
}

/**
 * The target that registers `pane`: its session name when the session has one pane (it survives
 * the pane, and a revive can start it again), else the pane id, as when the session's name cannot
 * be a target (a space, a dot, a character that is not ASCII). Never `session:window.pane`: tmux
 * numbers a window's panes again when one closes, and the target would then name another pane
 * (a shell, say) and type into it; a pane id is not given to another pane while its server runs
 * (a new server, after a reboot, numbers its panes from `%0` again: the registration records the
 * run of its server, and nothing is typed on another one).
 *
 * @param panesInSession how many panes its session has, in all its windows
 */
export function paneTarget(pane: TmuxPane, panesInSession: number): string {
  return SESSION_RE.test(pane.session) && panesInSession === 1 ? pane.session : pane.id;
}

/**
 * The agent CLI a pane's command looks like: `claude`, `codex`, `gemini`, `qwen`, `opencode`,
 * `aider`, `grok`, `cursor-agent`, … (also with a suffix: `claude-code`, `gemini-cli`); `shell` for a
 * shell; `tmux` (the registration's default) for anything else. A command that is a version number
 * alone (`2.1.112`) is Claude Code: its native binary is a file named after its version. An agent
 * that runs under an interpreter shows as that interpreter (`node`, `python3`) and is `tmux` here;
 * {@linkcode guessScriptCli} looks at its command line.
 */
export function guessAgentCli(command: string): string {
  const name = (command.split("/").at(-1) ?? "").replace(/^-/, "").toLowerCase();
  if (SHELLS.has(name)) return "shell";
  const known = knownCli(name);
  if (known !== undefined) return known;
  if (/^\d+\.\d+\.\d+(?:[-+][\w.]+)?$/.test(name)) return "claude";
  return "tmux";
}

/** Programs that run an agent CLI's script: tmux names the pane after them, not the agent. */
const INTERPRETERS = /^(?:node|nodejs|bun|deno|python[\d.]*|pypy[\d.]*|ruby)$/i;
/** Their options that take the next argument as their value (`node -r dotenv/config app.js`). */
const VALUE_OPTIONS = new Set([
  "-r",
  "--require",
  "--import",
  "--loader",
  "-C",
  "--conditions",
  "-W",
  "-X",
  "--config",
  "--env-file",
]);

/** True when tmux's name for a pane's program is an interpreter (see {@linkcode guessScriptCli}). */
export function isInterpreter(command: string): boolean {
  return INTERPRETERS.test(command.split("/").at(-1) ?? "");
}

/** The agent CLI a program or package is named after, or undefined. */
function knownCli(name: string): string | undefined {
  const lower = name.toLowerCase();
  return AGENT_CLIS.get(lower) ?? AGENT_CLIS.get(lower.split(/[-_.]/)[0]!);
}

/**
 * The agent CLI an interpreter's command line runs (`args`: the program, then its arguments),
 * from its script: the script's name or a word of it (`node ~/.npm-global/bin/gemini`, `python3
 * ~/.local/bin/aider`, `python3 run_aider.py`), else the package it is in (`node
 * /usr/lib/node_modules/@google/gemini-cli/dist/index.js`), or a module (`python3 -m aider`).
 * Undefined when the program is not an interpreter or nothing says which agent it is: a folder
 * elsewhere in the path (a user named `claude`) is no evidence.
 */
export function guessScriptCli(args: readonly string[]): string | undefined {
  const [program, ...rest] = args;
  if (program === undefined || !isInterpreter(program)) return undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === "-m") return rest[i + 1] === undefined ? undefined : knownCli(rest[i + 1]!);
    // Code given inline runs no script of an agent's.
    if (arg === "-c" || arg === "-e" || arg === "--eval") return undefined;
    if (VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    // Options, and deno's and bun's subcommand before the script.
    if (arg.startsWith("-") || (i === 0 && /^(?:run|x)$/.test(arg))) continue;
    const parts = arg.split("/").filter(Boolean);
    const script = (parts.at(-1) ?? "").replace(/\.(?:[cm]?[jt]s|py|rb)$/, "");
    // Named after an agent, or with one among the words of its name (`run_aider.py`).
    const byName = knownCli(script) ??
      script.split(/[-_.]/).map(knownCli).find((cli) => cli !== undefined);
    if (byName !== undefined) return byName;
    const packages = parts.findLastIndex((part) =>
      /^(?:node_modules|site-packages|dist-packages)$/.test(part)
    );
    if (packages < 0) return undefined;
    const first = parts[packages + 1] ?? "";
    return knownCli(first.startsWith("@") ? parts[packages + 2] ?? "" : first);
  }
  return undefined;
}

/**
 * The agent CLI a process's command line (the program, then its arguments) runs: by the
 * program's name ({@linkcode guessAgentCli}), else, for an interpreter, by its script
 * ({@linkcode guessScriptCli}); undefined for a shell or anything else. Only the program and the
 * script count: an argument or a folder that names an agent (a prompt about Claude, a user named
 * `codex`) is no evidence.
 */
export function guessCommandLineCli(argv: readonly string[]): string | undefined {
  const byName = guessAgentCli(argv[0] ?? "");
  return byName === "tmux" || byName === "shell" ? guessScriptCli(argv) : byName;
}

/**
 * The command line of the program in the foreground of each terminal (the leader of its
 * foreground process group), by terminal path (`/dev/pts/3`), for the terminals in `ttys`: from
 * `ps` (and, on Linux, `/proc/<pid>/cmdline`, which keeps arguments with spaces whole). Empty when
 * `ps` cannot run or takes more than {@linkcode PS_TIMEOUT_MS}: the guesses then stay with tmux's
 * names.
 */
export async function foregroundCommands(
  ttys: ReadonlySet<string>,
): Promise<Map<string, string[]>> {
  const commands = new Map<string, string[]>();
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ps", {
      args: ["-A", "-o", "pid=", "-o", "pgid=", "-o", "tty=", "-o", "stat=", "-o", "args="],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      // A ps stuck on a process it reads (a hung mount) must not hold the listing up.
      signal: AbortSignal.timeout(PS_TIMEOUT_MS),
    }).output();
  } catch {
    return commands;
  }
  if (!out.success) return commands;
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const match = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const [, pid, pgid, name, stat, args] = match;
    const tty = name!.startsWith("/") ? name! : `/dev/${name}`;
    if (pid !== pgid || !stat!.includes("+") || !ttys.has(tty)) continue;
    let argv = args!.split(/\s+/);
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
      if (cmdline.at(-1) === "") cmdline.pop();
      if (cmdline.length > 0) argv = cmdline;
    } catch {
      // Not Linux, or the program ended: what ps printed.
    }
    commands.set(tty, argv);
  }
  return commands;
}

/** How long `ps` may take to list the processes for {@linkcode foregroundCommands}. */
const PS_TIMEOUT_MS = 5_000;

/**
 * A name for a pane's agent from its session name, valid under the live agent name rules and not
 * taken: the session name with what a name may not hold made `-` (`my session!` is `my-session`),
 * cut to 56 characters, then `-2`, `-3`, … until `isTaken` says no; a reserved name (`all`, `here`,
 * …) gets a suffix too. A session name that leaves nothing, or one tmux numbered itself (`0`,
 * `1`: `tmux` run without `-s`), says nothing of the agent: `fallback` (the guessed CLI) is used.
 */
export function proposeName(
  session: string,
  fallback: string,
  isTaken: (name: string) => boolean,
): string {
  const clean = (text: string) =>
    text.replace(/\\(?:\d{3}|.)/g, "-") // what tmux escaped: `\t`, `\303`
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "")
      .slice(0, 56)
      .replace(/[^A-Za-z0-9]+$/, "");
  let base = /^\d+$/.test(session) ? "" : clean(session);
  if (base === "") base = clean(fallback) || "pane";
  for (let n = 1;; n++) {
    const suffix = n === 1 ? "" : `-${n}`;
    const name = `${base.slice(0, 56 - suffix.length).replace(/[^A-Za-z0-9]+$/, "")}${suffix}`;
    if (isLiveName(name) && !isTaken(name)) return name;
  }
}

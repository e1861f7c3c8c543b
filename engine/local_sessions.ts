/**
 * The live agent sessions of this machine, by the process tree they run in. An agent CLI runs its
 * MCP server (`crosstalk mcp`), its hooks (`crosstalk approval hook`) and its shell tool's
 * commands (`crosstalk message send` from Claude Code's Bash tool) as processes of its own: the
 * session leaves its name, its ancestors and which of them is its agent CLI in
 * `<state>/sessions/<pid>.json` while it runs, and such a process finds the session whose agent
 * CLI is its nearest ancestor. So an approval says which live agent asks, which the hook's input
 * does not, and a message sent from the agent's shell is from the agent (cli/_sender.ts).
 */
import { join } from "../transports/path.ts";
import { isRunning } from "./background.ts";

/** A session as its file records it. */
export interface LocalSession {
  name: string;
  /** The pid of `crosstalk mcp`. */
  pid: number;
  /** Its ancestors, nearest first (its parent, that one's parent, …), without pid 1. */
  ancestors: number[];
  /**
   * The agent CLI that runs it ({@linkcode agentCliOf}); absent in the records of an older
   * crosstalk, whose agent CLI is taken to be its parent.
   */
  agent?: number;
}

/** How far up the process tree ancestry is followed. */
const MAX_DEPTH = 16;

/**
 * The ancestors of `pid`, nearest first, up to (not including) pid 1: from `/proc` on Linux,
 * from `ps` elsewhere; empty when neither can tell.
 */
export async function ancestorsOf(pid: number): Promise<number[]> {
  const parentOf = Deno.build.os === "linux" ? procParent : await psParents();
  const chain: number[] = [];
  for (let at = parentOf(pid); at !== undefined && at > 1; at = parentOf(at)) {
    if (chain.includes(at) || chain.length >= MAX_DEPTH) break;
    chain.push(at);
  }
  return chain;
}

/** A process's parent from `/proc/<pid>/stat` (the field after the command's closing paren). */
function procParent(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(parent) ? parent : undefined;
  } catch {
    return undefined;
  }
}

/** Every process's parent, from one `ps` (macOS and other systems without `/proc`). */
async function psParents(): Promise<(pid: number) => number | undefined> {
  const parents = new Map<number, number>();
  try {
    const { stdout } = await new Deno.Command("ps", { args: ["-A", "-o", "pid=,ppid="] }).output();
    for (const line of new TextDecoder().decode(stdout).split("\n")) {
      const [pid, parent] = line.trim().split(/\s+/).map(Number);
      if (Number.isInteger(pid) && Number.isInteger(parent)) parents.set(pid!, parent!);
    }
  } catch {
    // No ps: no ancestry, and no name on approvals.
  }
  return (pid) => parents.get(pid);
}

/** A process's command line, its arguments apart where the system keeps them apart. */
export async function commandLineOf(pid: number): Promise<string[] | undefined> {
  if (Deno.build.os === "linux") {
    try {
      const text = await Deno.readTextFile(`/proc/${pid}/cmdline`);
      return text.split("\0").filter((arg) => arg !== "");
    } catch {
      return undefined;
    }
  }
  try {
    const ps = new Deno.Command("ps", { args: ["-o", "args=", "-p", String(pid)] });
    const { success, stdout } = await ps.output();
    const line = new TextDecoder().decode(stdout).trim();
    return success && line !== "" ? [line] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `commandLine` carries `args` one after the other, word by word (quotes and a shell's
 * `;`, `&`, `|` and parentheses aside): the command line of a wrapper that runs them, such as
 * `npx crosstalk mcp --name x`, `npm exec crosstalk mcp …` or `sh -c "crosstalk mcp --name x"`.
 */
export function carriesArgs(commandLine: readonly string[], args: readonly string[]): boolean {
  const words = (list: readonly string[]) =>
    list.flatMap((arg) => arg.split(/[\s;&|()]+/)).map((w) => w.replace(/^['"]+|['"]+$/g, ""))
      .filter((w) => w !== "");
  const line = words(commandLine);
  const wanted = words(args);
  if (wanted.length === 0) return false;
  for (let at = 0; at + wanted.length <= line.length; at++) {
    if (wanted.every((w, i) => line[at + i] === w)) return true;
  }
  return false;
}

/**
 * The agent CLI of an MCP server whose ancestors are `ancestors` and whose own arguments are
 * `args`: the nearest ancestor whose command line does not carry those arguments. The process that
 * started the server is it, unless that one is a wrapper that was given the server's command line
 * (`npx crosstalk mcp …`, `npm exec`, `sh -c "crosstalk mcp …"`, a node shim, or several of them),
 * which is passed over. An agent CLI reads its servers' command lines from its configuration: its
 * own command line does not carry them (`claude --mcp-config JSON` carries them as one JSON word).
 * Only that one process counts: what started the agent CLI (a terminal's shell, tmux, an editor)
 * starts other processes too, which are no part of the session.
 */
export async function agentCliOf(
  ancestors: readonly number[],
  args: readonly string[],
): Promise<number | undefined> {
  for (const [at, pid] of ancestors.entries()) {
    if (at === ancestors.length - 1) return pid;
    const line = await commandLineOf(pid);
    if (!line || !carriesArgs(line, args)) return pid;
  }
  return undefined;
}

/**
 * Records this process as the session `name` until the returned function removes the record.
 * A failure to write is not the session's concern: its approvals then carry no name, and its
 * agent's commands speak as the user.
 */
export async function recordLocalSession(
  stateDir: string,
  name: string,
): Promise<() => Promise<void>> {
  const path = join(stateDir, "sessions", `${Deno.pid}.json`);
  const ancestors = await ancestorsOf(Deno.pid);
  const agent = await agentCliOf(ancestors, Deno.args);
  const session: LocalSession = {
    name,
    pid: Deno.pid,
    ancestors,
    ...(agent === undefined ? {} : { agent }),
  };
  try {
    await Deno.mkdir(join(stateDir, "sessions"), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(path, `${JSON.stringify(session)}\n`, { mode: 0o600 });
  } catch {
    return async () => {};
  }
  return () => Deno.remove(path).catch(() => {});
}

/** The live session a process runs under, and the process through which: its agent CLI. */
export interface SessionMatch {
  session: LocalSession;
  /** The session's agent CLI, an ancestor of the process. */
  agentPid: number;
}

/**
 * The live session the process `pid` (default this one) runs under: the one whose agent CLI is
 * its nearest ancestor ({@linkcode nearestSession}); undefined when none or more than one could
 * be, or where the process tree cannot be read (no `/proc` and no `ps`). Records of
 * sessions that are gone are removed on the way. A record is this machine's word only: whether
 * the session is still registered with its engine is the engine's to say.
 */
export async function localSession(
  stateDir: string,
  pid: number = Deno.pid,
): Promise<SessionMatch | undefined> {
  const dir = join(stateDir, "sessions");
  const sessions: LocalSession[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !/^\d+\.json$/.test(entry.name)) continue;
      const path = join(dir, entry.name);
      try {
        const session = JSON.parse(await Deno.readTextFile(path)) as LocalSession;
        // Linux reads /proc; elsewhere `kill -0` asks.
        if (!(await isRunning(session.pid))) {
          await Deno.remove(path).catch(() => {});
          continue;
        }
        if (typeof session.name === "string" && Array.isArray(session.ancestors)) {
          sessions.push(session);
        }
      } catch {
        // Half written or not ours: not a session to match.
      }
    }
  } catch {
    return undefined;
  }
  // No session, no need to read the process tree (off Linux, one `ps`).
  if (sessions.length === 0) return undefined;
  return nearestSession(await ancestorsOf(pid), sessions);
}

/**
 * The session whose agent CLI is the nearest of `ancestors` (a hook's or a command's): the first
 * of them, up the tree, that is exactly one session's agent CLI. Two sessions of one agent CLI
 * (two MCP servers of it) name nobody, and so does a process under no session's agent CLI.
 */
export function nearestSession(
  ancestors: readonly number[],
  sessions: readonly LocalSession[],
): SessionMatch | undefined {
  for (const pid of ancestors) {
    const sharing = sessions.filter((s) => (s.agent ?? s.ancestors[0]) === pid);
    if (sharing.length === 1) return { session: sharing[0]!, agentPid: pid };
    if (sharing.length > 1) return undefined;
  }
  return undefined;
}

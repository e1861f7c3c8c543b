/**
 * The live agent sessions of this machine, by the process tree they run in. An agent CLI runs its
 * MCP server (`crosstalk mcp`) and its hooks (`crosstalk approval hook`) as processes of its own:
 * the session leaves its name and its ancestors in `<state>/sessions/<pid>.json` while it runs,
 * and a hook finds the session that shares its nearest ancestor, the agent CLI. So an approval
 * says which live agent asks, which the hook's input does not.
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

/**
 * Records this process as the session `name` until the returned function removes the record.
 * A failure to write is not the session's concern: its approvals then carry no name.
 */
export async function recordLocalSession(
  stateDir: string,
  name: string,
): Promise<() => Promise<void>> {
  const path = join(stateDir, "sessions", `${Deno.pid}.json`);
  const session: LocalSession = { name, pid: Deno.pid, ancestors: await ancestorsOf(Deno.pid) };
  try {
    await Deno.mkdir(join(stateDir, "sessions"), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(path, `${JSON.stringify(session)}\n`, { mode: 0o600 });
  } catch {
    return async () => {};
  }
  return () => Deno.remove(path).catch(() => {});
}

/**
 * The name of the live session this process runs under (its agent CLI is the session's nearest
 * ancestor too), or undefined when none or more than one could be. Records of sessions that are
 * gone are removed on the way.
 */
export async function localSessionName(stateDir: string): Promise<string | undefined> {
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
  if (sessions.length === 0) return undefined;
  return nearestSession(await ancestorsOf(Deno.pid), sessions);
}

/**
 * How near the agent CLI is: a session's parent or grandparent (through one wrapper such as `npx`
 * or `sh`), and a hook's parent, grandparent or great-grandparent (Claude Code runs hooks through
 * a shell). Farther up are the terminal, the login shell and tmux, which sessions share with
 * processes that are no part of them.
 */
const SESSION_REACH = 2;
const HOOK_REACH = 3;

/**
 * The session whose agent CLI is the nearest of `ancestors` (a hook's): the first of them, up the
 * tree and within reach, that exactly one session has within its reach. Two sessions sharing it
 * (two MCP servers of one agent CLI) name nobody, and so does a hook of an agent CLI that runs no
 * session.
 */
export function nearestSession(
  ancestors: readonly number[],
  sessions: readonly LocalSession[],
): string | undefined {
  for (const pid of ancestors.slice(0, HOOK_REACH)) {
    const sharing = sessions.filter((s) => s.ancestors.slice(0, SESSION_REACH).includes(pid));
    if (sharing.length === 1) return sharing[0]!.name;
    if (sharing.length > 1) return undefined;
  }
  return undefined;
}

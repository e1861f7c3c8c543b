/**
 * The tmux pane a command runs in (`$TMUX_PANE`, on the server of `$TMUX`), and what it is to this
 * machine's engine: the tmux agent registered for it ({@linkcode paneAgent}: who `crosstalk message
 * send` speaks as there), or the target that registers it ({@linkcode herePaneTarget}: what
 * `crosstalk agent add NAME` registers there).
 */
import { CrosstalkError } from "../schema/errors.ts";
import type { Env } from "./paths.ts";
import { resolveTarget, sameFile, type TmuxAgentView } from "./tmux_agents.ts";
import { listTmuxPanes, paneTarget } from "./tmux_discover.ts";
import { currentSocket } from "../transports/tmux.ts";

/** The pane a command runs in. */
export interface TmuxHere {
  /** Its pane id (`%3`), from `$TMUX_PANE`. */
  pane: string;
  /** The socket of its tmux server, from `$TMUX`; undefined: tmux's default server. */
  socket: string | undefined;
}

/** The pane this environment runs in; undefined outside tmux (no `$TMUX_PANE`, or not a pane id). */
export function tmuxHere(env: Env): TmuxHere | undefined {
  const pane = env.TMUX_PANE?.trim();
  if (!pane || !/^%\d{1,9}$/.test(pane)) return undefined;
  return { pane, socket: currentSocket(env) };
}

/** A tmux agent as the engine lists it: enough to tell which pane it is. */
export type PaneRegistration = Pick<
  TmuxAgentView,
  "name" | "target" | "socket" | "pane" | "tmux_server"
>;

/** Options for {@linkcode paneAgent} and {@linkcode herePaneTarget}. */
export interface TmuxHereOptions {
  /** The tmux binary (default `tmux`). */
  tmux?: string | undefined;
}

/**
 * The tmux agent registered for the pane `here`, among `registrations` (as `GET /api/tmux-agents`
 * lists them): one whose pane, as the engine resolved its target, is `here.pane`, and whose target
 * names that very pane on this pane's tmux server, asked now (a pane id is unique on its server
 * only). A registration without a socket is on the engine's default server, taken to be this
 * one's when its target resolves here to this pane too. Undefined when none is.
 */
export async function paneAgent<T extends PaneRegistration>(
  here: TmuxHere,
  registrations: readonly T[],
  options: TmuxHereOptions = {},
): Promise<T | undefined> {
  let ours: Promise<string> | undefined;
  for (const registration of registrations) {
    // Where the engine types its messages now: another pane is another agent's.
    if (registration.pane !== here.pane) continue;
    const socket = registration.socket ?? here.socket;
    const resolved = await resolveTarget(
      {
        name: registration.name,
        target: registration.target,
        ...(socket === undefined ? {} : { socket }),
        ...(registration.tmux_server ? { tmux_server: registration.tmux_server } : {}),
      },
      options.tmux,
    );
    if (!resolved.ok || resolved.pane !== here.pane) continue;
    if (registration.socket !== undefined) {
      // Its server must be this pane's: the same pane id on another server is another pane.
      ours ??= here.socket !== undefined
        ? Promise.resolve(here.socket)
        : defaultSocket(here.pane, options.tmux);
      if (!(await sameFile(registration.socket, await ours))) continue;
    }
    return registration;
  }
  return undefined;
}

/**
 * The target that registers the pane `here`, by the rule of `agent discover`
 * ({@linkcode paneTarget}): its session name when the session has that one pane, else its pane id.
 *
 * @throws {CrosstalkError} `ERR_USAGE` when the pane is not on its tmux server (the environment
 *   names a pane of another server, or one that closed); `ERR_SERVICE_FAILED` when tmux cannot be
 *   run or fails
 */
export async function herePaneTarget(
  here: TmuxHere,
  options: TmuxHereOptions = {},
): Promise<string> {
  const panes = await listTmuxPanes({ socket: here.socket, tmux: options.tmux });
  const mine = panes.find((pane) => pane.id === here.pane);
  if (!mine) {
    throw new CrosstalkError(
      "ERR_USAGE",
      `Cannot find this pane (${here.pane}, from $TMUX_PANE) on ${
        here.socket === undefined ? "the default tmux server" : `the tmux server of ${here.socket}`
      }: give the pane with --tmux TARGET`,
    );
  }
  return paneTarget(mine, panes.filter((pane) => pane.session === mine.session).length);
}

/** The socket of tmux's default server, as it names it; `""` when it cannot be asked. */
async function defaultSocket(pane: string, tmux = "tmux"): Promise<string> {
  const { runTmux } = await import("../transports/tmux.ts");
  const run = await runTmux(["display-message", "-p", "-t", pane, "#{socket_path}"], { tmux });
  return !run.failed && run.code === 0 ? run.stdout.trim() : "";
}

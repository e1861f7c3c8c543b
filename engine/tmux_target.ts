/**
 * Whether a tmux agent's target names a pane that exists, checked at registration against the
 * panes its tmux server runs ({@linkcode listTmuxPanes}): tmux itself answers a window or pane that
 * a session does not have with the session's current pane, and would type into that one. At each
 * delivery, the pane tmux resolves the target to is checked against it too ({@linkcode mismatchOf}):
 * a window closed after registration is reported missing, not typed into another.
 */
import { CrosstalkError } from "../schema/errors.ts";
import type { TmuxPane, TmuxServerId } from "./tmux_discover.ts";

/** A session-name target's parts: `aider`, `aider:editor`, `aider:1.2`. */
const PARTS_RE = /^([^:]+)(?::([^.]+)(?:\.(\d+))?)?$/;
/** How many windows or panes an error lists. */
const LISTED = 20;

/**
 * Refuses a target that names what its server does not have: a window (`aider:1`, by index or
 * exact name) or pane (`aider:1.2`) of a session that exists without it, or a pane id (`%3`) that
 * no pane of the server has, or on no server running. A session that does not exist is allowed
 * (the agent's pane may come later, or be revived), and so is any window or pane of it.
 *
 * @param panes the panes of the target's tmux server, as {@linkcode listTmuxPanes} lists them
 * @param where that server, for a person (`the tmux server of "/tmp/x.sock"`)
 * @returns for a pane id, the run of the server it belongs to; else undefined
 * @throws {CrosstalkError} `ERR_BODY_INVALID` saying what is missing and what there is
 */
export function checkTargetOnServer(
  target: string,
  panes: readonly TmuxPane[],
  where: string,
): TmuxServerId | undefined {
  const cannot = `Cannot register tmux target "${target}"`;
  if (target.startsWith("%")) {
    const pane = panes.find((p) => p.id === target);
    if (pane) return pane.server;
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      panes.length === 0
        ? `${cannot}: no tmux server runs on ${where}, and a pane id only names a pane of a running server`
        : `${cannot}: ${where} has no pane ${target} (panes: ${listed(panes.map((p) => p.id))})`,
    );
  }
  const [, session, window, index] = target.match(PARTS_RE) ?? [];
  const inSession = panes.filter((p) => p.session === session);
  if (window === undefined || inSession.length === 0) return undefined;
  // As tmux looks a window up: by its index first (`01` is 1), then by its exact name.
  const byIndex = /^\d+$/.test(window) ? inSession.filter((p) => p.window === Number(window)) : [];
  const inWindow = byIndex.length > 0 ? byIndex : inSession.filter((p) => p.windowName === window);
  const windows = (
    of: readonly TmuxPane[],
  ) => [...new Map(of.map((p) => [p.window, `${p.window} (${p.windowName})`])).values()];
  if (inWindow.length === 0 || windows(inWindow).length > 1) {
    // A name two windows have: tmux cannot tell which one is meant.
    const what = inWindow.length === 0 ? "no window" : "more than one window named";
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `${cannot}: tmux session "${session}" has ${what} ${window} (windows: ${
        listed(windows(inSession))
      })`,
    );
  }
  if (index !== undefined && !inWindow.some((p) => p.index === Number(index))) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `${cannot}: window ${window} of tmux session "${session}" has no pane ${index} (panes: ${
        listed(inWindow.map((p) => String(p.index)))
      })`,
    );
  }
  return undefined;
}

/**
 * Whether the pane tmux resolved a session-name target to is the one the target names: tmux
 * answers a window or pane the session does not have (closed since registration) with the
 * session's current one. Returns why not, or undefined when it is (or the target names no
 * window).
 *
 * @param found the resolved pane's window index, window name and pane index
 */
export function mismatchOf(
  target: string,
  found: { window: number; windowName: string; index: number },
): string | undefined {
  if (target.startsWith("%")) return undefined;
  const [, session, window, index] = target.match(PARTS_RE) ?? [];
  if (window === undefined) return undefined;
  // As tmux looks a window up: by its index first, then by its exact name.
  const sameWindow = (/^\d+$/.test(window) && Number(window) === found.window) ||
    window === found.windowName;
  if (!sameWindow) {
    return `tmux session "${session}" has no window ${window} now (tmux would type into its window ${found.window} (${found.windowName}))`;
  }
  if (index !== undefined && Number(index) !== found.index) {
    return `window ${window} of tmux session "${session}" has no pane ${index} now (tmux would type into its pane ${found.index})`;
  }
  return undefined;
}

function listed(items: string[]): string {
  return items.length > LISTED ? `${items.slice(0, LISTED).join(", ")}, …` : items.join(", ");
}

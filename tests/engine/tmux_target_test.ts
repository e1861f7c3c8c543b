// checkTargetOnServer against pane lists as listTmuxPanes gives them (the real tmux server cases
// are in tmux_agents_test.ts, through the API).
import assert from "node:assert/strict";
import { checkTargetOnServer } from "../../engine/tmux_target.ts";
import type { TmuxPane } from "../../engine/tmux_discover.ts";

const SERVER = { pid: 41, start_time: 1796625451 };
const WHERE = 'the tmux server of "/s"';

function pane(session: string, window: number, windowName: string, index: number, id: string) {
  const p: TmuxPane = {
    session,
    window,
    windowName,
    index,
    id,
    dead: false,
    socketPath: "/s",
    server: SERVER,
    command: "sh",
    tty: "/dev/pts/1",
    folder: "/",
  };
  return p;
}

Deno.test("checkTargetOnServer gives a pane id's server run, allows a session that is not there, and refuses a window name two windows have", () => {
  const panes = [
    pane("work", 0, "dup", 0, "%0"),
    pane("work", 3, "dup", 0, "%1"),
    pane("work", 7, "3", 0, "%2"),
  ];
  assert.deepEqual(checkTargetOnServer("%1", panes, WHERE), SERVER);
  assert.equal(checkTargetOnServer("work", panes, WHERE), undefined);
  assert.equal(checkTargetOnServer("later:4.2", panes, WHERE), undefined);
  // A number is a window's index first, as tmux looks it up: 3 is the second "dup", not "3".
  assert.equal(checkTargetOnServer("work:3.0", panes, WHERE), undefined);
  assert.equal(checkTargetOnServer("work:7", panes, WHERE), undefined);
  assert.throws(
    () => checkTargetOnServer("work:dup", panes, WHERE),
    /tmux session "work" has more than one window named dup \(windows: 0 \(dup\), 3 \(dup\), 7 \(3\)\)/,
  );
});

Deno.test("checkTargetOnServer lists at most 20 of the panes there are", () => {
  const panes = Array.from({ length: 25 }, (_, i) => pane("s", 0, "sh", i, `%${i}`));
  assert.throws(
    () => checkTargetOnServer("%99", panes, WHERE),
    (e: unknown) =>
      e instanceof Error && "code" in e && e.code === "ERR_BODY_INVALID" &&
      e.message.endsWith(
        "has no pane %99 (panes: %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, " +
          "%10, %11, %12, %13, %14, %15, %16, %17, %18, %19, …)",
      ),
  );
});

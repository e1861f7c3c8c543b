// `crosstalk watch --room`: the room's state (pure) and the real thing in a tmux pane.
import assert from "node:assert/strict";
import { Room } from "../../cli/room.ts";
import { cliEnv, MAIN, runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { TmuxServer } from "../_tmux.ts";
import { startTeam } from "./_live.ts";

const AGENT = {
  name: "alice",
  agent: "claude",
  model: "opus",
  role: "reviewer",
  machine: "a",
  host: "h",
  wake: "channel" as const,
  status: "available",
  owner: "boss",
  online: true,
  since: "",
  seen: "",
};

Deno.test("the room: a message makes its sender talk and its addressees listen for a while, a run keeps its model working until it ends, an agent gone is offline", () => {
  const room = new Room(1_000);
  room.peers({
    agents: [AGENT, { ...AGENT, name: "carol", online: false }],
    models: [{ model: "test/reply", machines: ["a"] }],
  });
  const at = "2026-12-07T10:00:00.000Z";
  room.event(
    { type: "message", data: { from: "alice", to: ["test/reply@a"], at } },
    "look\nhere",
    0,
  );
  room.event({ type: "claimed", data: { model: "test/reply" } }, undefined, 10);
  const mood = (name: string, now: number) => room.moodOf(room.desks.get(name)!, now);
  assert.equal(mood("alice", 500), "talking");
  assert.equal(mood("alice", 1_500), "idle", "talking fades");
  assert.equal(mood("test/reply", 60_000), "working", "a run holds until it ends");
  assert.equal(mood("carol", 0), "offline");
  room.event({ type: "replied", data: { model: "test/reply" } }, undefined, 70_000);
  assert.equal(mood("test/reply", 70_500), "idle");
  assert.deepEqual(room.feed, ["10:00:00 alice → test/reply: look here"]);

  const screen = room.render(500, { columns: 60, rows: 10 }, { title: "here", color: false });
  assert.ok(screen.length <= 10, screen.join("\n"));
  assert.ok(screen.every((line) => [...line].length <= 60), screen.join("\n"));
  assert.match(screen[0]!, /^crosstalk room · here · 1 agents online/);
  assert.match(screen.find((l) => l.includes("alice"))!, /● alice +talking → test\/reply/);
  assert.match(screen.find((l) => l.includes("carol"))!, /○ carol +offline/);
  assert.equal(screen.at(-1), "10:00:00 alice → test/reply: look here");
});

Deno.test("watch --room in a real terminal shows who talks to whom and the chat, and Ctrl-C ends it and gives the terminal back", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  await using tmux = new TmuxServer(home);
  const env = cliEnv({ home });
  const command = [Deno.execPath(), "run", "-A", "--quiet", MAIN, "watch", "--room"];
  const started = await new Deno.Command("tmux", {
    args: [
      ...["-S", tmux.socket, "-f", "/dev/null", "new-session", "-d", "-x", "110", "-y", "30"],
      ...["--", ...command, "--containername", "team"],
    ],
    env: { ...env, TERM: "xterm-256color" },
    clearEnv: true,
  }).output();
  assert.equal(started.code, 0, new TextDecoder().decode(started.stderr));
  await tmux.run("set-option", "-g", "remain-on-exit", "on");
  const screen = () => tmux.run("capture-pane", "-p", "-t", "0");
  await waitUntil(async () => (await screen()).includes("crosstalk room") || undefined, 30_000);

  const sent = await runCrosstalk(
    ["message", "send", "--to", "reply", "--containername", "team", "hello room"],
    { home },
  );
  assert.equal(sent.code, 0, sent.stderr);
  const shown = await waitUntil(async () => {
    const text = await screen();
    return text.includes("boss → test/reply: hello room") &&
        text.includes("test/reply → boss: reply from test/reply")
      ? text
      : undefined;
  }, 30_000);
  assert.match(shown, /◇ boss +(listening ← test\/reply|idle)/);
  assert.match(shown, /◆ test\/reply +(talking → boss|idle)/);
  assert.doesNotMatch(
    shown,
    /◇ reply /,
    "a model addressed by its bare name sits at its own desk",
  );

  // (tmux 3.3 does not always know a dead pane's exit status: the exit is what is checked.)
  await tmux.run("send-keys", "-t", "0", "C-c");
  await waitUntil(
    async () =>
      (await tmux.run("display", "-p", "-t", "0", "#{pane_dead}")).trim() === "1" ||
      undefined,
    15_000,
  );
  assert.doesNotMatch(await screen(), /crosstalk room/, "the alternate screen is gone");
});

Deno.test("watch --room refuses to draw where there is no terminal", async () => {
  await using dir = await tempDir();
  const out = await runCrosstalk(["watch", "--room"], { home: dir.path });
  assert.equal(out.code, 64);
  assert.match(out.stderr, /--room needs a terminal/);
});

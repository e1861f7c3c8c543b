// `crosstalk agent peers`: everyone the engine knows of, one row each, from a real engine with a
// live MCP session (`crosstalk mcp` under the SDK client), tmux panes registered on a real tmux
// server (one up, one whose pane does not exist), a model and its users.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { TmuxServer } from "../_tmux.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { addUserProfile, startTeam } from "./_live.ts";

function cli(home: string, ...args: string[]): Promise<CliResult> {
  return runCrosstalk([...args, "--containername", "team"], { home });
}

interface PeerAgent {
  name: string;
  kind?: string;
  agent: string;
  model?: string;
  role?: string;
  machine: string;
  cwd?: string;
  online: boolean;
  status: string;
}

interface Peers {
  agents: PeerAgent[];
  models: { model: string; machines: string[] }[];
  humans: string[];
}

/** `agent peers --json`, once `ready` accepts it. */
function peersWhen(home: string, ready: (p: Peers) => boolean, what: string): Promise<Peers> {
  return waitUntil(
    async () => {
      const r = await cli(home, "agent", "peers", "--json");
      assert.equal(r.code, 0, r.stderr);
      const peers = JSON.parse(r.stdout) as Peers;
      return ready(peers) && peers;
    },
    15_000,
    what,
  );
}

/** The row of `name` in the text table, split on its runs of two or more spaces. */
function rowOf(table: string, name: string): string[] {
  const line = table.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `a row for ${name} in:\n${table}`);
  return line.split(/ {2,}/);
}

Deno.test("agent peers lists live sessions and tmux panes with their state, then the models and the humans", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  await tmux.reader("aider", join(home, "typed.jsonl"));
  await using _engine = await startTeam(home);
  await addUserProfile(home, "ann");
  const session = (name: string, ...more: string[]) =>
    McpSession.start(home, [
      ...["--containername", "team", "--name", name, "--agent", "claude", "--wake", "pull"],
      ...more,
    ]);
  await using _reviewer = await session("reviewer", "--role", "review", "--model", "opus");
  {
    // A session that came and went: offline.
    await using _gone = await session("gone");
  }
  for (const [name, target] of [["typist", "aider"], ["ghost", "nosuchsession"]] as const) {
    const added = await cli(
      home,
      ...["agent", "add", name, "--tmux", target, "--socket", tmux.socket, "--agent", "aider"],
      ...["--role", "coder"],
    );
    assert.equal(added.code, 0, added.stderr);
  }

  const peers = await peersWhen(
    home,
    (p) =>
      p.agents.find((a) => a.name === "typist")?.online === true &&
      p.agents.find((a) => a.name === "gone")?.online === false,
    "typist online and gone offline",
  );
  assert.deepEqual(peers.agents.map((a) => a.name), ["ghost", "gone", "reviewer", "typist"]);
  assert.deepEqual(peers.models, [{ model: "test/reply", machines: ["a"] }]);
  assert.deepEqual(peers.humans, ["ann", "boss"]);

  const table = await cli(home, "agent", "peers");
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^NAME +KIND +AGENT +MODEL +ROLE +MACHINE +STATUS +FOLDER$/);
  assert.deepEqual(
    lines.slice(1).map((l) => l.split(" ")[0]),
    ["ghost", "gone", "reviewer", "typist", "test/reply", "ann", "boss"],
    "agents, then models, then humans",
  );
  assert.deepEqual(rowOf(table.stdout, "reviewer"), [
    "reviewer",
    "session",
    "claude",
    "opus",
    "review",
    "a",
    "online",
    home,
  ]);
  assert.deepEqual(rowOf(table.stdout, "gone").slice(0, 7), [
    "gone",
    "session",
    "claude",
    "-",
    "-",
    "a",
    "offline",
  ]);
  assert.deepEqual(rowOf(table.stdout, "typist").slice(0, 7), [
    "typist",
    "pane",
    "aider",
    "-",
    "coder",
    "a",
    "online",
  ]);
  assert.deepEqual(rowOf(table.stdout, "ghost").slice(0, 7), [
    "ghost",
    "pane",
    "aider",
    "-",
    "coder",
    "a",
    "offline",
  ]);
  assert.deepEqual(rowOf(table.stdout, "test/reply"), [
    "test/reply",
    "model",
    "-",
    "-",
    "-",
    "a",
    "online",
    "-",
  ]);
  assert.deepEqual(rowOf(table.stdout, "ann"), ["ann", "human", "-", "-", "-", "-", "-", "-"]);

  // Any user may ask, through a saved login (the global --profile), as the other commands.
  const asAnn = await runCrosstalk(["--profile", "ann", "agent", "peers"], { home });
  assert.equal(asAnn.code, 0, asAnn.stderr);
  assert.equal(asAnn.stdout, table.stdout);
});

Deno.test("agent peers without an engine says how to start one", async () => {
  await using dir = await tempDir();
  const r = await runCrosstalk(["agent", "peers", "--containername", "none"], { home: dir.path });
  assert.equal(r.code, 77);
  assert.match(r.stderr, /No engine to talk to: start one with "crosstalk serve"/);
});

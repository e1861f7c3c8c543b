import assert from "node:assert/strict";
import { join } from "node:path";
import {
  agentCliOf,
  ancestorsOf,
  carriesArgs,
  type LocalSession,
  localSession,
  nearestSession,
  recordLocalSession,
} from "../../engine/local_sessions.ts";
import { tempDir } from "../_helpers.ts";

/** A session's record: its ancestors, nearest first, and its agent CLI (default its parent). */
const session = (name: string, ancestors: number[], agent = ancestors[0]): LocalSession => ({
  name,
  pid: 1000 + ancestors[0]!,
  ancestors,
  ...(agent === undefined ? {} : { agent }),
});

Deno.test("nearestSession names the session whose agent CLI is the nearest ancestor, through shells and wrappers, and that agent CLI", () => {
  // Two Claude Code sessions (pids 10 and 20) in two shells (11, 21) under one tmux server (5).
  const ann = session("ann", [10, 11, 5]);
  const bob = session("bob", [20, 21, 5]);
  // Claude Code runs a hook through sh (99): sh, claude, shell, tmux.
  assert.deepEqual(nearestSession([99, 10, 11, 5], [ann, bob]), { session: ann, agentPid: 10 });
  assert.deepEqual(nearestSession([99, 20, 21, 5], [ann, bob]), { session: bob, agentPid: 20 });
  // A command of the Bash tool run by make (97) through a wrapper script (98) of crosstalk.
  assert.equal(nearestSession([98, 97, 99, 10, 11, 5], [ann, bob])?.session.name, "ann");
  // The server started through npx (30): its agent CLI (40) is its grandparent.
  const cy = session("cy", [30, 40, 41, 5], 40);
  assert.deepEqual(nearestSession([99, 40, 41, 5], [cy]), { session: cy, agentPid: 40 });
  // A record of an older crosstalk says no agent CLI: its parent is.
  const old: LocalSession = { name: "old", pid: 1050, ancestors: [50, 51] };
  assert.equal(nearestSession([99, 50, 51], [old])?.session.name, "old");
});

Deno.test("nearestSession names nobody for a process under no session's agent CLI, or under one with two", () => {
  const ann = session("ann", [10, 11, 5]);
  // Another Claude Code (30) in another shell (31) of the same tmux: they meet only at tmux.
  assert.equal(nearestSession([99, 30, 31, 5], [ann]), undefined);
  // A Claude Code that tmux (5) started itself, with no shell between: a person's shell in another
  // pane of that tmux (60) is no part of its session, though tmux is both one's parent and the
  // session's grandparent.
  const dee = session("dee", [40, 5]);
  assert.equal(nearestSession([60, 5], [dee]), undefined);
  // The shell (11) that started ann's Claude Code is not its agent CLI either.
  assert.equal(nearestSession([11, 5], [ann]), undefined);
  // Two servers of one agent CLI: which one asks cannot be told.
  assert.equal(nearestSession([99, 10, 11], [ann, session("ann2", [10, 11, 5])]), undefined);
  assert.equal(nearestSession([], [ann]), undefined);
});

Deno.test("carriesArgs tells a wrapper's command line, which carries the server's arguments, from an agent CLI's", () => {
  const args = ["mcp", "--name", "ann", "--role", "code review"];
  // npx as its process title shows it, or as node runs it; sh -c with the command as one word.
  assert.ok(carriesArgs(["npm exec crosstalk mcp --name ann --role code review"], args));
  assert.ok(
    carriesArgs(
      ["node", "/usr/lib/npx-cli.js", "crosstalk", ...args.slice(0, 4), "code review"],
      args,
    ),
  );
  assert.ok(carriesArgs(["sh", "-c", `crosstalk mcp --name 'ann' --role "code review"`], args));
  // Agent CLIs: their servers' command lines come from their configuration, or as one JSON word.
  assert.ok(!carriesArgs(["claude"], args));
  assert.ok(!carriesArgs(["claude", "--mcp-config", JSON.stringify({ args })], args));
  assert.ok(
    !carriesArgs(["codex", "-c", `mcp_servers.crosstalk.args=${JSON.stringify(args)}`], args),
  );
  assert.ok(!carriesArgs(["claude", "mcp", "--name", "bob"], args), "only all of them count");
  assert.ok(!carriesArgs(["tmux", "new-session"], []), "no arguments: nothing to carry");
});

Deno.test("agentCliOf takes the parent for the agent CLI, or the nearest ancestor past the wrappers that run the server", async () => {
  const args = ["sleep", "30"];
  // Shells that were given the server's command line: wrappers.
  const wrappers = [1, 2].map(() =>
    new Deno.Command("sh", { args: ["-c", "sleep 30; exit $?"] }).spawn()
  );
  // A shell that reads it from its environment, as an agent CLI reads its configuration.
  const agent = new Deno.Command("sh", {
    args: ["-c", 'eval "$SERVER"; exit $?'],
    env: { SERVER: "sleep 30" },
  }).spawn();
  const [npx, shim] = wrappers.map((w) => w.pid) as [number, number];
  try {
    assert.equal(await agentCliOf([npx, Deno.pid, Deno.ppid], args), Deno.pid);
    assert.equal(await agentCliOf([shim, npx, Deno.pid, Deno.ppid], args), Deno.pid);
    assert.equal(await agentCliOf([agent.pid, Deno.pid, Deno.ppid], args), agent.pid);
    assert.equal(await agentCliOf([shim, npx], args), npx, "nothing above: the farthest");
    assert.equal(await agentCliOf([], args), undefined);
  } finally {
    for (const child of [...wrappers, agent]) {
      child.kill();
      await child.status;
    }
  }
});

Deno.test("ancestorsOf starts at the parent and goes up the tree", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const chain = await ancestorsOf(child.pid);
    assert.equal(chain[0], Deno.pid);
    assert.deepEqual(chain.slice(1), await ancestorsOf(Deno.pid));
    assert.ok(!chain.includes(1), "pid 1 is where every tree ends, never an agent CLI");
  } finally {
    child.kill();
    await child.status;
  }
});

Deno.test("a recorded session is found by a process under the same parent until it is removed; a dead one's record goes", async () => {
  await using dir = await tempDir();
  const forget = await recordLocalSession(dir.path, "ann");
  // This process stands for the hook here: the session and it share their parent.
  const found = await localSession(dir.path);
  assert.equal(found?.session.name, "ann");
  assert.equal(found?.session.pid, Deno.pid);
  assert.equal(found?.agentPid, Deno.ppid);
  // A child of this process is one step farther from the shared parent: still within reach.
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    assert.equal((await localSession(dir.path, child.pid))?.agentPid, Deno.ppid);
  } finally {
    child.kill();
    await child.status;
  }
  await forget();
  assert.equal(await localSession(dir.path), undefined);

  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const stale = join(dir.path, "sessions", `${gone.pid}.json`);
  await Deno.writeTextFile(
    stale,
    JSON.stringify({ name: "old", pid: gone.pid, ancestors: await ancestorsOf(Deno.pid) }),
  );
  assert.equal(await localSession(dir.path), undefined);
  await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
});

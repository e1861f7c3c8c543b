import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ancestorsOf,
  type LocalSession,
  localSessionName,
  nearestSession,
  recordLocalSession,
} from "../../engine/local_sessions.ts";
import { tempDir } from "../_helpers.ts";

const session = (name: string, ...ancestors: number[]): LocalSession => ({
  name,
  pid: 1000 + ancestors[0]!,
  ancestors,
});

Deno.test("nearestSession names the session whose agent CLI is the hook's, through a shell or a wrapper", () => {
  // Two Claude Code sessions (pids 10 and 20) in two shells (11, 21) under one tmux server (5).
  const ann = session("ann", 10, 11, 5);
  const bob = session("bob", 20, 21, 5);
  // Claude Code runs a hook through sh (99): sh, claude, shell, tmux.
  assert.equal(nearestSession([99, 10, 11, 5], [ann, bob]), "ann");
  assert.equal(nearestSession([99, 20, 21, 5], [ann, bob]), "bob");
  // The server started through npx (30): the agent CLI is its grandparent.
  assert.equal(nearestSession([99, 40, 41, 5], [session("cy", 30, 40, 41, 5)]), "cy");
});

Deno.test("nearestSession names nobody for an agent CLI without a session, or one with two", () => {
  const ann = session("ann", 10, 11, 5);
  // Another Claude Code (30) in another shell (31) of the same tmux: they meet only at tmux.
  assert.equal(nearestSession([99, 30, 31, 5], [ann]), undefined);
  // Two servers of one agent CLI: which one asks cannot be told.
  assert.equal(nearestSession([99, 10, 11], [ann, session("ann2", 10, 11, 5)]), undefined);
  // Far up the hook's tree (past a shell, the agent CLI and one more) does not count.
  assert.equal(nearestSession([98, 97, 96, 10], [ann]), undefined);
  assert.equal(nearestSession([], [ann]), undefined);
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
  assert.equal(await localSessionName(dir.path), "ann");
  await forget();
  assert.equal(await localSessionName(dir.path), undefined);

  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const stale = join(dir.path, "sessions", `${gone.pid}.json`);
  await Deno.writeTextFile(
    stale,
    JSON.stringify({ name: "old", pid: gone.pid, ancestors: await ancestorsOf(Deno.pid) }),
  );
  assert.equal(await localSessionName(dir.path), undefined);
  await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
});

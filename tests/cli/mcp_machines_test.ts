// Live agents on two machines (two clones of one bare git remote, an engine on each): peers across
// machines, a message from one machine's agent to the other's, and a task-claim race between
// sessions on the two engines that exactly one wins.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { AGENTS, network } from "../engine/_harness.ts";
import { twoMachines } from "./_live.ts";

const REF = /^sent (\S+)$/;

Deno.test("live agents on two machines see each other, talk, and race for a task: exactly one claim wins", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { roots } = await network(
    home,
    ["a", "b"],
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  const machines = await twoMachines(home, { a: roots.a!, b: roots.b! });
  await using _a = machines.a;
  await using b = machines.b;
  const session = machines.session;
  await using ann = await session("a", "ann");
  await using ben = await session("b", "ben");

  // ann (on a) writes to everyone at once, before her presence can have reached b: ben (on b)
  // is still woken by a channel notification, as soon as b learns who ann is.
  const ref = REF.exec(await ann.call("send", { to: "all", message: "who runs the migration?" }))![
    1
  ]!;
  await ben.notification(
    (n) => (n.params.meta as Record<string, string> | undefined)?.message_id === ref,
    20_000,
  ).catch((error) => {
    console.log(b.stderrText.split("\n").filter((l) => /live|message\.new/.test(l)).join("\n"));
    throw error;
  });

  // Presence carries the live agents across machines (no commit per heartbeat).
  await waitUntil(async () => /ben: claude on b, available/.test(await ann.call("peers")), 20_000);
  await waitUntil(async () => /ann: claude on a, available/.test(await ben.call("peers")), 20_000);
  assert.match(await ben.call("read"), /who runs the migration\?/);

  // ann flags it; once the flag reached b, both claim at the same moment.
  await ann.call("task", { action: "flag", message: ref });
  await waitUntil(async () => {
    const r = await runCrosstalk(["message", "status", ref, "--path", roots.b!, "--json"], {
      home,
    });
    return r.code === 0 && JSON.parse(r.stdout).task?.state === "open";
  }, 20_000);
  const claims = await Promise.all([
    ann.client.callTool({ name: "task", arguments: { action: "claim", message: ref } }),
    ben.client.callTool({ name: "task", arguments: { action: "claim", message: ref } }),
  ]) as { content: { text: string }[]; isError?: boolean }[];
  const won = claims.filter((c) => !c.isError);
  const lost = claims.filter((c) => c.isError);
  assert.equal(won.length, 1, claims.map((c) => c.content[0]!.text).join(" | "));
  assert.equal(lost.length, 1);
  const winner = /claimed by (\w+)/.exec(won[0]!.content[0]!.text)![1]!;
  assert.match(lost[0]!.content[0]!.text, new RegExp(`claimed by "${winner}" first`));

  // Both machines end up agreeing on the claimant.
  for (const root of [roots.a!, roots.b!]) {
    await waitUntil(async () => {
      const r = await runCrosstalk(["message", "status", ref, "--path", root, "--json"], { home });
      return JSON.parse(r.stdout).task?.claimedBy === winner;
    }, 20_000);
  }
});

// ClaimStore on a local folder: the lease generations of one claim, as takeovers leave them.
import assert from "node:assert/strict";
import { ClaimStore, LocalTransport, scaffoldTransport } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

const slow = { alias: "a", host: "h", pid: 1, instance: "slow" };
const rescuer = { alias: "b", host: "h", pid: 2, instance: "rescuer" };

/** A local transport in `root` with one message, and the claim of `model` on it. */
async function claimable(root: string, model: string) {
  await scaffoldTransport(root, { kind: "local" });
  const transport = new LocalTransport(root);
  const channel = (await transport.listChannels())[0]!.id;
  const message = await transport.writeMessage(channel, {
    from: "tester",
    to: [model.split("/")[1]!],
    timestamp: new Date().toISOString(),
    body: "x",
  });
  return { claims: new ClaimStore(root), key: { channel, id: message.id, model } };
}

Deno.test("ClaimStore sees a claim whose first generation is gone (its slow holder closed it after a takeover), and closes it whole", async () => {
  await using dir = await tempDir();
  const { claims, key } = await claimable(dir.path, "test/echo");
  assert.equal(await claims.acquire(key, slow), 1);
  assert.equal(await claims.takeOver(key, await claims.lease(key), rescuer), 2);
  // The slow holder finished first, wrote its reply and closed the generation it knew of.
  const ownClose = (await claims.closing([key]))!;
  assert.equal(ownClose.paths.length, 2, "closing takes every generation there is");
  await Deno.remove(`${claims.openDir}/${ownClose.paths[0]!.split("/").at(-1)}`);
  const lease = await claims.lease(key);
  assert.equal(lease?.generation, 2, "the newest lease is still seen across the gap");
  assert.equal(lease?.holder?.instance, "rescuer");
  assert.equal(await claims.renew(key, 1), false, "the slow holder's lease is over");
  assert.equal(await claims.renew(key, 2), true);
  assert.equal((await claims.listOpen()).length, 1);
  await claims.closeAll([key]);
  assert.deepEqual(await claims.listOpen(), [], "nothing stays open");
  assert.equal(await claims.lease(key), undefined);
});

Deno.test("ClaimStore keeps a claim's milestones for its next holder, past its close; the claim's states do not count them as claims", async () => {
  await using dir = await tempDir();
  const { claims, key } = await claimable(dir.path, "crosstalk/workflow");
  await claims.acquire(key, slow);
  assert.equal(await claims.marked(key, "started"), false);
  await claims.mark(key, "started");
  await claims.mark(key, "started"); // made once, the second is a no-op
  assert.equal(await claims.marked(key, "started"), true);
  assert.equal(await claims.marked({ ...key, model: "test/echo" }, "started"), false);
  await claims.close(key);
  assert.equal(await claims.marked(key, "started"), true, "kept past the close");
  const states = await claims.states(key);
  assert.deepEqual(states.map((s) => s.key.model), [], "a milestone is not a claim");
  assert.throws(() => claims.marked(key, "done"), /milestone/);
  assert.throws(() => claims.marked(key, "../x"), /milestone/);
});

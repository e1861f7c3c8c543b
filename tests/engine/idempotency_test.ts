import assert from "node:assert/strict";
import { IdempotencyStore, type KeyedSend } from "../../engine/idempotency.ts";
import { tempDir } from "../_helpers.ts";

const CHANNEL = "0b7c5a52-3f1e-4c55-9a86-1d2e3f405162";

/** A bus in memory: the messages written, by id; sends counted. */
function fakeBus() {
  const written = new Map<string, { channel: string; id: string }>();
  let n = 0;
  let sends = 0;
  const wrote = Promise.withResolvers<void>();
  const how = (options: { stopAfterWrite?: boolean; fail?: boolean } = {}): KeyedSend<
    { channel: string; id: string }
  > => ({
    newId: () => `2026/12/07/2100000${String(n++).padStart(2, "0")}Z-9f3a01bc.md`,
    send: (id) => {
      sends++;
      if (options.fail) return Promise.reject(new Error("the disk is full"));
      const message = { channel: CHANNEL, id };
      written.set(id, message);
      wrote.resolve();
      // An engine killed between the write and its answer: the answer never comes.
      if (options.stopAfterWrite) return new Promise(() => {});
      return Promise.resolve(message);
    },
    find: (id) => Promise.resolve(written.get(id)),
  });
  return { written, how, sends: () => sends, wrote: wrote.promise };
}

Deno.test("a retried send returns the first message, after a restart too, and keys are per sender", async () => {
  await using dir = await tempDir();
  const bus = fakeBus();
  const first = await IdempotencyStore.open(dir.path);
  const sent = await first.once("ann", "retry\t1\nweird", "f", bus.how());
  assert.equal(sent.first, true);
  const again = await first.once("ann", "retry\t1\nweird", "f", bus.how());
  assert.deepEqual(again, {
    first: false,
    ref: sent.first && { channel: CHANNEL, id: sent.message.id },
  });
  first.close();

  using restarted = await IdempotencyStore.open(dir.path);
  const retry = await restarted.once("ann", "retry\t1\nweird", "f", bus.how());
  assert.equal(retry.first, false);
  assert.equal(!retry.first && retry.ref.id, sent.first && sent.message.id);
  assert.equal(bus.sends(), 1);
  const bobs = await restarted.once("bob", "retry\t1\nweird", "f", bus.how());
  assert.equal(bobs.first, true, "another sender's key is another key");
  assert.equal(bus.sends(), 2);
});

Deno.test("an engine killed after writing a keyed message and before answering: the restarted engine answers the retry with that message, and writes no second", async () => {
  await using dir = await tempDir();
  const bus = fakeBus();
  const killed = await IdempotencyStore.open(dir.path);
  const never = killed.once("ann", "k", "f", bus.how({ stopAfterWrite: true }));
  // The write happened; the engine dies before its answer.
  await bus.wrote;
  killed.close();
  void never;

  using restarted = await IdempotencyStore.open(dir.path);
  const retry = await restarted.once("ann", "k", "f", bus.how());
  assert.equal(retry.first, false, "the retry gets the message written before the crash");
  assert.deepEqual(!retry.first && retry.ref, [...bus.written.values()][0]);
  assert.equal(bus.written.size, 1, "no second message");
  assert.equal(bus.sends(), 1);
});

Deno.test("a keyed send that failed, or that a crash stopped before its write, is sent by the retry, after a restart too", async () => {
  await using dir = await tempDir();
  const bus = fakeBus();
  const store = await IdempotencyStore.open(dir.path);
  await assert.rejects(store.once("ann", "k", "f", bus.how({ fail: true })), /disk is full/);
  const retry = await store.once("ann", "k", "f", bus.how());
  assert.equal(retry.first, true);
  // Recorded, then the engine died before the write: the restarted one finds no message.
  await assert.rejects(store.once("ann", "k2", "f", bus.how({ fail: true })));
  store.close();
  using restarted = await IdempotencyStore.open(dir.path);
  const late = await restarted.once("ann", "k2", "f", bus.how());
  assert.equal(late.first, true);
  assert.equal(bus.written.size, 2);
});

Deno.test("concurrent sends with one key write one message; the key reused for another request is refused, after a restart too", async () => {
  await using dir = await tempDir();
  const bus = fakeBus();
  const store = await IdempotencyStore.open(dir.path);
  const results = await Promise.all([1, 2, 3].map(() => store.once("ann", "k", "f", bus.how())));
  assert.equal(results.filter((r) => r.first).length, 1);
  assert.equal(bus.written.size, 1);
  await assert.rejects(store.once("ann", "k", "other", bus.how()), /already used/);
  store.close();
  using restarted = await IdempotencyStore.open(dir.path);
  await assert.rejects(restarted.once("ann", "k", "other", bus.how()), /already used/);
  assert.equal(bus.written.size, 1);
});

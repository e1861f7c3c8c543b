// BusWatcher with a real OS watcher, and with one that fails the way inotify can (a queue
// overflow, a watch limit reached).
import assert from "node:assert/strict";
import { join } from "node:path";
import { BusWatcher, type WatchBatch } from "../../transports/watcher.ts";
import { tempDir, waitUntil } from "../_helpers.ts";

/** An OS watcher whose events end in `error` at once. */
function failingWatcher(error: Error): Deno.FsWatcher {
  return {
    close() {},
    [Symbol.dispose]() {},
    [Symbol.asyncIterator]() {
      return { next: () => Promise.reject(error) };
    },
  } as unknown as Deno.FsWatcher;
}

Deno.test("a BusWatcher whose OS watcher fails makes a new one, rescans, and then sees changes as events again", async () => {
  await using dir = await tempDir();
  const errors: unknown[] = [];
  const batches: WatchBatch[] = [];
  let made = 0;
  const watcher = new BusWatcher(dir.path, (batch) => {
    batches.push(batch);
    return Promise.resolve();
  }, {
    mode: "events",
    pollIntervalMs: 0,
    onError: (error) => errors.push(error),
    watchFs: (root) =>
      ++made === 1
        ? failingWatcher(new Error("inotify event queue overflowed"))
        : Deno.watchFs(root, { recursive: true }),
  });
  await using _watching = watcher;
  watcher.start();
  await waitUntil(() => made === 2 && batches.some((b) => b.rescan), 5_000, "a new OS watcher");
  assert.match(String(errors[0]), /queue overflowed/, "the failure is reported");
  const path = join(dir.path, "after-the-failure.md");
  await Deno.writeTextFile(path, "seen");
  await waitUntil(() => batches.some((b) => b.paths.has(path)), 5_000, "an event for the file");
});

Deno.test("a BusWatcher that cannot make its OS watcher again keeps trying, and closing it ends the pause before the next try", async () => {
  await using dir = await tempDir();
  const errors: unknown[] = [];
  let made = 0;
  const watcher = new BusWatcher(dir.path, () => Promise.resolve(), {
    mode: "events",
    pollIntervalMs: 0,
    onError: (error) => errors.push(error),
    watchFs: () => {
      if (++made === 1) return failingWatcher(new Error("watch failed"));
      throw new Deno.errors.NotFound("the folder is gone");
    },
  });
  watcher.start();
  await waitUntil(() => made >= 3, 5_000, "tries again");
  assert.ok(errors.some((e) => e instanceof Deno.errors.NotFound), String(errors));
  // close ends the pause before the next try: the test's timer sanitizer fails on one left.
  await watcher.close();
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { Cursor, LATE_WINDOW_MS } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

const channel = "0b7c5a52-3f1e-4c55-9a86-1d2e3f405162";

Deno.test("Cursor remembers handled messages across a restart", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "cursor");
  const a = { channel, id: "2026/11/22/031522123Z-00000001.md" };
  const b = { channel, id: "2026/11/22/031522124Z-00000002.md" };
  {
    await using cursor = await Cursor.open(path);
    await cursor.mark([a]);
    assert.equal(cursor.has(a), true);
    assert.equal(cursor.has(b), false);
  }
  await using reopened = await Cursor.open(path);
  assert.equal(reopened.has(a), true);
  assert.equal(reopened.has(b), false);
  assert.equal(reopened.isNew(b), true);
});

Deno.test("Cursor ignores a torn last line, so a crash mid-append repeats and never loses", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "cursor");
  const a = { channel, id: "2026/11/22/031522123Z-00000001.md" };
  {
    await using cursor = await Cursor.open(path);
    await cursor.mark([a]);
  }
  await Deno.writeTextFile(path, `${channel} 2026/11/22/0315`, { append: true });
  await using reopened = await Cursor.open(path);
  assert.equal(reopened.has(a), true);
  assert.equal(reopened.size, 1);
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"), "the torn line is dropped on load");
});

Deno.test("Cursor compaction forgets old ids but still sees an old-named file that arrives late", async () => {
  await using dir = await tempDir();
  let now = Date.parse("2026-11-22T12:00:00.000Z");
  await using cursor = await Cursor.open(join(dir.path, "cursor"), { now: () => now });
  const old = { channel, id: "2026/11/22/080000000Z-00000001.md" };
  await cursor.mark([old]);
  now += 3 * LATE_WINDOW_MS;
  await cursor.compact();
  assert.equal(cursor.has(old), false, "forgotten after compaction");
  assert.ok(cursor.horizon! > old.id);
  const changedLongAgo = () => Promise.resolve(now - 5 * LATE_WINDOW_MS);
  const changedJustNow = () => Promise.resolve(now + 1000);
  assert.equal(await cursor.isNew(old, changedLongAgo), false, "an old file is not new again");
  const late = { channel, id: "2026/11/22/070000000Z-00000002.md" };
  assert.equal(await cursor.isNew(late, changedJustNow), true, "a late arrival is new");
  await cursor.mark([late]);
  assert.equal(await cursor.isNew(late, changedJustNow), false, "and handled once");
});

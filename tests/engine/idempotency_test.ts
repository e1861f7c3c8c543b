import assert from "node:assert/strict";
import { IdempotencyStore } from "../../engine/idempotency.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("IdempotencyStore remembers a sender's key across a restart, per sender", async () => {
  await using dir = await tempDir();
  const ref = {
    channel: "0b7c5a52-3f1e-4c55-9a86-1d2e3f405162",
    id: "2026/11/22/031522123Z-9f3a01bc.md",
  };
  const first = await IdempotencyStore.open(dir.path);
  await first.set("ann", "retry\t1\nweird", ref);
  first.close();
  const again = await IdempotencyStore.open(dir.path);
  try {
    assert.deepEqual(again.get("ann", "retry\t1\nweird"), ref);
    assert.equal(again.get("bob", "retry\t1\nweird"), undefined, "keys are scoped to their sender");
    assert.equal(again.get("ann", "other"), undefined);
  } finally {
    again.close();
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  AnnotationStore,
  LocalTransport,
  type MessageFields,
  scaffoldTransport,
} from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

const fields = (body: string): MessageFields => ({
  from: "steve",
  to: ["sonnet"],
  timestamp: "2026-12-07T10:15:22.123Z",
  body,
});

async function withMessages(
  fn: (
    store: AnnotationStore,
    refs: { channel: string; id: string }[],
    day: string,
  ) => Promise<void>,
) {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "local" });
  const transport = new LocalTransport(dir.path);
  const channel = await transport.createChannel({ name: "work" });
  const refs = [];
  for (const body of ["one", "two"]) {
    refs.push({
      channel: channel.id,
      id: (await transport.writeMessage(channel.id, fields(body))).id,
    });
  }
  const day = join(dir.path, "data", "annotations", channel.id, "2026", "12", "07");
  await fn(new AnnotationStore(dir.path), refs, day);
}

const stem = (id: string) => id.split("/").at(-1)!.slice(0, -".md".length);

Deno.test("AnnotationStore keeps receipts in the day's receipts folder, apart from tasks and badges", async () => {
  await withMessages(async (store, [first, second], day) => {
    await store.receipt(first!, "woken", "alice", { at: "t1" });
    await store.receipt(first!, "read", "alice", { at: "t2" });
    await store.receipt(second!, "unwoken", "bob", { at: "t3", detail: "no pane" });
    await store.add(second!, "badge", { type: "ok", by: "carol" });
    await store.createExclusive(first!, "task", { by: "carol" });

    const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(
      names(join(day, "receipts")),
      [
        `${stem(first!.id)}~read~alice.json`,
        `${stem(first!.id)}~woken~alice.json`,
        `${stem(second!.id)}~unwoken~bob.json`,
      ].sort(),
    );
    const records = names(day).filter((name) => name !== "receipts");
    assert.equal(records.length, 2, "the badge and the task, nothing else");
    assert.ok(records.every((name) => !/~(woken|read|unwoken)~/.test(name)));

    const [onFirst, onSecond] = await store.listMany([first!, second!]);
    assert.deepEqual(onFirst!.map((a) => `${a.kind}:${a.agent ?? ""}`).sort(), [
      "read:alice",
      "task:",
      "woken:alice",
    ]);
    assert.deepEqual(onSecond!.map((a) => `${a.kind}:${a.agent ?? ""}`).sort(), [
      "badge:",
      "unwoken:bob",
    ]);
    const notes = await store.listMany([first!, second!], { kinds: ["task", "badge"] });
    assert.deepEqual(notes.map((records) => records.map((a) => a.kind)), [["task"], ["badge"]]);
  });
});

Deno.test("AnnotationStore reads and removes the receipts earlier engines wrote beside the other records", async () => {
  await withMessages(async (store, [first], day) => {
    // As an earlier engine wrote a read receipt: in the day's folder itself.
    const legacy = join(day, `${stem(first!.id)}~read~alice.json`);
    await Deno.mkdir(day, { recursive: true });
    await Deno.writeTextFile(legacy, `${JSON.stringify({ at: "old" })}\n`);
    await store.receipt(first!, "woken", "alice", { at: "new" });

    const kinds = async () => (await store.list(first!)).map((a) => a.kind).sort();
    assert.deepEqual(await kinds(), ["read", "woken"]);
    assert.deepEqual(
      (await store.listMany([first!], { kinds: ["badge"] }))[0],
      [],
      "a legacy receipt is no badge",
    );

    // A read given back: gone from both places.
    await store.receipt(first!, "read", "alice", { at: "new" });
    await store.removeReceipt(first!, "read", "alice");
    assert.deepEqual(await kinds(), ["woken"]);
    await assert.rejects(Deno.stat(legacy), Deno.errors.NotFound);
  });
});

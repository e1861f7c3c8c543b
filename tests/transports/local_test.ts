import assert from "node:assert/strict";
import { join } from "node:path";
import { CrosstalkError, InvalidDocumentError } from "../../schema/errors.ts";
import {
  AnnotationStore,
  ClaimStore,
  LocalTransport,
  type MessageFields,
  scaffoldTransport,
} from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

const fields = (body: string, extra: Partial<MessageFields> = {}): MessageFields => ({
  from: "steve",
  to: ["sonnet"],
  timestamp: "2026-11-22T03:15:22.123Z",
  body,
  ...extra,
});

async function withTransport(fn: (t: LocalTransport, root: string) => Promise<void>) {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "local" });
  await fn(new LocalTransport(dir.path), dir.path);
}

Deno.test("LocalTransport writes a message under its timestamp's name and reads it back", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "work" });
    const written = await t.writeMessage(channel.id, fields("hello\n\n"));
    assert.match(written.id, /^2026\/11\/22\/031522123Z-[0-9a-f]{8}\.md$/);
    const read = await t.readMessage(channel.id, written.id);
    assert.deepEqual(read, { ...fields("hello"), channel: channel.id, id: written.id });
    const names = [...Deno.readDirSync(join(t.channelsDir, channel.id, "2026/11/22"))].map((e) =>
      e.name
    );
    assert.deepEqual(names, [written.id.split("/").at(-1)], "no temp file is left behind");
  });
});

Deno.test("LocalTransport lists a channel's ids in time order, after since, up to limit", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "work" });
    const times = [
      "2026-01-02T00:00:00.000Z",
      "2025-12-31T23:59:59.999Z",
      "2026-01-01T10:00:00.000Z",
    ];
    const ids = [];
    for (const timestamp of times) {
      ids.push((await t.writeMessage(channel.id, fields("x", { timestamp }))).id);
    }
    const sorted = [...ids].sort();
    assert.deepEqual(await t.listMessageIds(channel.id), sorted);
    assert.deepEqual(await t.listMessageIds(channel.id, { since: sorted[0]! }), sorted.slice(1));
    assert.deepEqual(await t.listMessageIds(channel.id, { since: sorted[0]!, limit: 1 }), [
      sorted[1],
    ]);
    assert.deepEqual(await t.listMessageIds(channel.id, { since: sorted[2]! }), []);
  });
});

Deno.test("LocalTransport never overwrites a message that already has the id", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "work" });
    const first = await t.writeMessage(channel.id, fields("first"));
    await assert.rejects(
      () => t.writeMessage(channel.id, fields("second"), { id: first.id }),
      Deno.errors.AlreadyExists,
    );
    assert.equal((await t.readMessage(channel.id, first.id)).body, "first");
  });
});

Deno.test("LocalTransport refuses bodies over the limit and writes nothing", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "work" });
    await assert.rejects(
      () => t.writeMessage(channel.id, fields("x".repeat(101)), { maxBodyBytes: 100 }),
      (e: unknown) => e instanceof CrosstalkError && e.code === "ERR_MESSAGE_TOO_LARGE",
    );
    assert.deepEqual(await t.listMessageIds(channel.id), []);
  });
});

Deno.test("LocalTransport rejects ids and channels that would leave the channels folder", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "work" });
    for (const id of ["../../../CROSSTALK-VERSION", "2026/11/22/../../x.md", "/etc/passwd"]) {
      await assert.rejects(
        () => t.readMessage(channel.id, id),
        (e: unknown) => e instanceof CrosstalkError && e.code === "ERR_ID_INVALID",
      );
    }
    await assert.rejects(
      () => t.writeMessage("../data", fields("x")),
      (e: unknown) => e instanceof CrosstalkError && e.code === "ERR_ID_INVALID",
    );
  });
});

Deno.test("LocalTransport reports an invalid message file with its position", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "work" });
    const id = "2026/11/22/031522123Z-0000abcd.md";
    await Deno.mkdir(join(t.channelsDir, channel.id, "2026/11/22"), { recursive: true });
    await Deno.writeTextFile(
      join(t.channelsDir, channel.id, id),
      "---\nfrom: steve\ntimestamp: 2026-11-22T03:15:22.123Z\n---\nno to\n",
    );
    await assert.rejects(() => t.readMessage(channel.id, id), (e: unknown) => {
      assert.ok(e instanceof InvalidDocumentError);
      assert.equal(e.code, "ERR_MESSAGE_INVALID");
      assert.equal(e.problems[0]?.path, "to");
      assert.match(e.message, /to is required/);
      return true;
    });
  });
});

Deno.test("LocalTransport creates, renames and deletes channels", async () => {
  await withTransport(async (t) => {
    const before = (await t.listChannels()).length;
    const parent = await t.createChannel({ name: "parent" });
    const child = await t.createChannel({ name: "child", parent: parent.id });
    assert.equal((await t.getChannel(child.id)).parent, parent.id);
    await t.updateChannel({ ...child, name: "renamed" });
    assert.equal((await t.getChannel(child.id)).name, "renamed");
    await t.deleteChannel(child.id);
    await assert.rejects(
      () => t.getChannel(child.id),
      (e: unknown) => e instanceof CrosstalkError && e.code === "ERR_CHANNEL_NOT_FOUND",
    );
    assert.equal((await t.listChannels()).length, before + 1);
  });
});

Deno.test("LocalTransport finishes a channel whose creation a crash cut short after its folder; a channel of that id made whole is refused, and of two racing creations one wins", async () => {
  await withTransport(async (t) => {
    const id = "6a2c1f10-8d1e-4c55-9a86-1d2e3f405162";
    // Killed between the folder and its CHANNEL.md.
    await Deno.mkdir(join(t.channelsDir, id));
    const made = await t.createChannel({ id, name: "child-of-a-workflow" });
    assert.equal((await t.getChannel(id)).name, made.name);
    await assert.rejects(
      () => t.createChannel({ id, name: "again" }),
      (e: unknown) => e instanceof CrosstalkError && e.code === "ERR_CHANNEL_EXISTS",
    );
    assert.equal((await t.getChannel(id)).name, "child-of-a-workflow", "the first one stands");

    const raced = "7b3d2a21-9e2f-4d66-8b97-2e3f40516273";
    const results = await Promise.allSettled(
      ["one", "two", "three"].map((name) => t.createChannel({ id: raced, name })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1, "exactly one creation wins");
    const winner = (won[0] as PromiseFulfilledResult<{ name: string }>).value.name;
    assert.equal((await t.getChannel(raced)).name, winner);
    for (const r of results.filter((r) => r.status === "rejected")) {
      assert.equal(
        ((r as PromiseRejectedResult).reason as CrosstalkError).code,
        "ERR_CHANNEL_EXISTS",
      );
    }
  });
});

const holder = { alias: "a", host: "h", pid: 1, instance: "i" };

Deno.test("LocalTransport deletes a channel with its receipts, claims and open leases, and late records do not bring them back", async () => {
  await withTransport(async (t, root) => {
    const keep = await t.createChannel({ name: "keep" });
    const doomed = await t.createChannel({ name: "doomed" });
    const claims = new ClaimStore(root);
    const annotations = new AnnotationStore(root);
    const kept = await t.writeMessage(keep.id, fields("stays"));
    const done = await t.writeMessage(doomed.id, fields("answered"));
    const running = await t.writeMessage(doomed.id, fields("still running"));
    for (
      const [channel, m] of [[keep.id, kept], [doomed.id, done], [doomed.id, running]] as const
    ) {
      const key = { channel, id: m.id, model: "test/echo" };
      assert.equal(await claims.acquire(key, holder), 1);
      await annotations.receipt(key, "read", "agent", { at: "now" });
    }
    const doneKey = { channel: doomed.id, id: done.id, model: "test/echo" };
    await claims.finish(doneKey, { status: "empty", holder, at: "now" });
    await claims.close(doneKey);
    const names = (dir: string) => [...Deno.readDirSync(join(root, dir))].map((e) => e.name);
    await t.deleteChannel(doomed.id);
    assert.deepEqual(names("data/annotations"), [keep.id]);
    assert.deepEqual(names("data/claims"), ["open"], "no finished claim of the other channel yet");
    assert.ok(names("data/claims/open").every((n) => n.startsWith(`${keep.id}~`)));
    assert.equal(names("data/claims/open").length, 1, "the other channel's lease stays");
    // The run of the deleted channel's message ends, and a reader's receipt arrives late.
    const late = { channel: doomed.id, id: running.id, model: "test/echo" };
    assert.deepEqual(await claims.finishAll([late], { status: "empty", holder, at: "now" }), [
      false,
    ]);
    await annotations.receipt(late, "read", "agent", { at: "later" });
    await assert.rejects(
      annotations.add(late, "badge", { label: "x" }),
      (e: unknown) => e instanceof CrosstalkError && e.code === "ERR_CHANNEL_NOT_FOUND",
    );
    assert.deepEqual(names("data/annotations"), [keep.id]);
    assert.deepEqual(names("data/claims"), ["open"], "no finished claim of the other channel yet");
  });
});

Deno.test("LocalTransport.getChannel sees a rename, a hand edit and a delete made by another writer", async () => {
  await withTransport(async (reader, root) => {
    const writer = new LocalTransport(root);
    const channel = await writer.createChannel({ name: "alpha" });
    assert.equal((await reader.getChannel(channel.id)).name, "alpha");
    // Same length, within the same millisecond as far as the reader can tell.
    await writer.updateChannel({ ...channel, name: "gamma" });
    assert.equal((await reader.getChannel(channel.id)).name, "gamma");
    // Edited in place by hand (same inode): the size changes.
    const file = join(reader.channelsDir, channel.id, "CHANNEL.md");
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.replace("name: gamma", "name: gamma-2"));
    assert.equal((await reader.getChannel(channel.id)).name, "gamma-2");
    await writer.deleteChannel(channel.id);
    await assert.rejects(
      reader.getChannel(channel.id),
      (e: CrosstalkError) => e.code === "ERR_CHANNEL_NOT_FOUND",
    );
  });
});

/** A reader whose watch reports channel changes, trusting for `trustMs`, and a writer. */
async function watchedChannel(root: string, trustMs: number) {
  const reader = new LocalTransport(root, { channelTrustMs: trustMs });
  const writer = new LocalTransport(root);
  const channel = await writer.createChannel({ name: "alpha" });
  reader.watchingChannels(true);
  assert.equal((await reader.getChannel(channel.id)).name, "alpha");
  await writer.updateChannel({ ...channel, name: "gamma" });
  return { reader, writer, channel };
}

Deno.test("LocalTransport.getChannel trusts what it read while a watch reports changes, until told of one", async () => {
  await withTransport(async (_, root) => {
    const { reader, writer, channel } = await watchedChannel(root, 600_000);
    // No watch event yet: the channel read before stands (no look at the disk).
    assert.equal((await reader.getChannel(channel.id)).name, "alpha");
    reader.channelChanged(channel.id);
    assert.equal((await reader.getChannel(channel.id)).name, "gamma");
    await writer.updateChannel({ ...channel, name: "delta" });
    reader.channelChanged();
    assert.equal((await reader.getChannel(channel.id)).name, "delta");
    // Without a watch, every use looks at the disk again.
    reader.watchingChannels(false);
    await writer.updateChannel({ ...channel, name: "omega" });
    assert.equal((await reader.getChannel(channel.id)).name, "omega");
  });
});

Deno.test("LocalTransport.getChannel looks at a watched channel again once its trust has run out (a dropped watch event)", async () => {
  await withTransport(async (_, root) => {
    const { reader, channel } = await watchedChannel(root, 0);
    // No channelChanged: the watch event was lost; the check on disk still finds the rename.
    assert.equal((await reader.getChannel(channel.id)).name, "gamma");
  });
});

Deno.test("LocalTransport.getChannel hands out copies: changing one changes nothing else", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "alpha" });
    const first = await t.getChannel(channel.id);
    first.name = "changed by the caller";
    assert.equal((await t.getChannel(channel.id)).name, "alpha");
  });
});

Deno.test("LocalTransport.writeMessage into a channel that is gone, or never was, fails and makes no folder", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "short-lived" });
    await t.writeMessage(channel.id, fields("before the delete"));
    await t.deleteChannel(channel.id);
    const never = "0b7c5a52-3f1e-4c55-9a86-1d2e3f405162";
    for (const id of [channel.id, never]) {
      await assert.rejects(
        t.writeMessage(id, fields("after")),
        (e: CrosstalkError) => e.code === "ERR_CHANNEL_NOT_FOUND",
      );
      await assert.rejects(Deno.stat(join(t.channelsDir, id)), Deno.errors.NotFound);
    }
  });
});

Deno.test("LocalTransport.writeMessage makes a missing day folder in a channel that exists", async () => {
  await withTransport(async (t) => {
    const channel = await t.createChannel({ name: "days" });
    const first = await t.writeMessage(channel.id, fields("day one"));
    const next = await t.writeMessage(
      channel.id,
      fields("day two", { timestamp: "2026-11-23T00:00:01.000Z" }),
    );
    assert.notEqual(first.id.slice(0, 10), next.id.slice(0, 10));
    assert.equal((await t.readMessage(channel.id, next.id)).body, "day two");
  });
});

Deno.test("LocalTransport refuses to read a FIFO, a symlink or an oversized file named like a message, at once and without opening it", async () => {
  await withTransport(async (t, root) => {
    const channel = (await t.listChannels())[0]!.id;
    const day = join(t.channelsDir, channel, "2026", "12", "06");
    await Deno.mkdir(day, { recursive: true });
    const fifo = "2026/12/06/000000001Z-aaaaaaaa.md";
    const link = "2026/12/06/000000002Z-bbbbbbbb.md";
    const huge = "2026/12/06/000000003Z-cccccccc.md";
    const mkfifo = await new Deno.Command("mkfifo", { args: [join(t.channelsDir, channel, fifo)] })
      .output();
    assert.ok(mkfifo.success);
    await Deno.writeTextFile(join(root, "secret.txt"), "not a message\n");
    await Deno.symlink(join(root, "secret.txt"), join(t.channelsDir, channel, link));
    const big = await Deno.open(join(t.channelsDir, channel, huge), { write: true, create: true });
    await big.truncate(300 * 1024 * 1024); // sparse: no disk used, far over the limit
    big.close();
    for (
      const [id, why] of [[fifo, /not a regular file/], [link, /symbolic link/], [
        huge,
        /over the limit/,
      ]] as const
    ) {
      await assert.rejects(
        t.readMessage(channel, id),
        (e: unknown) =>
          e instanceof CrosstalkError && e.code === "ERR_MESSAGE_INVALID" && why.test(e.message),
        id,
      );
    }
  });
});

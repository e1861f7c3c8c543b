// Tasks on messages (engine/tasks.ts) on a real local transport: resolving is safe to retry.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import {
  addBadge,
  annotationsOf,
  badgesOf,
  claimTask,
  flagTask,
  listTasks,
  resolveTask,
  taskOf,
} from "../../engine/tasks.ts";
import { AnnotationStore } from "../../transports/annotations.ts";
import { scaffoldTransport } from "../../transports/mod.ts";
import { newMessageId } from "../../transports/names.ts";
import { tempDir } from "../_helpers.ts";

async function taskOnBus(root: string) {
  await scaffoldTransport(join(root, "bus"), { kind: "local" });
  const location = locateTransport({ path: join(root, "bus"), state: join(root, "state") }, {
    HOME: root,
  });
  const bus = await Bus.open(location, { env: { USER: "boss" } });
  const store = new AnnotationStore(location.root);
  const message = await bus.send({ to: ["worker"], body: "do the thing" });
  await flagTask(store, message, { by: "boss" });
  await claimTask(store, message, { name: "worker" });
  return { bus, store, message };
}

Deno.test("a resolve sent again after its outcome was recorded sends the result reply the first attempt died before, once", async () => {
  await using dir = await tempDir();
  const { bus, store, message } = await taskOnBus(dir.path);
  // The first attempt recorded the outcome and died before its reply.
  const reply = newMessageId(new Date());
  const { won } = await store.createExclusive(message, "task-done", {
    by: "worker",
    at: new Date().toISOString(),
    status: "completed",
    result: "it is done",
    reply,
  });
  assert.ok(won);
  assert.deepEqual(await bus.replies(message), []);

  const outcome = { by: "worker", status: "completed" as const, result: "it is done" };
  assert.equal((await resolveTask(bus, store, message, outcome)).state, "completed");
  assert.equal((await resolveTask(bus, store, message, outcome)).state, "completed");
  const replies = await bus.replies(message);
  assert.deepEqual(replies.map((r) => r.id), [reply], "one reply, with the recorded id");
  assert.equal(replies[0]!.body.trim(), "Task completed: it is done");
  assert.deepEqual(replies[0]!.to, ["boss"]);
});

Deno.test("a resolve with another outcome than the recorded one is refused and sends nothing", async () => {
  await using dir = await tempDir();
  const { bus, store, message } = await taskOnBus(dir.path);
  await resolveTask(bus, store, message, { by: "worker", status: "completed", result: "done" });
  for (
    const other of [
      { by: "worker", status: "completed" as const, result: "done differently" },
      { by: "worker", status: "failed" as const, result: "done" },
    ]
  ) {
    await assert.rejects(
      resolveTask(bus, store, message, other),
      (error: Error & { code?: string }) =>
        error.code === "ERR_TASK_CONFLICT" && /already completed/.test(error.message),
    );
  }
  assert.equal((await bus.replies(message)).length, 1);
});

Deno.test("the same resolve twice at once (a retry racing its first attempt): both succeed, one reply", async () => {
  await using dir = await tempDir();
  const { bus, store, message } = await taskOnBus(dir.path);
  const outcome = { by: "worker", status: "completed" as const, result: "done" };
  const both = await Promise.all([
    resolveTask(bus, store, message, outcome),
    resolveTask(bus, store, message, outcome),
  ]);
  assert.deepEqual(both.map((t) => t.state), ["completed", "completed"]);
  assert.equal((await bus.replies(message)).length, 1);
});

Deno.test("flagging a task again with the same flag succeeds, another flag is refused; the same badge twice is one badge", async () => {
  await using dir = await tempDir();
  const { store, message } = await taskOnBus(dir.path);
  assert.equal((await flagTask(store, message, { by: "boss" })).flaggedBy, "boss");
  await assert.rejects(
    flagTask(store, message, { by: "boss", role: "reviewer" }),
    (error: Error & { code?: string }) => error.code === "ERR_TASK_CONFLICT",
  );
  await assert.rejects(
    flagTask(store, message, { by: "someone else" }),
    /already a task \(flagged by "boss"\)/,
  );
  await addBadge(store, message, { type: "importance", value: "high", by: "boss" });
  await addBadge(store, message, { type: "importance", value: "high", by: "boss" });
  await addBadge(store, message, { type: "importance", value: "low", by: "boss" });
  assert.deepEqual(
    (await badgesOf(store, message)).map((b) => `${b.type}=${b.value}`).sort(),
    ["importance=high", "importance=low"],
  );
});

Deno.test("listTasks lists the tasks of every channel, newest first: unresolved ones, or all", async () => {
  await using dir = await tempDir();
  const { bus, store, message: claimed } = await taskOnBus(dir.path);
  try {
    await bus.createChannel("ops");
    const open = await bus.send({
      channel: "ops",
      to: ["worker"],
      body: "\n  fix the build\nsoon",
    });
    await flagTask(store, open, { by: "boss", role: "builder" });
    const done = await bus.send({ to: ["worker"], body: "write docs" });
    await flagTask(store, done, { by: "boss" });
    await claimTask(store, done, { name: "worker" });
    await resolveTask(bus, store, done, { by: "worker", status: "completed", result: "ok" });
    await bus.send({ to: ["worker"], body: "not a task" });

    const unresolved = await listTasks(store, bus);
    assert.deepEqual(
      unresolved.map((t) => [t.channel, t.id, t.state, t.title, t.role ?? null]),
      [
        [open.channel, open.id, "open", "fix the build", "builder"],
        [claimed.channel, claimed.id, "claimed", "do the thing", null],
      ],
    );
    const all = await listTasks(store, bus, { all: true });
    assert.deepEqual(all.map((t) => t.state), ["completed", "open", "claimed"]);
    assert.equal(all[0]!.result, "ok");
    // A task whose channel is gone is gone from the list.
    await bus.deleteChannel("ops");
    assert.deepEqual((await listTasks(store, bus)).map((t) => t.id), [claimed.id]);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("annotationsOf reads the task and badges of many messages, over several days, as taskOf and badgesOf do, and nothing of another channel's", async () => {
  await using dir = await tempDir();
  const { bus, store, message: claimed } = await taskOnBus(dir.path);
  try {
    // A message of two days ago, in a day folder of its own.
    {
      await using earlier = await Bus.open(bus.location, {
        env: { USER: "boss" },
        now: () => new Date(Date.now() - 2 * 24 * 3600 * 1000),
      });
      const old = await earlier.send({ to: ["worker"], body: "an old one" });
      await addBadge(store, old, { type: "question", by: "carol" });
    }
    const listed = (await bus.listMessages("general")).messages;
    const old = listed.find((m) => m.body.trim() === "an old one")!;
    assert.notEqual(old.id.slice(0, 10), claimed.id.slice(0, 10));
    await addBadge(store, claimed, { type: "importance", value: "high", by: "boss" });
    await store.receipt(claimed, "read", "worker", { at: new Date().toISOString() });
    const plain = await bus.send({ to: ["worker"], body: "no task" });
    await bus.createChannel("ops");
    const elsewhere = await bus.send({ channel: "ops", to: ["worker"], body: "other channel" });
    await flagTask(store, elsewhere, { by: "boss" });
    await addBadge(store, elsewhere, { type: "commit", value: "abc", by: "boss" });

    const { channel, annotations } = await annotationsOf(bus, {
      channel: "general",
      ids: [claimed.id, old.id, plain.id, elsewhere.id, claimed.id],
    });
    assert.equal(channel, claimed.channel);
    assert.deepEqual([...annotations.keys()], [claimed.id, old.id, plain.id, elsewhere.id]);
    for (const message of [claimed, old, plain]) {
      assert.deepEqual(annotations.get(message.id), {
        task: (await taskOf(store, message)) ?? null,
        badges: await badgesOf(store, message),
      }, message.body);
    }
    assert.equal(annotations.get(claimed.id)!.task!.state, "claimed");
    assert.deepEqual(annotations.get(old.id)!.badges.map((b) => b.type), ["question"]);
    assert.deepEqual(annotations.get(plain.id), { task: null, badges: [] });
    assert.deepEqual(annotations.get(elsewhere.id), { task: null, badges: [] });
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

Deno.test("annotationsOf refuses an id that is no message id before it looks for the channel", async () => {
  await using dir = await tempDir();
  const { bus, message } = await taskOnBus(dir.path);
  try {
    for (
      const bad of ["../x", "2026/02/31/000000000Z-00000000.md", `${message.channel}/${message.id}`]
    ) {
      await assert.rejects(
        annotationsOf(bus, { channel: "no such channel", ids: [message.id, bad] }),
        (error: Error & { code?: string }) =>
          error.code === "ERR_ID_INVALID" && error.message.includes(JSON.stringify(bad)),
        bad,
      );
    }
    await assert.rejects(
      annotationsOf(bus, { channel: "no such channel", ids: [message.id] }),
      (error: Error & { code?: string }) => error.code === "ERR_CHANNEL_NOT_FOUND",
    );
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});

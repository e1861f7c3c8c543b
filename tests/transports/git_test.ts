import assert from "node:assert/strict";
import { join } from "node:path";
import { GitTransport, scaffoldTransport } from "../../transports/mod.ts";
import { git, tempDir } from "../_helpers.ts";

Deno.test("GitTransport commits a burst of sends in a few commits, every message in one of them", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "git" });
  const transport = new GitTransport(dir.path);
  const channel = (await transport.listChannels())[0]!;
  const before = Number((await git(dir.path, "rev-list", "--count", "HEAD")).trim());
  const sent = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      transport.writeMessage(channel.id, {
        from: "tester",
        to: ["echo"],
        timestamp: new Date().toISOString(),
        body: `burst ${i}`,
      })),
  );
  const commits = Number((await git(dir.path, "rev-list", "--count", "HEAD")).trim()) - before;
  assert.ok(commits >= 1 && commits < 20, `${commits} commits for 20 messages`);
  assert.equal(
    (await git(dir.path, "status", "--porcelain")).trim(),
    "",
    "nothing left uncommitted",
  );
  const log = await git(dir.path, "log", "--format=%B", `-${commits}`);
  for (const m of sent) assert.ok(log.includes(m.id), `${m.id} is named in a commit message`);
  assert.match(log, /crosstalk: \d+ changes/);
});

Deno.test("GitTransport.change stages new, changed and removed files in one commit, and files that never reached a commit leave nothing behind", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "git" });
  const transport = new GitTransport(dir.path);
  const file = (name: string) => join(dir.path, "data", "claims", name);
  await Deno.mkdir(join(dir.path, "data", "claims"), { recursive: true });
  await Deno.writeTextFile(file("kept"), "1");
  await Deno.writeTextFile(file("removed"), "1");
  await transport.change(["data/claims/kept", "data/claims/removed"], "crosstalk: two files");
  // One change: a new file, an edit, a removal of a tracked file, and a file made and removed
  // between two commits (a claim closed before its lazy commit).
  await Deno.writeTextFile(file("new"), "1");
  await Deno.writeTextFile(file("kept"), "2");
  await Deno.remove(file("removed"));
  await transport.change(
    ["data/claims/new", "data/claims/kept", "data/claims/removed", "data/claims/never"],
    "crosstalk: mixed",
  );
  assert.equal((await git(dir.path, "status", "--porcelain")).trim(), "", "all committed");
  const changed = await git(dir.path, "show", "--no-renames", "--name-status", "--format=", "HEAD");
  assert.deepEqual(changed.trim().split("\n").sort(), [
    "A\tdata/claims/new",
    "D\tdata/claims/removed",
    "M\tdata/claims/kept",
  ]);
  // Channels are folders: created and deleted as a whole, with what the bus keeps about their
  // messages elsewhere (receipts, finished claims, open leases).
  const channel = await transport.createChannel({ name: "folders" });
  const traces = [
    `data/annotations/${channel.id}/2026/12/06/x~read~a.json`,
    `data/claims/${channel.id}/2026/12/06/x~test~echo~done`,
    `data/claims/open/${channel.id}~2026~12~06~x~test~echo~1.lease`,
  ];
  for (const path of traces) {
    await Deno.mkdir(join(dir.path, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir.path, path), "{}");
  }
  await transport.change(traces, "crosstalk: records of a channel's message");
  await transport.deleteChannel(channel.id);
  assert.equal((await git(dir.path, "status", "--porcelain")).trim(), "");
  for (const path of [`data/channels/${channel.id}`, ...traces]) {
    assert.equal((await git(dir.path, "ls-files", path)).trim(), "", `${path} is gone`);
  }
  assert.deepEqual(
    (await git(dir.path, "ls-files", "data/claims")).trim().split("\n").sort(),
    ["data/claims/kept", "data/claims/new"],
  );
});

Deno.test("GitTransport with background commits returns a send before its commit, and commits it after", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "git" });
  await using transport = new GitTransport(dir.path, { background: true });
  const channel = (await transport.listChannels())[0]!;
  const committed = new Promise<void>((resolve) => transport.onCommit(() => resolve()));
  // The repository lock is held, so no commit can happen until the send has returned: a send
  // that waited for its commit would never return here.
  const { promise: release, resolve: releaseLock } = Promise.withResolvers<void>();
  const held = transport.lock.run(() => release);
  const message = await transport.writeMessage(channel.id, {
    from: "tester",
    to: ["echo"],
    timestamp: new Date().toISOString(),
    body: "durable before committed",
  });
  const path = `data/channels/${channel.id}/${message.id}`;
  assert.equal(
    await Deno.readTextFile(join(dir.path, path)).then((t) => t.includes("durable")),
    true,
  );
  assert.match(await git(dir.path, "status", "--porcelain", "--", path), /^\?\? /);
  releaseLock();
  await held;
  await committed;
  assert.equal(
    (await git(dir.path, "status", "--porcelain")).trim(),
    "",
    "nothing left uncommitted",
  );
  assert.match(await git(dir.path, "log", "-1", "--format=%B"), new RegExp(message.id));
});

Deno.test("GitTransport with background commits keeps a message whose commit fails, reports it, and commits it on a retry", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "git" });
  await using transport = new GitTransport(dir.path, { background: true, commitRetryMs: 50 });
  const channel = (await transport.listChannels())[0]!;
  // git cannot write objects while .git/objects is a file: every commit fails.
  const objects = join(dir.path, ".git", "objects");
  await Deno.rename(objects, `${objects}.away`);
  await Deno.writeTextFile(objects, "");
  const failures: unknown[] = [];
  const failed = Promise.withResolvers<void>();
  transport.onCommitError((error) => {
    failures.push(error);
    if (failures.length === 2) failed.resolve();
  });
  const message = await transport.writeMessage(channel.id, {
    from: "tester",
    to: ["echo"],
    timestamp: new Date().toISOString(),
    body: "kept through a failing commit",
  });
  // The first attempt and one retry fail; the message is still there, and the error says why.
  await failed.promise;
  const path = join(dir.path, "data", "channels", channel.id, message.id);
  assert.equal(await Deno.stat(path).then((s) => s.isFile), true);
  const error = transport.commitError;
  assert.ok(error, "the failure is reported");
  assert.equal(error.waiting, 1);
  assert.match(error.error, /git/);
  // The repository comes back: the next retry commits the message, and the error clears.
  const committed = new Promise<void>((resolve) => transport.onCommit(() => resolve()));
  await Deno.remove(objects);
  await Deno.rename(`${objects}.away`, objects);
  await committed;
  assert.equal(transport.commitError, undefined);
  assert.equal((await git(dir.path, "status", "--porcelain")).trim(), "");
  assert.match(await git(dir.path, "log", "-1", "--format=%B"), new RegExp(message.id));
});

Deno.test("GitTransport without background commits undoes a send whose commit fails", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "git" });
  await using transport = new GitTransport(dir.path);
  const channel = (await transport.listChannels())[0]!;
  const objects = join(dir.path, ".git", "objects");
  await Deno.rename(objects, `${objects}.away`);
  await Deno.writeTextFile(objects, "");
  await assert.rejects(
    transport.writeMessage(channel.id, {
      from: "tester",
      to: ["echo"],
      timestamp: new Date().toISOString(),
      body: "undone",
    }),
  );
  await Deno.remove(objects);
  await Deno.rename(`${objects}.away`, objects);
  assert.deepEqual(await transport.listMessageIds(channel.id), []);
  assert.equal((await git(dir.path, "status", "--porcelain")).trim(), "");
});

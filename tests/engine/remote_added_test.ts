// A git transport that gets its remote while its engine runs (Crosstalk 8's quickstart: start the
// engine on a local clone, then `git remote add origin URL`): the engine starts syncing without a
// restart, pushes what was written before, and is never shown stale meanwhile.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Engine } from "../../engine/engine.ts";
import { locateTransport } from "../../engine/paths.ts";
import { engineReport } from "../../engine/status.ts";
import { git, runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { cloneWithoutRemote, EngineProcess, openBus, remoteFiles } from "./_harness.ts";

Deno.test("an engine started without a remote syncs once `git remote add` gives it one: the message and its reply reach the remote, no restart", async () => {
  await using dir = await tempDir();
  const root = await cloneWithoutRemote(dir.path);
  const state = join(dir.path, "state");
  await using engine = await EngineProcess.start(root, { alias: "a", state });
  const remote = join(dir.path, "remote.git");
  await git(dir.path, "init", "-q", "--bare", "-b", "main", remote);
  // Plain git, as the user types it: nothing tells the engine.
  await git(root, "remote", "add", "origin", remote);
  await using bus = await openBus(root);
  const sent = await bus.send({ to: ["echo"], body: "hello remote" });
  const [reply] = await bus.waitForReplies([sent], 20_000);
  assert.equal(reply!.body, "echo: hello remote");
  const channel = `data/channels/${sent.channel}`;
  // The engine looks at `.git/config` on its 10 s heartbeat.
  await waitUntil(
    async () => {
      const files = await remoteFiles(remote);
      return files.includes(`${channel}/${sent.id}`) && files.includes(`${channel}/${reply!.id}`);
    },
    25_000,
    "the message and its reply on the remote",
  );
  await engine.waitFor((r) => r.event === "sync.started");
  assert.equal(engine.count((r) => r.event === "engine.ready"), 1, "never restarted");
  const started = engine.records.filter((r) => r.event === "sync.started");
  assert.equal(started.length, 1);
  assert.equal(started[0]!.remote, remote);
  const status = await runCrosstalk(["status", "--path", root, "--state", state, "--json"], {
    home: dir.path,
  });
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout);
  assert.equal(report.state, "running");
  assert.equal(report.status.sync.url, remote);
  assert.equal(report.syncPending, undefined);
  const own = report.dispatchers.find((d: { alias: string }) => d.alias === "a");
  assert.equal(own.stale, false, "alive by its presence on the remote");
});

Deno.test("Engine.checkRemote starts the sync of a remote added after the start; until then status judges the engine by its heartbeat and says why", async () => {
  await using dir = await tempDir();
  const root = await cloneWithoutRemote(dir.path);
  const location = locateTransport({ path: root, state: join(dir.path, "state") }, {
    HOME: dir.path,
  });
  const engine = await Engine.start(location, { env: { HOME: dir.path, USER: "tester" } });
  try {
    const before = await engine.bus.send({ to: ["tester"], body: "written before the remote" });
    const remote = join(dir.path, "remote.git");
    await git(dir.path, "init", "-q", "--bare", "-b", "main", remote);
    await git(root, "remote", "add", "origin", remote);

    const pending = await engineReport(location);
    const own = pending.dispatchers.find((d) => d.alias === engine.alias);
    assert.equal(own?.stale, false, "not stale for want of a presence it cannot publish yet");
    // The heartbeat (every 10 s) may have looked at the remote already.
    if (!pending.status?.sync) assert.deepEqual(pending.syncPending, { origin: remote });

    await engine.checkRemote();
    const synced = await engineReport(location);
    assert.equal(synced.status?.sync?.url, remote);
    assert.equal(synced.syncPending, undefined);
    assert.equal(synced.dispatchers.find((d) => d.alias === engine.alias)?.stale, false);
    await engine.flush();
    await engine.syncNow();
    assert.ok(
      (await remoteFiles(remote)).includes(`data/channels/${before.channel}/${before.id}`),
      "what was written before the remote is on it",
    );
    assert.equal(
      (await git(root, "rev-parse", "HEAD")).trim(),
      (await git(remote, "rev-parse", "main")).trim(),
      "nothing left unpushed",
    );

    await git(root, "remote", "remove", "origin");
    await engine.checkRemote();
    const alone = await engineReport(location);
    assert.equal(alone.status?.sync, undefined, "the sync stopped with its remote");
    assert.equal(alone.syncPending, undefined);
    assert.equal(alone.dispatchers.find((d) => d.alias === engine.alias)?.stale, false);
  } finally {
    await engine.close();
  }
});

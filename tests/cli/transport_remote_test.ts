// `crosstalk transport remote set | show | rm` on a git clone, with a real engine running on it
// and bare remotes on disk: the remote comes after the transport, and the engine follows at once.
import assert from "node:assert/strict";
import { join } from "node:path";
import { scaffoldTransport } from "../../transports/mod.ts";
import { git, tempDir, waitUntil } from "../_helpers.ts";
import { cloneWithoutRemote, EngineProcess, openBus, remoteFiles } from "../engine/_harness.ts";
import { expectCode, initTransport, runCrosstalk, snapshot } from "./_cli.ts";

async function bare(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  await git(dir, "init", "-q", "--bare", "-b", "main", path);
  return path;
}

Deno.test("transport remote set gives a running engine its remote at once: what was written before, a new message and its reply reach it, and status shows it alive", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await cloneWithoutRemote(dir.path);
  const state = join(dir.path, "state");
  await using engine = await EngineProcess.start(root, { alias: "a", state });
  await using bus = await openBus(root);
  const early = await bus.send({ to: ["echo"], body: "before the remote" });
  const [earlyReply] = await bus.waitForReplies([early], 20_000);
  const remote = await bare(dir.path, "remote.git");

  const set = await expectCode(
    0,
    ["transport", "remote", "set", remote, "--path", root, "--state", state, "--json"],
    { home },
  );
  const result = JSON.parse(set.stdout);
  assert.equal(result.origin, remote);
  assert.equal(result.previous, undefined);
  assert.equal(result.push, "pushed");
  assert.deepEqual(result.engine, { state: "following", pid: engine.pid });
  assert.equal(
    (await git(root, "rev-parse", "--abbrev-ref", "main@{upstream}")).trim(),
    "origin/main",
  );

  const sent = await bus.send({ to: ["echo"], body: "after the remote" });
  const [reply] = await bus.waitForReplies([sent], 20_000);
  assert.equal(reply!.body, "echo: after the remote");
  const channel = `data/channels/${sent.channel}`;
  const wanted = [early, earlyReply!, sent, reply!].map((m) => `${channel}/${m.id}`);
  await waitUntil(
    async () => {
      const files = await remoteFiles(remote);
      return wanted.every((f) => files.includes(f));
    },
    15_000,
    "both messages and both replies on the remote",
  );
  await engine.waitFor((r) => r.event === "sync.started" && r.remote === remote);
  assert.equal(engine.count((r) => r.event === "engine.ready"), 1, "never restarted");
  assert.equal(engine.count((r) => r.event === "sync.started"), 1);

  const status = await expectCode(0, ["status", "--path", root, "--state", state, "--json"], {
    home,
  });
  const report = JSON.parse(status.stdout);
  assert.equal(report.status.sync.url, remote);
  assert.equal(report.syncPending, undefined);
  assert.equal(report.dispatchers.find((d: { alias: string }) => d.alias === "a").stale, false);
});

Deno.test("transport remote set to another URL moves a running engine's sync there; transport remote rm stops it, and the engine stays alive", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await cloneWithoutRemote(dir.path);
  const state = join(dir.path, "state");
  const flags = ["--path", root, "--state", state, "--json"];
  await using engine = await EngineProcess.start(root, { alias: "a", state });
  const first = await bare(dir.path, "first.git");
  const second = await bare(dir.path, "second.git");
  await expectCode(0, ["transport", "remote", "set", first, ...flags], { home });

  const moved = JSON.parse(
    (await expectCode(0, ["transport", "remote", "set", second, ...flags], { home })).stdout,
  );
  assert.equal(moved.previous, first);
  assert.equal(moved.push, "pushed");
  assert.equal(moved.engine.state, "following");
  // Its log comes through a pipe: read up to the second start first.
  await engine.waitFor((r) => r.event === "sync.started" && r.remote === second);
  const started = engine.records.filter((r) => r.event === "sync.started");
  assert.deepEqual(started.map((r) => [r.remote, r.previous]), [[first, undefined], [
    second,
    first,
  ]]);
  await using bus = await openBus(root);
  const sent = await bus.send({ to: ["echo"], body: "to the second remote" });
  const [reply] = await bus.waitForReplies([sent], 20_000);
  await waitUntil(
    async () => (await remoteFiles(second)).includes(`data/channels/${sent.channel}/${reply!.id}`),
    15_000,
    "the reply on the second remote",
  );

  const removed = JSON.parse(
    (await expectCode(0, ["transport", "remote", "rm", ...flags], { home })).stdout,
  );
  assert.equal(removed.removed, second);
  assert.deepEqual(removed.engine, { state: "following", pid: engine.pid });
  await engine.waitFor((r) => r.event === "sync.stopped" && r.remote === second);
  // A cycle under way when origin moved or went fails against the remote left: no news.
  assert.deepEqual(
    engine.records.filter((r) => r.event === "sync.failed"),
    [],
    "moving or removing the remote is no sync failure",
  );
  assert.equal((await git(root, "remote")).trim(), "", "no remote left");
  const shown = JSON.parse(
    (await expectCode(0, ["transport", "remote", "show", ...flags], { home })).stdout,
  );
  assert.equal(shown.origin, undefined);
  assert.deepEqual(shown.engine, { pid: engine.pid });
  const report = JSON.parse(
    (await expectCode(0, ["status", "--path", root, "--state", state, "--json"], { home }))
      .stdout,
  );
  assert.equal(report.status.sync, undefined);
  assert.equal(report.syncPending, undefined);
  assert.equal(report.dispatchers.find((d: { alias: string }) => d.alias === "a").stale, false);
  // Still working, on this machine alone.
  const alone = await bus.send({ to: ["echo"], body: "on my own" });
  assert.equal((await bus.waitForReplies([alone], 20_000))[0]!.body, "echo: on my own");
  const again = await expectCode(
    0,
    ["transport", "remote", "rm", "--path", root, "--state", state],
    {
      home,
    },
  );
  assert.match(again.stdout, /has no remote: nothing to remove/);
});

Deno.test("transport remote set refuses what it cannot use, and changes nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const local = await initTransport(home, "local-bus", "local");
  const before = await snapshot(local);
  const refused = await expectCode(64, [
    "transport",
    "remote",
    "set",
    await bare(home, "r.git"),
    "--path",
    local,
  ], {
    home,
  });
  assert.match(refused.stderr, /is a local transport .*only a git transport has a remote/);
  assert.deepEqual(await snapshot(local), before);

  const root = await cloneWithoutRemote(dir.path);
  const config = await Deno.readTextFile(join(root, ".git", "config"));
  // After `--`, as a script would pass a URL it did not write itself.
  const set = (url: string) =>
    runCrosstalk(["transport", "remote", "set", "--path", root, "--", url], { home });
  const cases: [string, number, RegExp][] = [
    ["", 64, /The remote URL is empty/],
    ["-uexec=touch", 64, /is not a remote URL: it starts with "-"/],
    ["/tmp/a\nb", 64, /has a control character/],
    [join(home, "missing.git"), 75, /Cannot reach the remote ".*missing\.git"/],
  ];
  // Another transport's history on its main branch.
  const other = await bare(home, "other.git");
  await scaffoldTransport(join(home, "other"), { kind: "git", remote: other });
  await git(join(home, "other"), "push", "-q", "origin", "main");
  cases.push([other, 75, /has a branch main with a history of its own.*nothing changed/]);
  // Some other repository: branches, none named main.
  const foreign = await bare(home, "foreign.git");
  await git(join(home, "other"), "push", "-q", foreign, "main:master");
  cases.push([foreign, 75, /has branches \(master\) but no main: .*nothing changed/]);
  for (const [url, code, message] of cases) {
    const result = await set(url);
    assert.equal(result.code, code, `${JSON.stringify(url)}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stdout, "");
  }
  assert.equal(await Deno.readTextFile(join(root, ".git", "config")), config, "no remote set");
  assert.equal((await git(root, "for-each-ref", "refs/remotes")).trim(), "");
});

Deno.test("transport remote set on a remote that holds this transport with commits the clone lacks sets it without pushing; show names origin and upstream", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await cloneWithoutRemote(dir.path);
  const remote = await bare(home, "remote.git");
  await expectCode(0, ["transport", "remote", "set", remote, "--path", root], { home });
  // Another machine clones it and pushes a commit; this clone leaves the remote meanwhile.
  const other = join(home, "other");
  await git(home, "clone", "-q", remote, other);
  await Deno.writeTextFile(join(other, "local", "note.md"), "from the other machine\n");
  await git(other, "add", "-A");
  await git(other, "-c", "user.name=o", "-c", "user.email=o@x", "commit", "-q", "-m", "other");
  await git(other, "push", "-q", "origin", "main");
  const removed = await expectCode(0, ["transport", "remote", "rm", "--path", root], { home });
  assert.match(removed.stdout, /Removed the remote origin .*remote\.git/);
  assert.match(removed.stdout, /No engine is running here/);

  const set = await expectCode(0, ["transport", "remote", "set", remote, "--path", root], { home });
  assert.match(set.stdout, /Added the remote origin .*remote\.git/);
  assert.match(set.stdout, /It has commits this clone lacks: the engine merges them/);
  assert.equal(
    (await git(remote, "rev-parse", "main")).trim(),
    (await git(other, "rev-parse", "HEAD")).trim(),
    "the remote's commit is left as it is",
  );
  const shown = await expectCode(0, ["transport", "remote", "show", "--path", root], { home });
  assert.match(shown.stdout, /^origin: +.*remote\.git$/m);
  assert.match(shown.stdout, /^branch: +main \(upstream origin\/main\)$/m);
  assert.match(shown.stdout, /^engine: +not running$/m);
});

// GitSync against real git: a bare remote on disk and clones of it, as on separate machines.
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { CrosstalkError } from "../../schema/errors.ts";
import { GitSync, GitTransport, PushError, scaffoldTransport } from "../../transports/mod.ts";
import { git, tempDir, waitUntil } from "../_helpers.ts";

interface Machine {
  transport: GitTransport;
  sync: GitSync;
  channel: string;
}

/** A bare remote and `n` clones of a transport, each with its own commit cursor. */
async function network(dir: string, n: number): Promise<{ remote: string; machines: Machine[] }> {
  const remote = join(dir, "remote.git");
  await git(dir, "init", "-q", "--bare", "-b", "main", remote);
  const machines: Machine[] = [];
  for (let i = 0; i < n; i++) {
    const root = join(dir, `m${i}`);
    await scaffoldTransport(root, { kind: "git", remote });
    const transport = new GitTransport(root);
    const sync = (await GitSync.open(transport, { cursorPath: join(dir, `cursor${i}.json`) }))!;
    if (i === 0) await sync.sync({ push: true });
    const channel = (await transport.listChannels())[0]!.id;
    machines.push({ transport, sync, channel });
  }
  return { remote, machines };
}

function send(m: Machine, body: string, options: { id?: string } = {}) {
  return m.transport.writeMessage(m.channel, {
    from: "tester",
    to: ["echo"],
    timestamp: new Date().toISOString(),
    body,
  }, options);
}

Deno.test("a message pushed by one clone is reported as added by the other's next sync", async () => {
  await using dir = await tempDir();
  const { machines: [a, b] } = await network(dir.path, 2);
  const message = await send(a!, "hello b");
  const pushed = await a!.sync.sync({ push: true });
  assert.equal(pushed.pushed, true);
  assert.equal(pushed.ahead, 0);
  const pulled = await b!.sync.sync();
  assert.equal(pulled.pulled, true);
  assert.deepEqual(pulled.added, [`data/channels/${b!.channel}/${message.id}`]);
  assert.equal((await b!.transport.readMessage(b!.channel, message.id)).body, "hello b");
  assert.deepEqual((await b!.sync.sync()).added, [], "nothing is reported twice");
});

Deno.test("a clone without a remote has no sync", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "git" });
  assert.equal(
    await GitSync.open(new GitTransport(dir.path), { cursorPath: join(dir.path, "c.json") }),
    undefined,
  );
});

Deno.test("a clone given an empty remote after the fact pushes its history: the fetch finds no branch yet, the push makes it", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "clone");
  await scaffoldTransport(root, { kind: "git" });
  const head = async () => (await git(root, "rev-parse", "HEAD")).trim();
  const first = join(dir.path, "first.git");
  await git(dir.path, "init", "-q", "--bare", "-b", "main", first);
  await git(root, "remote", "add", "origin", first);
  const sync = (await GitSync.open(new GitTransport(root), {}))!;
  const report = await sync.sync({ push: true, fetch: true });
  assert.equal(report.pushed, true);
  assert.equal(report.ahead, 0);
  assert.equal((await git(first, "rev-parse", "main")).trim(), await head());
  // `git remote set-url` to another empty remote: the tracking ref still names the first one's
  // branch, and must not make the push expect it there.
  const second = join(dir.path, "second.git");
  await git(dir.path, "init", "-q", "--bare", "-b", "main", second);
  await git(root, "remote", "set-url", "origin", second);
  const moved = (await GitSync.open(new GitTransport(root), { fresh: true }))!;
  assert.equal((await moved.sync({ push: true, fetch: true })).pushed, true);
  assert.equal((await git(second, "rev-parse", "main")).trim(), await head());
  // A branch this sync saw on the remote and that is gone now is no empty remote: an error.
  await git(second, "branch", "-m", "main", "elsewhere");
  await assert.rejects(
    moved.sync({ fetch: true }),
    (e: unknown) =>
      e instanceof CrosstalkError && e.code === "ERR_GIT_FAILED" &&
      /couldn't find remote ref refs\/heads\/main/.test(e.message),
  );
});

Deno.test("a fresh GitSync starts its commit cursor at HEAD: files an old cursor would hand on again are not reported", async () => {
  await using dir = await tempDir();
  const { machines: [a] } = await network(dir.path, 1);
  const cursorPath = join(dir.path, "cursor0.json");
  await a!.sync.sync({ push: true });
  // Written while the clone had no sync (its remote removed): this machine saw it already.
  const local = await send(a!, "seen here before the remote came back");
  const stale = (await GitSync.open(a!.transport, { cursorPath }))!;
  assert.deepEqual(
    (await stale.sync({ push: true })).added,
    [`data/channels/${a!.channel}/${local.id}`],
    "the old cursor hands it on again",
  );
  const later = await send(a!, "seen here too");
  const fresh = (await GitSync.open(a!.transport, { cursorPath, fresh: true }))!;
  assert.deepEqual((await fresh.sync({ push: true })).added, []);
  assert.ok(
    (await Deno.readTextFile(cursorPath)).includes(
      (await git(a!.transport.root, "rev-parse", "HEAD")).trim(),
    ),
  );
  assert.ok(await a!.transport.hasMessage(a!.channel, later.id));
});

Deno.test("pushes racing from three clones lose no message: each rebases and retries", async () => {
  await using dir = await tempDir();
  const { machines } = await network(dir.path, 3);
  for (const m of machines) await m.sync.sync();
  const sent = await Promise.all(
    machines.flatMap((m, i) => Array.from({ length: 10 }, (_, j) => send(m, `m${i} #${j}`))),
  );
  await Promise.all(machines.map((m) => m.sync.sync({ push: true })));
  // Whoever gave up after its attempts pushes on its next sync.
  for (let round = 0; round < 3; round++) {
    await Promise.all(machines.map((m) => m.sync.sync({ push: true, fetch: true })));
  }
  for (const m of machines) {
    const ids = new Set(await m.transport.listMessageIds(m.channel));
    for (const message of sent) assert.ok(ids.has(message.id), `${message.id} reached every clone`);
    assert.equal((await git(m.transport.root, "status", "--porcelain")).trim(), "");
  }
});

Deno.test("two clones adding the same claim file: the first push wins, the other takes its version", async () => {
  await using dir = await tempDir();
  const { machines: [a, b] } = await network(dir.path, 2);
  await b!.sync.sync();
  const lease = "data/claims/open/x.lease";
  for (const [m, who] of [[a!, "a"], [b!, "b"]] as const) {
    await Deno.mkdir(join(m.transport.root, "data/claims/open"), { recursive: true });
    await Deno.writeTextFile(join(m.transport.root, lease), `${who}\n`);
    await m.transport.change([lease], `claim by ${who}`);
  }
  const bMessage = await send(b!, "sent with the losing claim");
  assert.equal((await a!.sync.sync({ push: true })).pushed, true);
  const report = await b!.sync.sync({ push: true });
  assert.equal(report.pushed, true, "b's other commits still reach the remote");
  assert.deepEqual(report.conflicts, [lease]);
  assert.equal(await Deno.readTextFile(join(b!.transport.root, lease)), "a\n");
  await a!.sync.sync();
  assert.equal((await a!.transport.readMessage(a!.channel, bMessage.id)).body, bMessage.body);
  assert.equal(await Deno.readTextFile(join(a!.transport.root, lease)), "a\n");
});

Deno.test("a claim file not yet committed when the winner's arrives gives way to it, and the sync goes through", async () => {
  await using dir = await tempDir();
  const { remote, machines: [a, b] } = await network(dir.path, 2);
  await b!.sync.sync();
  const lease = "data/claims/open/x.lease";
  await Deno.mkdir(join(a!.transport.root, "data/claims/open"), { recursive: true });
  await Deno.writeTextFile(join(a!.transport.root, lease), "a\n");
  await a!.transport.change([lease], "claim by a");
  assert.equal((await a!.sync.sync({ push: true })).pushed, true);
  // b has a commit of its own, and has just created its claim file: git would refuse to
  // overwrite the untracked file with a's.
  const bMessage = await send(b!, "sent while claiming");
  await Deno.mkdir(join(b!.transport.root, "data/claims/open"), { recursive: true });
  await Deno.writeTextFile(join(b!.transport.root, lease), "b\n");
  const pulled = await b!.sync.sync({ fetch: true });
  assert.equal(pulled.pulled, true);
  assert.deepEqual(pulled.conflicts, [lease]);
  assert.equal(await Deno.readTextFile(join(b!.transport.root, lease)), "a\n");
  await b!.transport.change([lease], "claim by b");
  assert.equal((await b!.sync.sync({ push: true })).pushed, true);
  assert.equal(await git(remote, "show", `main:${lease}`), "a\n");
  const onRemote = await git(remote, "ls-tree", "-r", "--name-only", "main");
  assert.ok(onRemote.includes(bMessage.id), "b's message reached the remote");
});

Deno.test("a clone whose integration failed never pushes the remote's new commits away", async () => {
  await using dir = await tempDir();
  const { remote, machines: [a, b] } = await network(dir.path, 2);
  await b!.sync.sync();
  const aMessage = await send(a!, "pushed by a");
  await a!.sync.sync({ push: true });
  // Something that is not a claim stands in git's way on b: its integration fails.
  const stray = `data/channels/${b!.channel}/${aMessage.id}`;
  await Deno.mkdir(join(b!.transport.root, stray, ".."), { recursive: true });
  await Deno.writeTextFile(join(b!.transport.root, stray), "a stray file\n");
  await assert.rejects(b!.sync.sync({ fetch: true }), CrosstalkError);
  await send(b!, "committed on b after the failed integration");
  // A push-only sync (what a new commit asks for) must integrate first, and fails with it.
  await assert.rejects(b!.sync.sync({ push: true }), CrosstalkError);
  const onRemote = await git(remote, "ls-tree", "-r", "--name-only", "main");
  assert.ok(onRemote.includes(aMessage.id), "a's message is still on the remote");
});

Deno.test("a claim taken in the commit that closed another is kept when the remote removed the closed one (git sees a rename)", async () => {
  await using dir = await tempDir();
  const { remote, machines: [a, b] } = await network(dir.path, 2);
  const open = "data/claims/open";
  const [x, y] = [`${open}/x~1.lease`, `${open}/y~1.lease`];
  await Deno.mkdir(join(a!.transport.root, open), { recursive: true });
  // Every lease of one holder has the same text.
  await Deno.writeTextFile(join(a!.transport.root, x), '{"holder":"a"}\n');
  await a!.transport.change([x], "claim x");
  await a!.sync.sync({ push: true });
  await b!.sync.sync();
  // b removes x (a channel delete, or a sweep that closed it) and pushes first.
  await Deno.remove(join(b!.transport.root, x));
  await b!.transport.change([x], "close x on b");
  await b!.sync.sync({ push: true });
  // a closes x and claims y in one commit: to git, x renamed to y.
  await Deno.remove(join(a!.transport.root, x));
  await Deno.writeTextFile(join(a!.transport.root, y), '{"holder":"a"}\n');
  await a!.transport.change([x, y], "close x, claim y");
  const report = await a!.sync.sync({ push: true });
  assert.equal(report.pushed, true);
  assert.deepEqual(report.conflicts, [], "y was never the remote's: no race was lost");
  assert.equal(await git(remote, "ls-tree", "-r", "--name-only", "main", open), `${y}\n`);
});

Deno.test("a message that reaches the remote late with an older name is still reported", async () => {
  await using dir = await tempDir();
  const { machines: [a, b] } = await network(dir.path, 2);
  await b!.sync.sync();
  const recent = await send(a!, "recent");
  await a!.sync.sync({ push: true });
  await b!.sync.sync();
  // Written a day ago on a machine that was offline, pushed only now.
  const old = await send(a!, "old", { id: "2020/01/02/030405006Z-0badc0de.md" });
  assert.ok(old.id < recent.id);
  await a!.sync.sync({ push: true });
  const report = await b!.sync.sync();
  assert.deepEqual(report.added, [`data/channels/${b!.channel}/${old.id}`]);
});

/**
 * A message of a's reaches b, then someone rewrites the remote's history back to before it; b
 * has a message of its own not yet pushed.
 */
async function rewound(dir: string) {
  const { remote, machines: [a, b] } = await network(dir, 2);
  await b!.sync.sync();
  const base = (await git(a!.transport.root, "rev-parse", "HEAD")).trim();
  const doomed = await send(a!, "about to be rewritten away");
  await a!.sync.sync({ push: true });
  await b!.sync.sync();
  await git(remote, "update-ref", "refs/heads/main", base);
  const mine = await send(b!, "written on b, not yet pushed");
  return { remote, b: b!, doomed, mine };
}

Deno.test("a force-pushed remote is reported with what it removed, and our unpushed work survives", async () => {
  await using dir = await tempDir();
  const { remote, b, doomed, mine } = await rewound(dir.path);
  const report = await b!.sync.sync({ push: true });
  assert.ok(report.rewritten, "the rewrite is reported");
  assert.deepEqual(report.rewritten.removed, [`data/channels/${b!.channel}/${doomed.id}`]);
  assert.equal(report.pushed, true);
  const onRemote = await git(remote, "ls-tree", "-r", "--name-only", "main");
  assert.ok(onRemote.includes(mine.id), "b's own message was replayed onto the new history");
  assert.ok(!onRemote.includes(doomed.id), "the removed message was not pushed back");
});

Deno.test("a force-pushed remote whose first integration fails is still seen as rewritten: its removals are not pushed back", async () => {
  await using dir = await tempDir();
  const { remote, b, doomed, mine } = await rewound(dir.path);
  // Another git process holds the index at the wrong moment: b's rebase fails once.
  const lock = join(b!.transport.root, ".git", "index.lock");
  await Deno.writeTextFile(lock, "");
  await assert.rejects(b!.sync.sync({ push: true }), CrosstalkError);
  await Deno.remove(lock);
  const report = await b!.sync.sync({ push: true });
  assert.ok(report.rewritten, "the rewrite is reported on the sync that integrates it");
  assert.equal(report.pushed, true);
  const onRemote = await git(remote, "ls-tree", "-r", "--name-only", "main");
  assert.ok(onRemote.includes(mine.id), "b's own message went out");
  assert.ok(!onRemote.includes(doomed.id), "the removed message was not pushed back");
});

Deno.test("an unreachable remote fails the sync with git's reason; when it is back, the work goes out", async () => {
  await using dir = await tempDir();
  const { remote, machines: [a, b] } = await network(dir.path, 2);
  await Deno.rename(remote, `${remote}.away`);
  const message = await send(a!, "sent while the remote is away");
  await assert.rejects(
    a!.sync.sync({ push: true }),
    (e: unknown) =>
      e instanceof CrosstalkError && e.code === "ERR_GIT_FAILED" && /remote\.git/.test(e.message),
  );
  assert.ok(await a!.transport.hasMessage(a!.channel, message.id), "the message is kept");
  await Deno.rename(`${remote}.away`, remote);
  assert.equal((await a!.sync.sync({ push: true })).pushed, true);
  assert.deepEqual((await b!.sync.sync()).added, [`data/channels/${b!.channel}/${message.id}`]);
});

Deno.test("a remote that refuses our push still hands on what our fetch brought in", async () => {
  await using dir = await tempDir();
  const { remote, machines: [a, b] } = await network(dir.path, 2);
  await b!.sync.sync();
  const fromA = await send(a!, "from a, while b may not push");
  await a!.sync.sync({ push: true });
  // From now on the remote declines every push (a protected branch, a read-only key).
  const hook = join(remote, "hooks", "pre-receive");
  await Deno.writeTextFile(hook, "#!/bin/sh\necho 'pushes are closed' >&2\nexit 1\n");
  await Deno.chmod(hook, 0o755);
  await send(b!, "b's own, which cannot go out");
  const error = await b!.sync.sync({ push: true, fetch: true }).then(
    () => assert.fail("the push was declined"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PushError, String(error));
  assert.match(error.message, /failed: pushes are closed; pre-receive hook declined$/);
  assert.ok(error.report.added.includes(`data/channels/${b!.channel}/${fromA.id}`));
  assert.equal((await b!.sync.sync({ fetch: true })).added.length, 0, "reported once");
});

/** Both clones add one path; `b` fetches and rebases onto `a`'s push, which stops on it. */
async function stopRebaseOnConflict(a: Machine, b: Machine): Promise<void> {
  for (const [m, who] of [[a, "a"], [b, "b"]] as const) {
    await Deno.writeTextFile(join(m.transport.root, "data/clash"), who);
    await m.transport.change(["data/clash"], who);
  }
  await a.sync.sync({ push: true });
  const root = b.transport.root;
  await git(root, "fetch", "-q", "origin");
  const rebase = await new Deno.Command("git", {
    args: ["rebase", "-q", "origin/main"],
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).output();
  assert.notEqual(rebase.code, 0, "the rebase stopped on the conflict");
}

Deno.test("recovery aborts an interrupted rebase, removes stale locks and commits what a crash left", async () => {
  await using dir = await tempDir();
  const { machines: [a, b] } = await network(dir.path, 2);
  await b!.sync.sync();
  const root = b!.transport.root;
  // A rebase stopped by a conflict, as a crash in the middle of a sync leaves it.
  await stopRebaseOnConflict(a!, b!);
  await Deno.writeTextFile(join(root, ".git", "index.lock"), "");
  const stray = join(root, "data/channels", b!.channel, "2026/01/01");
  await Deno.mkdir(stray, { recursive: true });
  await Deno.writeTextFile(
    join(stray, "000000000Z-00000000.md"),
    "---\nfrom: x\nto: [y]\n---\nhi\n",
  );

  const done = await b!.sync.recover();
  assert.ok(done.some((d) => /aborted an interrupted rebase/.test(d)), done.join("; "));
  assert.ok(done.some((d) => /stale lock/.test(d)), done.join("; "));
  assert.ok(done.some((d) => /uncommitted/.test(d)), done.join("; "));
  assert.equal((await git(root, "status", "--porcelain")).trim(), "");
  const report = await b!.sync.sync({ push: true });
  assert.equal(report.ahead, 0);
});

for (
  const [state, stop] of [
    ["stopped by a conflict", "conflict"],
    ["between two of its steps", "break"],
  ] as const
) {
  Deno.test(`a message written into a clone whose rebase a killed engine left ${state} lands on the branch, and the next start's recovery loses nothing`, async () => {
    await using dir = await tempDir();
    const { machines: [a, b] } = await network(dir.path, 2);
    await b!.sync.sync();
    const root = b!.transport.root;
    const before = await send(b!, "before");
    if (stop === "conflict") {
      // What a sync that dies in a claim race leaves.
      await stopRebaseOnConflict(a!, b!);
    } else {
      // A rebase that has detached HEAD and not yet put the branch back.
      await git(root, "-c", "sequence.editor=sed -i 1ibreak", "rebase", "-q", "-i", "HEAD~1");
    }
    assert.equal((await git(root, "symbolic-ref", "-q", "HEAD").catch(() => "")).trim(), "");
    const repairs: string[][] = [];
    b!.transport.onRepair((done) => repairs.push(done));

    const during = await send(b!, "during");
    const atNextStart = await b!.sync.recover();

    const committed = await git(root, "ls-files", "data/channels");
    for (const m of [before, during]) {
      const path = relative(root, b!.transport.messagePath(m));
      assert.ok(committed.includes(path), `${m.body} is committed on the branch`);
      assert.ok(await exists(join(root, path)), `${m.body} is still on disk`);
    }
    assert.deepEqual(repairs, [["aborted an interrupted rebase"]], "the commit aborted it first");
    assert.deepEqual(atNextStart, [], "nothing was left to repair at the next start");
    assert.equal((await git(root, "symbolic-ref", "HEAD")).trim(), "refs/heads/main");
    await b!.sync.sync({ push: true });
    await a!.sync.sync();
    const there = await a!.transport.readMessage(a!.channel, during.id);
    assert.equal(there.body.trim(), "during", "it reaches the other machine");
  });
}

Deno.test("presence travels outside the branch: published, fetched by others, withdrawn", async () => {
  await using dir = await tempDir();
  const { remote, machines: [a, b] } = await network(dir.path, 2);
  const before = (await git(remote, "rev-parse", "main")).trim();
  await a!.sync.publishPresence({
    alias: "a",
    instance: "i1",
    host: "h",
    pid: 1,
    at: new Date().toISOString(),
    api: "http://127.0.0.1:1",
  });
  assert.equal((await git(remote, "rev-parse", "main")).trim(), before, "no commit on main");
  await b!.sync.sync();
  const seen = await b!.sync.presence();
  assert.equal(seen.get("a")?.instance, "i1");
  assert.equal(seen.get("a")?.api, "http://127.0.0.1:1");
  await a!.sync.withdrawPresence("a");
  await b!.sync.sync();
  assert.equal((await b!.sync.presence()).has("a"), false);
});

Deno.test("readRef reads HEAD and branch refs from loose files and packed-refs, like git rev-parse", async () => {
  const { readRef } = await import("../../transports/_git.ts");
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "git" });
  const head = (await git(dir.path, "rev-parse", "HEAD")).trim();
  assert.equal(await readRef(dir.path, "HEAD"), head);
  assert.equal(await readRef(dir.path, "refs/heads/main"), head);
  assert.equal(await readRef(dir.path, "refs/remotes/origin/main"), undefined);
  await git(dir.path, "pack-refs", "--all");
  assert.equal(await readRef(dir.path, "refs/heads/main"), head, "from packed-refs");
  await git(dir.path, "checkout", "-q", "--detach");
  assert.equal(await readRef(dir.path, "HEAD"), head, "a detached HEAD");
  assert.equal(await readRef(dir.path, "refs/../../etc/passwd"), null, "never outside .git/refs");
});

/**
 * A `git commit -a` in `root` that holds `index.lock` until `release()`: its pre-commit hook (git
 * runs it with the lock held) waits for a file, as a crashed engine's git would go on after it.
 */
async function blockedCommit(root: string) {
  const gate = join(root, "..", `release-${crypto.randomUUID()}`);
  const hook = join(root, ".git", "hooks", "pre-commit");
  await Deno.writeTextFile(hook, `#!/bin/sh\nwhile [ ! -e "${gate}" ]; do sleep 0.02; done\n`);
  await Deno.chmod(hook, 0o755);
  // A tracked file changed, for -a to stage (and so to lock the index).
  const file = join(root, "data", "held");
  await Deno.writeTextFile(file, "held");
  await git(root, "add", "data/held");
  await git(root, "commit", "-q", "--no-verify", "-m", "before");
  await Deno.writeTextFile(file, "held again");
  const child = new Deno.Command("git", {
    args: ["commit", "-q", "-a", "-m", "held"],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let ended = false;
  const output = child.output().finally(() => ended = true);
  await waitUntil(() => exists(join(root, ".git", "index.lock")) || undefined);
  return {
    pid: child.pid,
    ended: () => ended,
    release: () => Deno.writeTextFile(gate, ""),
    output,
  };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test("waitForGitProcesses sees a git command working in the clone and returns once it has ended", async () => {
  const { gitProcessesIn, waitForGitProcesses } = await import("../../transports/_git.ts");
  await using dir = await tempDir();
  const { machines: [a] } = await network(dir.path, 1);
  const root = a!.transport.root;
  const commit = await blockedCommit(root);
  assert.deepEqual(await gitProcessesIn(root), [commit.pid]);
  assert.deepEqual(await gitProcessesIn(dir.path), [], "only the clone's own");
  const waiting = waitForGitProcesses(root, 30_000);
  await commit.release();
  assert.deepEqual(await waiting, []);
  assert.ok(commit.ended(), "returned only after the git command ended");
  assert.equal((await commit.output).code, 0);
  // At its deadline it answers with what still runs.
  const another = await blockedCommit(root);
  assert.deepEqual(await waitForGitProcesses(root, 0), [another.pid]);
  await another.release();
  assert.equal((await another.output).code, 0);
});

Deno.test("recovery after a crash lets a git command the crashed engine left running finish before it removes locks, so the index stays whole", async () => {
  await using dir = await tempDir();
  const { machines: [a] } = await network(dir.path, 1);
  const root = a!.transport.root;
  const commit = await blockedCommit(root);
  const recovering = a!.sync.recover();
  await commit.release();
  const done = await recovering;
  const committed = await commit.output;
  assert.equal(committed.code, 0, new TextDecoder().decode(committed.stderr));
  assert.ok(!done.some((d) => /still running/.test(d)), done.join("; "));
  assert.equal((await git(root, "status", "--porcelain")).trim(), "", "the index is whole");
  assert.equal((await git(root, "show", "-s", "--format=%s", "HEAD")).trim(), "held");
});

// `crosstalk transport init | list | rm | check`, run as the real CLI on temp folders.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import {
  channelId,
  expectCode,
  git,
  initTransport,
  listFiles,
  runCrosstalk,
  snapshot,
} from "./_cli.ts";

const TEMPLATE_FILES = [
  "CROSSTALK-VERSION",
  "CROSSTALK.md",
  "PROTOCOL.md",
  "README.md",
  "auth/README.md",
  "data/crosstalk.schema.json",
  "data/crosstalk.yaml",
  "local/actors/orchestrator.md",
];

async function isDir(path: string): Promise<boolean> {
  return (await Deno.stat(path).catch(() => undefined))?.isDirectory ?? false;
}

Deno.test("transport init makes a git repository with one commit holding the template and a general channel", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "bus");
  const init = await expectCode(0, ["transport", "init", "--path", root], { home });
  assert.match(init.stdout, /Created a git transport at .*bus/);

  assert.equal((await git(root, home, "rev-list", "--count", "HEAD")).trim(), "1");
  const tree = (await git(root, home, "ls-tree", "-r", "--name-only", "HEAD")).trim().split("\n");
  for (const file of [...TEMPLATE_FILES, ".gitignore"]) {
    assert.ok(tree.includes(file), `${file} is committed (tree: ${tree.join(", ")})`);
  }
  const general = await channelId(root, "general");
  assert.ok(
    tree.includes(`data/channels/${general}/CHANNEL.md`),
    "the general channel is committed",
  );
  assert.equal(tree.filter((f) => f.endsWith("/CHANNEL.md")).length, 1, "exactly one channel");
  assert.equal(await git(root, home, "status", "--porcelain"), "", "the working tree is clean");
  assert.match(await Deno.readTextFile(join(root, "data/crosstalk.yaml")), /^transport: git$/m);
  assert.equal((await Deno.readTextFile(join(root, "CROSSTALK-VERSION"))).trim(), "8");
  // The state of a --path transport lives outside it.
  assert.ok(!(await listFiles(root)).some((f) => f.includes("crosstalk-state")));

  const channels = await expectCode(0, ["channel", "list", "--path", root, "--json"], { home });
  assert.deepEqual(
    JSON.parse(channels.stdout).map((c: { id: string; name: string }) => [c.id, c.name]),
    [[general, "general"]],
  );
});

Deno.test("transport init --transport local writes no .git and says transport: local", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "plain");
  const init = await expectCode(0, ["transport", "init", "--path", root, "--transport", "local"], {
    home,
  });
  assert.match(init.stdout, /Created a local transport at/);
  assert.ok(!(await isDir(join(root, ".git"))), "no .git folder");
  const files = await listFiles(root);
  for (const file of TEMPLATE_FILES) assert.ok(files.includes(file), `${file} is written`);
  const yaml = await Deno.readTextFile(join(root, "data/crosstalk.yaml"));
  assert.match(yaml, /^transport: local$/m);
  assert.doesNotMatch(yaml, /^transport: git$/m);
  await channelId(root, "general");

  const validate = await expectCode(0, ["config", "validate", "--path", root, "--json"], { home });
  assert.equal(JSON.parse(validate.stdout).transport, "local");
});

Deno.test("transport init --containername, list and rm keep the transport and its state side by side", async (t) => {
  await using dir = await tempDir();
  const home = dir.path;
  const base = join(home, ".local/share/crosstalk");
  const root = join(base, "proj", "transport");
  const state = join(base, "proj", "crosstalk-state");

  await t.step("init puts the transport and its state under $XDG_DATA_HOME", async () => {
    const init = await expectCode(0, ["transport", "init", "--containername", "proj"], { home });
    assert.match(init.stdout, new RegExp(`Created a git transport at ${root}`));
    assert.match(init.stdout, new RegExp(`Machine-local state: ${state}`));
    assert.match(init.stdout, /crosstalk serve --containername proj/);
    assert.ok(await isDir(join(root, ".git")));
    assert.ok(await isDir(state), "the state folder exists beside the transport");
    assert.ok(!(await listFiles(root)).some((f) => f.includes("crosstalk-state")));
    await expectCode(0, ["transport", "init", "--containername", "other", "--transport", "local"], {
      home,
    });
  });

  await t.step("list names every transport with its kind", async () => {
    const text = await expectCode(0, ["transport", "list"], { home });
    assert.match(text.stdout, /^NAME\s+KIND\s+PATH$/m);
    assert.match(text.stdout, new RegExp(`^other\\s+local\\s+${base}/other/transport$`, "m"));
    assert.match(text.stdout, new RegExp(`^proj\\s+git\\s+${root}$`, "m"));
    const json = await expectCode(0, ["transport", "list", "--json"], { home });
    assert.deepEqual(JSON.parse(json.stdout), [
      { name: "other", root: join(base, "other", "transport"), kind: "local" },
      { name: "proj", root, kind: "git" },
    ]);
  });

  await t.step("rm without --yes refuses and changes nothing", async () => {
    const before = await snapshot(home);
    const refused = await expectCode(64, ["transport", "rm", "proj"], { home });
    assert.match(refused.stderr, /--yes/);
    assert.match(refused.stderr, new RegExp(root));
    assert.deepEqual(await snapshot(home), before);
  });

  await t.step("rm --yes removes the transport and its state", async () => {
    const removed = await expectCode(0, ["transport", "rm", "proj", "--yes"], { home });
    assert.match(removed.stdout, /Removed/);
    assert.ok(!(await isDir(root)), "transport removed");
    assert.ok(!(await isDir(state)), "state removed");
    const json = await expectCode(0, ["transport", "list", "--json"], { home });
    assert.deepEqual(JSON.parse(json.stdout).map((t: { name: string }) => t.name), ["other"]);
    await expectCode(0, ["transport", "rm", "other", "--yes"], { home });
    const empty = await expectCode(0, ["transport", "list"], { home });
    assert.match(empty.stdout, /No transports yet/);
  });

  await t.step("rm of a name that is not there fails and says so", async () => {
    const missing = await expectCode(66, ["transport", "rm", "ghost", "--yes"], { home });
    assert.match(missing.stderr, /ghost/);
  });

  await t.step("rm never removes anything outside a named transport", async () => {
    // A folder in the storage that is not a transport, and names that would leave the storage.
    await Deno.mkdir(join(base, "notone", "transport"), { recursive: true });
    await Deno.writeTextFile(join(base, "notone", "transport", "keep.txt"), "mine\n");
    await Deno.writeTextFile(join(home, "keep.txt"), "mine\n");
    const before = await snapshot(home);
    const notOne = await expectCode(66, ["transport", "rm", "notone", "--yes"], { home });
    assert.match(notOne.stderr, /Not a transport/);
    for (const name of ["..", ".", "../..", "../../..", "a/b", "/tmp"]) {
      const refused = await expectCode(64, ["transport", "rm", name, "--yes"], { home });
      assert.match(refused.stderr, /Invalid --containername/, name);
    }
    assert.deepEqual(await snapshot(home), before);
  });
});

// Regression (fixed): `transport rm` removes the *overridden* state folder (CROSSTALK_STATE_DIR or --state)
// recursively, with whatever else is in it, and leaves the container's own crosstalk-state and
// the (then empty) container folder behind.
Deno.test({
  name: "transport rm removes only the container's own folders, even with CROSSTALK_STATE_DIR set",
  async fn() {
    await using dir = await tempDir();
    const home = dir.path;
    const container = join(home, ".local/share/crosstalk/proj");
    await expectCode(0, ["transport", "init", "--containername", "proj"], { home });
    const shared = join(home, "my-state");
    await Deno.mkdir(shared);
    await Deno.writeTextFile(join(shared, "precious.txt"), "not crosstalk's\n");
    const removed = await runCrosstalk(["transport", "rm", "proj", "--yes"], {
      home,
      env: { CROSSTALK_STATE_DIR: shared },
    });
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(
      await Deno.readTextFile(join(shared, "precious.txt")),
      "not crosstalk's\n",
      "a file in CROSSTALK_STATE_DIR survives",
    );
    assert.ok(!(await isDir(join(container, "crosstalk-state"))), "the container's state is gone");
    assert.ok(!(await isDir(container)), "the container folder is gone");
  },
});

Deno.test("transport init refuses to overwrite an existing transport and changes nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "git");
  await expectCode(0, ["transport", "init", "--containername", "named"], { home });
  const before = await snapshot(home);

  for (const kind of ["git", "local"]) {
    const again = await expectCode(73, [
      "transport",
      "init",
      "--path",
      root,
      "--transport",
      kind,
    ], { home });
    assert.match(again.stderr, /already a crosstalk transport/);
    assert.match(again.stderr, new RegExp(root));
    assert.equal(again.stdout, "");
  }
  await expectCode(73, ["transport", "init", "--containername", "named"], { home });
  assert.deepEqual(await snapshot(home), before);

  // A folder that is not a transport yet, but holds a file the template would overwrite.
  const occupied = join(home, "occupied");
  await Deno.mkdir(occupied);
  await Deno.writeTextFile(join(occupied, "README.md"), "my own readme\n");
  const beforeOccupied = await snapshot(home);
  const refused = await expectCode(73, ["transport", "init", "--path", occupied], { home });
  assert.match(refused.stderr, /"README.md" already exists/);
  assert.deepEqual(await snapshot(home), beforeOccupied);
});

Deno.test("transport init --remote sets origin, and clones a remote that already holds a transport", async (t) => {
  await using dir = await tempDir();
  const home = dir.path;
  const remote = join(home, "remote.git");
  await git(home, home, "init", "-q", "--bare", "--initial-branch=main", remote);
  const first = join(home, "first");
  const second = join(home, "second");

  await t.step("an empty remote: a new transport with origin set", async () => {
    const init = await expectCode(0, ["transport", "init", "--path", first, "--remote", remote], {
      home,
    });
    assert.match(init.stdout, /Created a git transport at/);
    assert.equal((await git(first, home, "remote", "get-url", "origin")).trim(), remote);
    assert.equal((await git(first, home, "rev-list", "--count", "HEAD")).trim(), "1");
    await git(first, home, "push", "-q", "origin", "main");
  });

  await t.step("a remote with a transport: cloned, same history and channels", async () => {
    const init = await expectCode(0, ["transport", "init", "--path", second, "--remote", remote], {
      home,
    });
    assert.match(init.stdout, new RegExp(`Cloned ${remote} into ${second}`));
    assert.equal(
      (await git(second, home, "rev-parse", "HEAD")).trim(),
      (await git(first, home, "rev-parse", "HEAD")).trim(),
    );
    assert.equal(await channelId(second, "general"), await channelId(first, "general"));
    // The clone can be written to right away: it has a commit identity of its own.
    const sent = await expectCode(0, [
      "message",
      "send",
      "--path",
      second,
      "--to",
      "echo",
      "hello from the clone",
    ], { home });
    assert.match(await git(second, home, "log", "-1", "--format=%B"), new RegExp(sent.stdout));
  });

  await t.step("--remote with --transport local is a usage error", async () => {
    const before = await snapshot(home);
    const refused = await expectCode(64, [
      "transport",
      "init",
      "--path",
      join(home, "third"),
      "--transport",
      "local",
      "--remote",
      remote,
    ], { home });
    assert.match(refused.stderr, /--remote needs --transport git/);
    assert.deepEqual(await snapshot(home), before);
  });
});

// Regression (fixed): `git init --bare` leaves HEAD at refs/heads/master (git's default), the transport
// pushes `main`, and `git clone` then checks nothing out: init fails with "not a crosstalk
// transport" and leaves a `.git` folder behind that blocks the next try.
Deno.test({
  name: "transport init --remote clones a transport from a bare remote whose HEAD is not main",
  async fn() {
    await using dir = await tempDir();
    const home = dir.path;
    const remote = join(home, "remote.git");
    await git(home, home, "init", "-q", "--bare", "--initial-branch=master", remote);
    const first = await initTransport(home, "first", "git");
    await git(first, home, "remote", "add", "origin", remote);
    await git(first, home, "push", "-q", "origin", "main");
    const second = join(home, "second");
    const init = await runCrosstalk(["transport", "init", "--path", second, "--remote", remote], {
      home,
    });
    assert.equal(init.code, 0, init.stderr);
    assert.equal(await channelId(second, "general"), await channelId(first, "general"));
  },
});

// Regression (fixed): the folder is made before `git ls-remote` runs and is not removed when it fails.
Deno.test({
  name: "transport init with an unreachable remote fails and leaves no folder behind",
  async fn() {
    await using dir = await tempDir();
    const home = dir.path;
    const before = await snapshot(home);
    const target = join(home, "bus");
    const failed = await expectCode(75, [
      "transport",
      "init",
      "--path",
      target,
      "--remote",
      join(home, "no-such-remote.git"),
    ], { home });
    assert.match(failed.stderr, /git ls-remote failed/);
    assert.deepEqual(
      await snapshot(home),
      before,
      "nothing is created when the remote is unusable",
    );
  },
});

Deno.test("transport check lists invalid messages, stray files and a missing CHANNEL.md, and exits 1", async (t) => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const general = await channelId(root, "general");
  const channelDir = join(root, "data/channels", general);

  await t.step("a clean transport exits 0", async () => {
    await expectCode(0, ["message", "send", "--path", root, "--to", "echo", "a good one"], {
      home,
    });
    const clean = await expectCode(0, ["transport", "check", "--path", root], { home });
    assert.match(clean.stdout, /^1 channels, 1 messages, 0 errors, 0 warnings$/m);
  });

  const day = join(channelDir, "2026/11/22");
  await Deno.mkdir(day, { recursive: true });
  const ts = "timestamp: 2026-11-22T03:15:22.123Z";
  const bad: Record<string, string | Uint8Array> = {
    "031500001Z-00000001.md": "---\nfrom: [steve\nto: sonnet\n---\n\nbroken yaml\n",
    "031500002Z-00000002.md": `---\nto: sonnet\n${ts}\n---\n\nno sender\n`,
    "031500003Z-00000003.md": `---\nfrom: steve\nto: sonnet\n${ts}\ntype: banana\n---\n\nx\n`,
    "031500004Z-00000004.md": `---\nfrom: ste\0ve\nto: sonnet\n${ts}\n---\n\nnul\n`,
    "031500005Z-00000005.md": new Uint8Array([
      ...new TextEncoder().encode("---\nfrom: "),
      0xff,
      0xfe,
      0x00,
      0x81,
      ...new TextEncoder().encode("\n---\n"),
    ]),
  };
  for (const [name, content] of Object.entries(bad)) {
    if (typeof content === "string") await Deno.writeTextFile(join(day, name), content);
    else await Deno.writeFile(join(day, name), content);
  }
  await Deno.writeTextFile(join(channelDir, "notes.md"), "# my notes\n");
  const orphan = "0e0e0e0e-1111-4222-8333-444455556666";
  await Deno.mkdir(join(root, "data/channels", orphan, "2026/11/22"), { recursive: true });

  await t.step("every problem is listed with its file", async () => {
    const before = await snapshot(root);
    const report = await expectCode(1, ["transport", "check", "--path", root], { home });
    const rel = (name: string) => `data/channels/${general}/2026/11/22/${name}`;
    const lines = report.stdout.split("\n");
    const lineAbout = (file: string, pattern: RegExp) =>
      assert.ok(
        lines.some((l) => l.includes(`"${file}"`) && pattern.test(l)),
        `a line about ${file} matching ${pattern} in:\n${report.stdout}`,
      );
    lineAbout(rel("031500001Z-00000001.md"), /^error: .* \d+:\d+/);
    lineAbout(rel("031500002Z-00000002.md"), /^error: .*from is required/);
    lineAbout(rel("031500003Z-00000003.md"), /^error: .*type must be "workflow".*banana/);
    lineAbout(rel("031500004Z-00000004.md"), /^error: .*U\+0000/);
    lineAbout(rel("031500005Z-00000005.md"), /^error: .*not valid UTF-8/);
    lineAbout(`data/channels/${general}/notes.md`, /^error: .*not a message/);
    lineAbout(`data/channels/${orphan}/CHANNEL.md`, /^error: .*is missing/);
    assert.match(report.stdout, /^2 channels, 6 messages, 7 errors, 0 warnings$/m);
    assert.deepEqual(await snapshot(root), before, "check only reads");
  });

  await t.step("--json gives the same findings with positions", async () => {
    const json = await expectCode(1, ["transport", "check", "--path", root, "--json"], { home });
    const report = JSON.parse(json.stdout);
    assert.equal(report.channels, 2);
    assert.equal(report.messages, 6);
    assert.equal(report.findings.length, 7);
    for (const f of report.findings) {
      assert.ok(["error", "warning"].includes(f.severity));
      assert.equal(typeof f.file, "string");
      assert.equal(typeof f.line, "number");
      assert.equal(typeof f.column, "number");
      assert.equal(typeof f.message, "string");
    }
    const sender = report.findings.find((f: { file: string }) =>
      f.file.endsWith("031500002Z-00000002.md")
    );
    assert.equal(sender.path, "from");
    assert.deepEqual(sender.ref, { channel: general, id: "2026/11/22/031500002Z-00000002.md" });
  });

  await t.step("readers skip the invalid files and say so", async () => {
    const list = await expectCode(0, ["message", "list", "--path", root], { home });
    assert.equal(list.stdout.trim().split("\n").length, 1, "only the good message is listed");
    assert.match(list.stderr, /5 invalid message files skipped/);
  });
});

Deno.test("commands on a folder that is not a transport fail naming the path and change nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const notTransport = join(home, "just-a-folder");
  await Deno.mkdir(notTransport);
  await Deno.writeTextFile(join(notTransport, "file.txt"), "hello\n");
  const missing = join(home, "nowhere");
  const before = await snapshot(home);
  const commands = [
    ["transport", "check"],
    ["config", "validate"],
    ["channel", "list"],
    ["channel", "create", "x"],
    ["message", "list"],
    ["message", "send", "--to", "echo", "hi"],
    ["serve"],
  ];
  for (const command of commands) {
    const notOne = await runCrosstalk([...command, "--path", notTransport], { home });
    assert.equal(notOne.code, 66, `${command.join(" ")}: ${notOne.stderr}`);
    assert.match(notOne.stderr, new RegExp(`Not a transport: "${notTransport}"`));
    assert.match(notOne.stderr, /CROSSTALK-VERSION/);
    const none = await runCrosstalk([...command, "--path", missing], { home });
    assert.equal(none.code, 66, `${command.join(" ")}: ${none.stderr}`);
    assert.match(none.stderr, new RegExp(`No transport at "${missing}"`));
  }
  assert.deepEqual(await snapshot(home), before);
});

// The CLI on git clones of a bare remote, with no engine running: writes are committed and
// pushed by the command itself, so that other machines see them.
import assert from "node:assert/strict";
import { join } from "node:path";
import { git, runCrosstalk, tempDir } from "../_helpers.ts";

Deno.test("a direct send on a clone pushes the message; a second machine that joins finds it", async () => {
  await using dir = await tempDir();
  const remote = join(dir.path, "remote.git");
  await git(dir.path, "init", "-q", "--bare", "-b", "main", remote);
  const home = dir.path;
  const a = join(dir.path, "a");
  const run = (args: string[]) => runCrosstalk(args, { home });
  assert.equal(
    (await run(["transport", "init", "--transport", "git", "--remote", remote, "--path", a])).code,
    0,
  );
  const sent = await run(["message", "send", "--path", a, "--to", "echo", "--json", "hello b"]);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(sent.stderr, "", "no warning: the push went through");
  const id = JSON.parse(sent.stdout).id as string;
  assert.ok((await git(remote, "log", "--format=%B", "main")).includes(id));

  const b = join(dir.path, "b");
  const joined = await run([
    "transport",
    "init",
    "--transport",
    "git",
    "--remote",
    remote,
    "--path",
    b,
  ]);
  assert.equal(joined.code, 0, joined.stderr);
  const shown = await run(["message", "show", "--path", b, id]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /hello b/);
});

Deno.test("a direct send while the remote is unreachable is kept, committed, with a warning", async () => {
  await using dir = await tempDir();
  const remote = join(dir.path, "remote.git");
  await git(dir.path, "init", "-q", "--bare", "-b", "main", remote);
  const a = join(dir.path, "a");
  const run = (args: string[]) => runCrosstalk(args, { home: dir.path });
  await run(["transport", "init", "--transport", "git", "--remote", remote, "--path", a]);
  await Deno.rename(remote, `${remote}.away`);
  const sent = await run(["message", "send", "--path", a, "--to", "echo", "--json", "offline"]);
  assert.equal(sent.code, 0, "the send itself succeeded");
  assert.match(sent.stderr, /committed here, not yet pushed: Cannot reach the remote origin/);
  const id = JSON.parse(sent.stdout).id as string;
  assert.ok((await git(a, "log", "--format=%B")).includes(id), "committed in the clone");
  assert.equal((await git(a, "status", "--porcelain")).trim(), "");
});

Deno.test("init on an empty remote pushes at once, so a machine that joins right after shares its channels", async () => {
  await using dir = await tempDir();
  const remote = join(dir.path, "remote.git");
  await git(dir.path, "init", "-q", "--bare", "-b", "main", remote);
  const run = (args: string[]) => runCrosstalk(args, { home: dir.path });
  const a = join(dir.path, "a");
  const b = join(dir.path, "b");
  const first = await run([
    "transport",
    "init",
    "--transport",
    "git",
    "--remote",
    remote,
    "--path",
    a,
  ]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /Pushed it to /);
  const second = await run([
    "transport",
    "init",
    "--transport",
    "git",
    "--remote",
    remote,
    "--path",
    b,
  ]);
  assert.match(second.stdout, /^Cloned /);
  const channels = async (root: string) =>
    JSON.parse((await run(["channel", "list", "--path", root, "--json"])).stdout) as {
      id: string;
      name: string;
    }[];
  const [onA, onB] = [await channels(a), await channels(b)];
  assert.equal(onA.filter((c) => c.name === "general").length, 1);
  assert.deepEqual(onB.map((c) => c.id), onA.map((c) => c.id), "one general channel, shared");
});

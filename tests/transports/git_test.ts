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
  // Channels are folders: created and deleted as a whole.
  const channel = await transport.createChannel({ name: "folders" });
  await transport.deleteChannel(channel.id);
  assert.equal((await git(dir.path, "status", "--porcelain")).trim(), "");
  assert.equal((await git(dir.path, "ls-files", `data/channels/${channel.id}`)).trim(), "");
});

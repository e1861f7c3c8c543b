import assert from "node:assert/strict";
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

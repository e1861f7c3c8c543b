// The build's commit: a source checkout says "dev", a stamped build says its commit.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BUILD_INFO,
  headCommit,
  renderBuildInfo,
  SOURCE_COMMIT,
  withStamp,
} from "../../scripts/gen_version.ts";
import { tempDir } from "../_helpers.ts";
import { expectCode } from "../cli/_cli.ts";

Deno.test("the committed engine/build_info.ts is the source checkout's (a stamp was not left behind)", async () => {
  assert.equal(await Deno.readTextFile(BUILD_INFO), renderBuildInfo(SOURCE_COMMIT));
});

Deno.test("withStamp writes the commit for the build, then writes dev back even when the build fails", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "build_info.ts");
  const seen = await withStamp(file, "abc123def456", () => Deno.readTextFile(file));
  assert.match(seen, /export const COMMIT: string = "abc123def456";/);
  assert.equal(await Deno.readTextFile(file), renderBuildInfo("dev"));
  await assert.rejects(
    withStamp(file, "abc123def456", () => Promise.reject(new Error("bundle failed"))),
    /bundle failed/,
  );
  assert.equal(await Deno.readTextFile(file), renderBuildInfo("dev"));
  assert.throws(() => renderBuildInfo('x"; evil()'), RangeError);
});

Deno.test("headCommit names HEAD of a repository, marked -dirty with uncommitted changes", async () => {
  await using dir = await tempDir();
  const git = (...args: string[]) =>
    new Deno.Command("git", {
      args: ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args],
      cwd: dir.path,
      env: { GIT_CONFIG_NOSYSTEM: "1", HOME: dir.path },
      stdout: "piped",
      stderr: "piped",
    }).output();
  await git("init", "-q");
  await Deno.writeTextFile(join(dir.path, "a.txt"), "one\n");
  await git("add", "a.txt");
  await git("commit", "-q", "-m", "one");
  const head = new TextDecoder().decode((await git("rev-parse", "--short=12", "HEAD")).stdout)
    .trim();
  assert.equal(await headCommit(dir.path), head);
  await Deno.writeTextFile(join(dir.path, "a.txt"), "two\n");
  assert.equal(await headCommit(dir.path), `${head}-dirty`);
});

Deno.test("crosstalk version prints the version, the commit and the protocol", async () => {
  await using dir = await tempDir();
  const text = await expectCode(0, ["version"], { home: dir.path });
  assert.match(text.stdout, /^crosstalk \d+\.\d+\.\d+ \(commit dev, protocol 8\)\n$/);
  const json = JSON.parse((await expectCode(0, ["version", "--json"], { home: dir.path })).stdout);
  assert.deepEqual(Object.keys(json), ["version", "commit", "protocol"]);
  assert.equal(json.commit, "dev");
});

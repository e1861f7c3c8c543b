// Ancestry from loose git objects (transports/_git.ts) against git's own answers, on a real
// repository with a fork in its history; packed history makes it defer to git.
import assert from "node:assert/strict";
import { join } from "node:path";
import { aheadLoose, isAncestorLoose, looseParents } from "../../transports/_git.ts";
import { git, tempDir } from "../_helpers.ts";

async function newRepo(repo: string): Promise<void> {
  await git(repo, "init", "-q", "-b", "main");
  await git(repo, "config", "user.email", "t@example.org");
  await git(repo, "config", "user.name", "t");
}

async function commit(repo: string, name: string): Promise<string> {
  await Deno.writeTextFile(join(repo, name), name);
  await git(repo, "add", name);
  await git(repo, "commit", "-q", "-m", name);
  return (await git(repo, "rev-parse", "HEAD")).trim();
}

async function gitSays(repo: string, a: string, b: string): Promise<boolean> {
  const out = await new Deno.Command("git", {
    args: ["merge-base", "--is-ancestor", a, b],
    cwd: repo,
  }).output();
  return out.code === 0;
}

Deno.test("isAncestorLoose answers as git merge-base --is-ancestor does, across a fork", async () => {
  await using dir = await tempDir();
  const repo = dir.path;
  await newRepo(repo);
  const base = [await commit(repo, "a"), await commit(repo, "b")];
  await git(repo, "checkout", "-q", "-b", "side");
  const side = [await commit(repo, "s1"), await commit(repo, "s2")];
  await git(repo, "checkout", "-q", "main");
  const main = [await commit(repo, "m1"), await commit(repo, "m2"), await commit(repo, "m3")];
  const all = [...base, ...side, ...main];
  for (const a of all) {
    for (const b of all) {
      assert.equal(
        await isAncestorLoose(repo, { base: a, head: b }),
        await gitSays(repo, a, b),
        `${a} ${b}`,
      );
    }
  }
  assert.deepEqual(await looseParents(repo, main[0]!), [base[1]]);
  assert.deepEqual(await looseParents(repo, base[0]!), [], "the root commit has no parent");
});

Deno.test("isAncestorLoose defers to git (null) when history is packed or longer than its limit", async () => {
  await using dir = await tempDir();
  const repo = dir.path;
  await newRepo(repo);
  const commits: string[] = [];
  for (let i = 0; i < 6; i++) commits.push(await commit(repo, `f${i}`));
  assert.equal(
    await isAncestorLoose(repo, { base: commits[0]!, head: commits[5]!, limit: 3 }),
    null,
    "past the limit",
  );
  await git(repo, "gc", "-q");
  assert.equal(await looseParents(repo, commits[5]!), null, "packed");
  assert.equal(await isAncestorLoose(repo, { base: commits[0]!, head: commits[5]! }), null);
  assert.equal(
    await isAncestorLoose(repo, { base: commits[5]!, head: commits[5]! }),
    true,
    "a commit is its own",
  );
  assert.equal(await looseParents(repo, "not a sha"), null);
});

Deno.test("aheadLoose counts like git rev-list --count base..head, and defers on a fork", async () => {
  await using dir = await tempDir();
  const repo = dir.path;
  await newRepo(repo);
  const base = await commit(repo, "a");
  const mine = [await commit(repo, "b"), await commit(repo, "c"), await commit(repo, "d")];
  const count = async (from: string, to: string) =>
    Number((await git(repo, "rev-list", "--count", `${from}..${to}`)).trim());
  assert.equal(await aheadLoose(repo, { base, head: mine[2]! }), await count(base, mine[2]!));
  assert.equal(await aheadLoose(repo, { base: mine[2]!, head: mine[2]! }), 0);
  await git(repo, "checkout", "-q", "-b", "side", base);
  const side = await commit(repo, "s");
  assert.equal(
    await aheadLoose(repo, { base: mine[2]!, head: side }),
    null,
    "not an ancestor: ask git",
  );
  assert.equal(
    await aheadLoose(repo, { base, head: mine[2]!, limit: 2 }),
    null,
    "past the limit",
  );
});

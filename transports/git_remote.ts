/**
 * A git transport's `origin`, set or removed after the clone was made (`crosstalk transport
 * remote`): what a remote holds, seen from the clone before it becomes the clone's origin, and
 * the config changes themselves. Pushing is GitSync's (git_sync.ts).
 */
import { CrosstalkError } from "../schema/errors.ts";
import { git, gitDetail } from "./_git.ts";
import { redactUrl, remoteUrl } from "./git_sync.ts";

const ORIGIN = "origin";
const PRESENCE_PREFIX = "refs/crosstalk/presence/";

/** What a remote holds, seen from a clone that would push its branch to it. */
export type RemoteFit =
  /** No branch at all: the first push creates the clone's. */
  | { kind: "empty" }
  /** The clone's branch, at a commit of the clone's history: a push fast-forwards it. */
  | { kind: "behind"; head: string }
  /** The clone's branch, on the same history with commits the clone lacks: a sync merges them. */
  | { kind: "ahead"; head: string }
  /** The clone's branch with a history of its own: another transport or another repository. */
  | { kind: "unrelated"; head: string }
  /** Branches, none of them the clone's: some other repository. */
  | { kind: "foreign"; branches: string[] };

/** Options for {@linkcode probeRemote}. */
export interface ProbeOptions {
  /** The clone's branch. */
  branch: string;
  /** Kill a network command after this long. */
  timeoutMs: number;
}

/**
 * Looks at `url` from the clone at `root` without making it a remote: lists its branches and,
 * when it has the clone's, fetches that branch's commits (objects only: no ref of the clone
 * changes) to see how it relates to HEAD.
 *
 * @throws {CrosstalkError} `ERR_GIT_FAILED` when the remote cannot be reached or read
 */
export async function probeRemote(
  root: string,
  url: string,
  options: ProbeOptions,
): Promise<RemoteFit> {
  const network = async (args: string[]) => {
    const result = await git(args, { cwd: root, timeoutMs: options.timeoutMs, okCodes: [1, 128] });
    if (result.code === 0) return result.stdout;
    throw new CrosstalkError(
      "ERR_GIT_FAILED",
      `Cannot reach the remote "${redactUrl(url)}": ${
        gitDetail(result.stderr) || `git ${args[0]} exited with ${result.code}`
      }`,
    );
  };
  const heads = new Map<string, string>();
  for (const line of (await network(["ls-remote", "--heads", url])).split("\n")) {
    const [sha, ref] = line.split("\t");
    if (sha && ref?.startsWith("refs/heads/")) heads.set(ref.slice("refs/heads/".length), sha);
  }
  if (heads.size === 0) return { kind: "empty" };
  const head = heads.get(options.branch);
  if (head === undefined) return { kind: "foreign", branches: [...heads.keys()].sort() };
  const known = await git(["cat-file", "-e", `${head}^{commit}`], { cwd: root, okCodes: [1, 128] });
  if (known.code !== 0) {
    await network([
      "fetch",
      "-q",
      "--no-tags",
      "--no-write-fetch-head",
      url,
      `refs/heads/${options.branch}`,
    ]);
  }
  const ancestor = await git(["merge-base", "--is-ancestor", head, "HEAD"], {
    cwd: root,
    readOnly: true,
    okCodes: [1, 128],
  });
  if (ancestor.code === 0) return { kind: "behind", head };
  const base = await git(["merge-base", head, "HEAD"], {
    cwd: root,
    readOnly: true,
    okCodes: [1, 128],
  });
  return base.code === 0 ? { kind: "ahead", head } : { kind: "unrelated", head };
}

/** The branch the clone at `root` is on (`main` unless it was renamed). */
export async function currentBranch(root: string): Promise<string> {
  const out = await git(["symbolic-ref", "--short", "-q", "HEAD"], {
    cwd: root,
    readOnly: true,
    okCodes: [1],
  });
  return out.stdout.trim() || "main";
}

/**
 * Makes `url` the clone's `origin` (added, or its URL replaced) and the upstream of `branch`.
 * `head` is where the remote's branch is (from {@linkcode probeRemote}), none when it has no
 * such branch: the tracking ref is set to it, since a push may only replace what it names.
 * Returns the URL `origin` had before, if any.
 */
export async function setOrigin(
  root: string,
  url: string,
  options: { branch: string; head?: string | undefined },
): Promise<string | undefined> {
  const previous = await remoteUrl(root, ORIGIN);
  await git(
    previous === undefined ? ["remote", "add", ORIGIN, url] : ["remote", "set-url", ORIGIN, url],
    { cwd: root },
  );
  const tracking = `refs/remotes/${ORIGIN}/${options.branch}`;
  if (options.head !== undefined) await git(["update-ref", tracking, options.head], { cwd: root });
  else await git(["update-ref", "-d", tracking], { cwd: root, okCodes: [1] });
  await git(["config", `branch.${options.branch}.remote`, ORIGIN], { cwd: root });
  await git(["config", `branch.${options.branch}.merge`, `refs/heads/${options.branch}`], {
    cwd: root,
  });
  return previous;
}

/**
 * Pushes HEAD to `origin`'s `branch`, expecting that branch where {@linkcode probeRemote} saw it
 * (`expected`; none: it must not exist), whatever the clone's tracking ref says meanwhile: an
 * engine that synced with the remote `origin` named before may still move that ref. Returns
 * `pushed` when the remote's branch holds HEAD afterwards (another push may have taken it there
 * first), `behind` when it holds commits the clone lacks.
 *
 * @throws {CrosstalkError} `ERR_GIT_FAILED` when the remote cannot be reached or refuses
 */
export async function pushOrigin(
  root: string,
  options: { branch: string; expected?: string | undefined; timeoutMs: number },
): Promise<"pushed" | "behind"> {
  const { branch, timeoutMs } = options;
  const head = (await git(["rev-parse", "HEAD"], { cwd: root, readOnly: true })).stdout.trim();
  const holds = async (commit: string, descendant: string) =>
    commit === descendant ||
    (await git(["merge-base", "--is-ancestor", commit, descendant], {
        cwd: root,
        readOnly: true,
        okCodes: [1, 128],
      })).code === 0;
  let expected = options.expected ?? "";
  for (let attempt = 1;; attempt++) {
    const pushed = await git([
      "push",
      "--porcelain",
      "--no-verify",
      `--force-with-lease=refs/heads/${branch}:${expected}`,
      ORIGIN,
      `${head}:refs/heads/${branch}`,
    ], { cwd: root, timeoutMs, okCodes: [1, 128] });
    if (pushed.code === 0) {
      await git(["update-ref", `refs/remotes/${ORIGIN}/${branch}`, head], { cwd: root });
      return "pushed";
    }
    const output = pushed.stdout + pushed.stderr;
    if (!/\[rejected\]|stale info|\(fetch first\)|non-fast-forward/.test(output)) {
      throw new CrosstalkError(
        "ERR_GIT_FAILED",
        `git push to ${ORIGIN} failed: ${gitDetail(pushed.stderr) || `exit ${pushed.code}`}`,
      );
    }
    // Refused: the branch moved since it was looked at (an engine's sync pushing too).
    const listed = await git(["ls-remote", "--heads", ORIGIN, `refs/heads/${branch}`], {
      cwd: root,
      timeoutMs,
    });
    const now = listed.stdout.split("\t")[0]?.trim() ?? "";
    // It holds HEAD by now; or it is an older commit of ours, and the push goes on from there.
    if (now !== "" && await holds(head, now)) return "pushed";
    if (now !== "" && !(await holds(now, head))) return "behind";
    if (attempt >= 3) return "behind";
    expected = now;
  }
}

/**
 * Removes the clone's `origin`, with its tracking refs, the branch's upstream and the presence
 * refs fetched from it. Returns the URL it had, or undefined when there was none (nothing
 * changes then).
 */
export async function removeOrigin(root: string): Promise<string | undefined> {
  const previous = await remoteUrl(root, ORIGIN);
  if (previous === undefined) return undefined;
  await git(["remote", "remove", ORIGIN], { cwd: root });
  const refs = await git(["for-each-ref", "--format=%(refname)", PRESENCE_PREFIX], {
    cwd: root,
    readOnly: true,
  });
  for (const ref of refs.stdout.split("\n").filter((r) => r !== "")) {
    await git(["update-ref", "-d", ref], { cwd: root, okCodes: [1] });
  }
  return previous;
}

/** The branch's upstream as git shows it (`origin/main`), when it has one. */
export async function upstreamOf(root: string, branch: string): Promise<string | undefined> {
  const out = await git(
    ["rev-parse", "--abbrev-ref", "--symbolic-full-name", `${branch}@{upstream}`],
    { cwd: root, readOnly: true, okCodes: [128] },
  );
  return out.code === 0 ? out.stdout.trim() || undefined : undefined;
}

/**
 * Creating a transport: the template files, the schema, the first channel, and for git the
 * repository with its first commit.
 */
import { dirname, join, resolve } from "./path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { CONFIG_SCHEMA } from "../schema/config.ts";
import { formatChannelFile } from "./channel.ts";
import { newChannelId } from "./names.ts";
import type { TransportKind } from "./transport.ts";
import { TEMPLATE_FILES } from "./_template.ts";
import { exists, writeFileAtomic } from "./_fs.ts";
import { ensureIdentity, git } from "./_git.ts";

/** The file whose presence makes a directory a transport. */
export const VERSION_FILE = "CROSSTALK-VERSION";
export { PROTOCOL_VERSION } from "./names.ts";
/** The channel created with every transport and used when a send names none. */
export const DEFAULT_CHANNEL = "general";

/** Options for {@linkcode scaffoldTransport}. */
export interface ScaffoldOptions {
  kind: TransportKind;
  /** For git: the URL of origin. */
  remote?: string;
}

/** What {@linkcode scaffoldTransport} did. */
export interface ScaffoldResult {
  root: string;
  kind: TransportKind;
  /** True when an existing remote was cloned instead of a new transport written. */
  cloned: boolean;
  files: string[];
}

/**
 * Writes a new transport at `root`.
 *
 * @throws {CrosstalkError} `ERR_TRANSPORT_EXISTS` when `root` already holds a transport or any
 *   file the template would overwrite; `ERR_GIT_FAILED` when git is missing or fails
 */
export async function scaffoldTransport(
  root: string,
  options: ScaffoldOptions,
): Promise<ScaffoldResult> {
  root = resolve(root);
  if (await exists(join(root, VERSION_FILE))) {
    throw new CrosstalkError(
      "ERR_TRANSPORT_EXISTS",
      `Cannot init "${root}": it is already a crosstalk transport (remove it first, or use another --path)`,
    );
  }
  const files = templateFiles(options.kind);
  for (const name of Object.keys(files)) {
    if (await exists(join(root, name))) {
      throw new CrosstalkError(
        "ERR_TRANSPORT_EXISTS",
        `Cannot init "${root}": "${name}" already exists and would be overwritten`,
      );
    }
  }
  if (options.kind === "git" && options.remote) {
    const branch = await remoteBranch(options.remote, dirname(root));
    if (branch !== undefined) {
      await cloneInto(options.remote, root, branch);
      return { root, kind: "git", cloned: true, files: [] };
    }
  }
  await Deno.mkdir(root, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await writeFileAtomic(join(root, name), text);
  }
  if (options.kind === "git") {
    await git(["init", "-q", "-b", "main"], { cwd: root });
    await ensureIdentity(root);
    if (options.remote) await git(["remote", "add", "origin", options.remote], { cwd: root });
    await git(["add", "-A"], { cwd: root });
    await git(["commit", "-q", "--no-verify", "-m", "crosstalk: init transport"], { cwd: root });
  }
  return { root, kind: options.kind, cloned: false, files: Object.keys(files).sort() };
}

/**
 * The files of a new transport: the template, the schema for editors, and the default channel.
 */
export function templateFiles(kind: TransportKind): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, text] of Object.entries(TEMPLATE_FILES)) {
    const target = name === "gitignore" ? ".gitignore" : name;
    if (kind === "local" && target === ".gitignore") continue;
    files[target] = target === "data/crosstalk.yaml" && kind === "local"
      ? text.replace(/^transport: git$/m, "transport: local")
      : text;
  }
  files["data/crosstalk.schema.json"] = `${JSON.stringify(CONFIG_SCHEMA, null, 2)}\n`;
  files["data/channels/.gitkeep"] = "";
  const general = newChannelId();
  files[`data/channels/${general}/CHANNEL.md`] = formatChannelFile({
    id: general,
    name: DEFAULT_CHANNEL,
    created: new Date().toISOString(),
  });
  return files;
}

/**
 * Checks that `root` is a transport.
 *
 * @throws {CrosstalkError} `ERR_TRANSPORT_NOT_FOUND` when it does not exist,
 *   `ERR_TRANSPORT_INVALID` when it is not a transport
 */
export async function checkTransportDir(root: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CrosstalkError(
        "ERR_TRANSPORT_NOT_FOUND",
        `No transport at "${root}": run "crosstalk transport init" first`,
      );
    }
    throw error;
  }
  if (!info.isDirectory) {
    throw new CrosstalkError(
      "ERR_TRANSPORT_INVALID",
      `Not a transport: "${root}" is not a directory`,
    );
  }
  if (!(await exists(join(root, VERSION_FILE)))) {
    throw new CrosstalkError(
      "ERR_TRANSPORT_INVALID",
      `Not a transport: "${root}" has no ${VERSION_FILE} file`,
    );
  }
}

/** The branch to clone from `remote` (`main` when it has one), or undefined when it is empty. */
async function remoteBranch(remote: string, parent: string): Promise<string | undefined> {
  await Deno.mkdir(parent, { recursive: true });
  const result = await git(["ls-remote", "--heads", remote], { cwd: parent, readOnly: true });
  const heads = result.stdout.trim().split("\n").filter((l) => l !== "")
    .map((l) => l.split("\t")[1]!.replace(/^refs\/heads\//, ""));
  if (heads.length === 0) return undefined;
  return heads.includes("main") ? "main" : heads[0];
}

async function cloneInto(remote: string, root: string, branch: string): Promise<void> {
  const existed = await exists(root);
  try {
    await git(["clone", "-q", "-b", branch, remote, root], { cwd: dirname(root) });
    if (!(await exists(join(root, VERSION_FILE)))) {
      throw new CrosstalkError(
        "ERR_TRANSPORT_INVALID",
        `Cloned "${remote}" into "${root}", but it is not a crosstalk transport (no ${VERSION_FILE})`,
      );
    }
    await ensureIdentity(root);
  } catch (error) {
    // Leave nothing behind that would block a second try.
    if (!existed) await Deno.remove(root, { recursive: true }).catch(() => {});
    else await Deno.remove(join(root, ".git"), { recursive: true }).catch(() => {});
    throw error;
  }
}

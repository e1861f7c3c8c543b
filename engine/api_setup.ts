/**
 * Setting up the engine's HTTP API: its port (7000 for the default transport, 7001 upwards for
 * named ones, remembered in the state dir), the first admin, and the local CLI's credential.
 */
import { join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { writeFileAtomic } from "../transports/mod.ts";
import { randomHex } from "../transports/_fs.ts";
import type { AuthStore } from "./auth.ts";
import type { Env, TransportLocation } from "./paths.ts";

/** The port of the default transport's engine; named transports count up from the next one. */
export const DEFAULT_PORT = 7000;

/**
 * The port to listen on: `requested`, else the one remembered in the state dir, else 7000 for
 * the default transport or the first free port from 7001.
 *
 * @throws {CrosstalkError} `ERR_USAGE` for a port outside 1-65535
 */
export async function choosePort(location: TransportLocation, requested?: number): Promise<number> {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1 || requested > 65535) {
      throw new CrosstalkError("ERR_USAGE", `Invalid --port ${requested}: use 1-65535`);
    }
    return requested;
  }
  if (location.isDefault) return DEFAULT_PORT;
  const remembered = Number(
    (await Deno.readTextFile(join(location.stateDir, "api-port")).catch(() => "")).trim(),
  );
  if (Number.isInteger(remembered) && remembered > 0) return remembered;
  for (let port = DEFAULT_PORT + 1; port < DEFAULT_PORT + 200; port++) {
    if (isFree(port)) return port;
  }
  throw new CrosstalkError("ERR_USAGE", "No free port from 7001 to 7199: choose one with --port");
}

/**
 * The API address other machines are told (for nudges): `CROSSTALK_API_URL` when set (an engine
 * behind NAT or a TLS proxy, reached at an address it does not listen on), else the one it
 * listens on. `unreachable` says when that cannot work from elsewhere (a wildcard bind).
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` for a CROSSTALK_API_URL that is not a plain
 *   http(s) URL
 */
export function advertisedApi(env: Env, listening: string): { url: string; unreachable: boolean } {
  const given = env.CROSSTALK_API_URL;
  if (given === undefined || given === "") {
    const host = new URL(listening).hostname;
    return { url: listening, unreachable: host === "0.0.0.0" || host === "[::]" };
  }
  let url: URL | undefined;
  try {
    url = new URL(given);
  } catch {
    url = undefined;
  }
  if (
    !url || !["http:", "https:"].includes(url.protocol) || url.username || url.password ||
    url.search || url.hash
  ) {
    throw new CrosstalkError(
      "ERR_CONFIG_INVALID",
      `CROSSTALK_API_URL must be a plain http:// or https:// address (no user, query or #), not ${
        JSON.stringify(given)
      }`,
    );
  }
  return { url: url.href.replace(/\/+$/, ""), unreachable: false };
}

/** Records the port the API listens on, for `crosstalk status` and the CLI. */
export async function rememberPort(location: TransportLocation, port: number): Promise<void> {
  await writeFileAtomic(join(location.stateDir, "api-port"), `${port}\n`);
}

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** What first start did about users. */
export type Bootstrap =
  | { kind: "ready" }
  | { kind: "created"; username: string }
  | { kind: "setup"; token: string; file: string };

/**
 * On first start (no user yet): creates the admin from `CROSSTALK_INIT_USERNAME` and
 * `CROSSTALK_INIT_PASSPHRASE`, or else makes a one-time setup token, written 0600 to the state
 * dir, for the `/setup` page.
 */
export async function bootstrapUsers(
  auth: AuthStore,
  stateDir: string,
  env: Env,
): Promise<Bootstrap> {
  if (!auth.empty) {
    // A token file left from a setup done before (it no longer works) would mislead the CLI.
    await Deno.remove(join(stateDir, "setup-token")).catch(() => {});
    return { kind: "ready" };
  }
  const username = env.CROSSTALK_INIT_USERNAME;
  const passphrase = env.CROSSTALK_INIT_PASSPHRASE;
  if (username && passphrase) {
    await auth.createUser(username, passphrase, true);
    return { kind: "created", username };
  }
  const token = randomHex(32);
  const file = join(stateDir, "setup-token");
  await writeFileAtomic(file, `${token}\n`, { mode: 0o600 });
  return { kind: "setup", token, file };
}

/** The credential the engine leaves for the CLI on the same machine. */
export interface LocalCredential {
  server: string;
  username: string;
  token: string;
}

/**
 * Leaves a 0600 credential for the local CLI (a token of the first admin), unless a valid one is
 * already there.
 */
export async function writeLocalCredential(
  auth: AuthStore,
  stateDir: string,
  server: string,
): Promise<string | undefined> {
  const file = join(stateDir, "cli-credential.json");
  try {
    const current = JSON.parse(await Deno.readTextFile(file)) as LocalCredential;
    await auth.verifyToken(current.token);
    if (current.server === server) return file;
  } catch {
    // Missing, unreadable, revoked or for another port: write a new one.
  }
  const admin = auth.listUsers().find((u) => u.admin);
  if (!admin) return undefined;
  const { token } = await auth.mintToken(admin.username, "local CLI");
  const credential: LocalCredential = { server, username: admin.username, token };
  await writeFileAtomic(file, `${JSON.stringify(credential, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/**
 * Which process listens on a TCP port on this machine, as "pid N (command line)", when the OS
 * tells (Linux: /proc/net/tcp and the processes' socket links); undefined otherwise.
 */
export async function portHolder(port: number): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(table).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is "ADDR:PORT"; state 0A is LISTEN; field 9 is the socket's inode.
      if (fields[1]?.endsWith(`:${hex}`) && fields[3] === "0A" && fields[9]) {
        inodes.add(fields[9]);
      }
    }
  }
  if (inodes.size === 0) return undefined;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let fds: Deno.DirEntry[];
    try {
      fds = await Array.fromAsync(Deno.readDir(`/proc/${entry.name}/fd`));
    } catch {
      continue; // Gone, or not ours to look at.
    }
    for (const fd of fds) {
      const target = await Deno.readLink(`/proc/${entry.name}/fd/${fd.name}`).catch(() => "");
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) {
        const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
        const command = cmdline.split("\0").filter((p) => p !== "").join(" ").slice(0, 200);
        return `pid ${entry.name}${command ? ` (${command})` : ""}`;
      }
    }
  }
  return undefined;
}

/**
 * Setting up the engine's HTTP API: its port (7000 for the default transport, 7001 upwards for
 * named ones, remembered in the state dir), the first admin, and the local CLI's credential.
 */
import { join } from "node:path";
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
  if (!auth.empty) return { kind: "ready" };
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

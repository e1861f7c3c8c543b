/**
 * Nudges between the engines of one git transport: after a push, an engine tells the others to
 * fetch now rather than at their next poll. A nudge is a `POST /api/nudge` carrying a
 * short-lived JWT signed with the sender's own key (engine/auth.ts), checked against the public
 * key in the sender's dispatcher entry on the bus: no shared secret exists, let alone a
 * committed one, and the most a nudge can do is make its receiver fetch early.
 */
import { readRegistry } from "./registry.ts";

/** How long a nudge may take: it is only a hint, and polling covers a lost one. */
export const NUDGE_TIMEOUT_MS = 2_000;

/**
 * Sends one nudge.
 *
 * @throws {Error} when the peer cannot be reached or refuses it (the caller logs and moves on)
 */
export async function sendNudge(api: string, token: string): Promise<void> {
  const response = await fetch(new URL("/api/nudge", api), {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(NUDGE_TIMEOUT_MS),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`${api} answered ${response.status}`);
}

/** The public key in `alias`'s dispatcher entry, if it has one. */
export async function registryKeyOf(
  root: string,
  alias: string,
): Promise<Record<string, string> | undefined> {
  const key = (await readRegistry(root, alias))?.key;
  return key && typeof key === "object" ? key : undefined;
}

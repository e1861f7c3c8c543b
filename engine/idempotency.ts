/**
 * `IdempotencyStore`: which message a sender's `Idempotency-Key` produced, kept in the state dir
 * (append-only, last 50,000 keys) so that a retried send returns the first message even after
 * the engine restarted in between. A retry that arrives while the first send is still being
 * written waits for it instead of writing a second message, and a key reused for a different
 * request is refused (each key remembers a fingerprint of its request).
 */
import { join } from "../transports/path.ts";
import { type MessageRef, writeAll } from "../transports/mod.ts";
import { CrosstalkError } from "../schema/errors.ts";

const KEEP = 50_000;

/** What a key produced, and a fingerprint of the request that used it (none in old journals). */
interface Entry extends MessageRef {
  fingerprint?: string;
}

/** Idempotency keys of one engine. */
export class IdempotencyStore {
  #path: string | undefined;
  #map = new Map<string, Entry>();
  #inFlight = new Map<string, { fingerprint: string; done: Promise<unknown> }>();
  #file: Deno.FsFile | undefined;
  #encoder = new TextEncoder();

  /** Loads the keys kept in `stateDir` (or keeps them in memory only, without one). */
  static async open(stateDir?: string): Promise<IdempotencyStore> {
    const store = new IdempotencyStore();
    if (stateDir === undefined) return store;
    store.#path = join(stateDir, "idempotency.log");
    try {
      for (const line of (await Deno.readTextFile(store.#path)).split("\n")) {
        const [key, channel, id, fingerprint] = line.split("\t");
        if (key && channel && id) {
          store.#map.set(key, fingerprint ? { channel, id, fingerprint } : { channel, id });
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (store.#map.size > KEEP) {
      const kept = [...store.#map].slice(-KEEP);
      store.#map = new Map(kept);
      await Deno.writeTextFile(
        store.#path,
        kept.map(([k, r]) => journalLine(k, r)).join(""),
        { mode: 0o600 },
      );
    }
    store.#file = await Deno.open(store.#path, { append: true, create: true, mode: 0o600 });
    return store;
  }

  /** The message a sender's key produced, if any. */
  get(sender: string, key: string): MessageRef | undefined {
    const entry = this.#map.get(scoped(sender, key));
    return entry && { channel: entry.channel, id: entry.id };
  }

  /**
   * Sends once per (sender, key): the first call runs `send` and records what it wrote; a call
   * with the same key, then or while that send is still running, gets that message instead
   * (`first` false). A failed send records nothing, so a retry sends again.
   *
   * @throws {CrosstalkError} `ERR_BODY_INVALID` when the key was used for another request
   *   (`fingerprint` differs)
   */
  async once<T extends MessageRef>(
    sender: string,
    key: string,
    fingerprint: string,
    send: () => Promise<T>,
  ): Promise<{ first: true; message: T } | { first: false; ref: MessageRef }> {
    const k = scoped(sender, key);
    for (;;) {
      const entry = this.#map.get(k);
      if (entry) {
        checkSame(key, entry.fingerprint, fingerprint);
        return { first: false, ref: { channel: entry.channel, id: entry.id } };
      }
      const running = this.#inFlight.get(k);
      if (!running) break;
      checkSame(key, running.fingerprint, fingerprint);
      await running.done.catch(() => {});
    }
    const done = (async () => {
      const message = await send();
      await this.set(sender, key, message, fingerprint);
      return message;
    })();
    this.#inFlight.set(k, { fingerprint, done });
    try {
      return { first: true, message: await done };
    } finally {
      this.#inFlight.delete(k);
    }
  }

  /** Records the message a sender's key produced. */
  async set(sender: string, key: string, ref: MessageRef, fingerprint?: string): Promise<void> {
    const k = scoped(sender, key);
    const entry: Entry = fingerprint === undefined
      ? { channel: ref.channel, id: ref.id }
      : { channel: ref.channel, id: ref.id, fingerprint };
    this.#map.set(k, entry);
    if (this.#file) await writeAll(this.#file, this.#encoder.encode(journalLine(k, entry)));
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

function scoped(sender: string, key: string): string {
  // Keys are free text from clients: keep tabs and newlines out of the journal.
  return encodeURIComponent(`${sender}\u0000${key}`);
}

function journalLine(key: string, entry: Entry): string {
  return `${key}\t${entry.channel}\t${entry.id}${
    entry.fingerprint ? `\t${entry.fingerprint}` : ""
  }\n`;
}

function checkSame(key: string, recorded: string | undefined, given: string): void {
  if (recorded !== undefined && recorded !== given) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `The Idempotency-Key ${
        JSON.stringify(key.slice(0, 40))
      } was already used for a different message: use a new key for a new message`,
    );
  }
}

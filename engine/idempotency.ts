/**
 * `IdempotencyStore`: which message a sender's `Idempotency-Key` produced, kept in the state dir
 * (append-only, last 50,000 keys) so that a retried send returns the first message even after
 * the engine restarted in between. A key is recorded, with the id its message will have, before
 * the message is written: an engine killed just after the write still knows the key when it
 * restarts. A retry that arrives while the first send is still being written waits for it
 * instead of writing a second message, and a key reused for a different request is refused
 * (each key remembers a fingerprint of its request).
 */
import { join } from "../transports/path.ts";
import { type MessageRef, writeAll, writeFileAtomic } from "../transports/mod.ts";
import { CrosstalkError } from "../schema/errors.ts";

const KEEP = 50_000;

/**
 * What a key produced, and a fingerprint of the request that used it (none in old journals).
 * `channel` is empty while the write is not known to have happened: recorded before it, and
 * found by its id when a retry asks.
 */
interface Entry extends MessageRef {
  fingerprint?: string;
}

/** How {@linkcode IdempotencyStore.once} makes a send and finds one made before. */
export interface KeyedSend<T extends MessageRef> {
  /** A new message id, chosen before the write so that it is recorded first. */
  newId: () => string;
  /** Writes the message, with the id `newId` gave. */
  send: (id: string) => Promise<T>;
  /** Where the message of `id` is, when it was written (in any channel); else undefined. */
  find: (id: string) => Promise<MessageRef | undefined>;
}

/** The answer of {@linkcode IdempotencyStore.once}: the message sent now, or the earlier one. */
export type KeyedResult<T> = { first: true; message: T } | { first: false; ref: MessageRef };

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
        if (key && channel !== undefined && id) {
          store.#map.set(key, fingerprint ? { channel, id, fingerprint } : { channel, id });
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (store.#map.size > KEEP) {
      const kept = [...store.#map].slice(-KEEP);
      store.#map = new Map(kept);
      await writeFileAtomic(store.#path, kept.map(([k, r]) => journalLine(k, r)).join(""), {
        mode: 0o600,
      });
    }
    store.#file = await Deno.open(store.#path, { append: true, create: true, mode: 0o600 });
    return store;
  }

  /**
   * Sends once per (sender, key): the first call records the key with a new id, then sends; a
   * call with the same key, then, while that send is still running, or after a restart, gets
   * that message instead (`first` false). A send that failed, or that a crash stopped before
   * its write, left no message: a retry sends again.
   *
   * @throws {CrosstalkError} `ERR_BODY_INVALID` when the key was used for another request
   *   (`fingerprint` differs)
   */
  async once<T extends MessageRef>(
    sender: string,
    key: string,
    fingerprint: string,
    how: KeyedSend<T>,
  ): Promise<KeyedResult<T>> {
    const k = scoped(sender, key);
    for (;;) {
      const running = this.#inFlight.get(k);
      if (!running) break;
      checkSame(key, running.fingerprint, fingerprint);
      await running.done.catch(() => {});
    }
    const entry = this.#map.get(k);
    if (entry) checkSame(key, entry.fingerprint, fingerprint);
    if (entry?.channel) return { first: false, ref: { channel: entry.channel, id: entry.id } };
    const done = this.#send(k, fingerprint, how, entry);
    this.#inFlight.set(k, { fingerprint, done });
    try {
      return await done;
    } finally {
      this.#inFlight.delete(k);
    }
  }

  async #send<T extends MessageRef>(
    k: string,
    fingerprint: string,
    how: KeyedSend<T>,
    recorded: Entry | undefined,
  ): Promise<KeyedResult<T>> {
    if (recorded) {
      // Recorded before an earlier engine's write: did the write happen?
      const found = await how.find(recorded.id);
      if (found) {
        this.#map.set(k, { ...recorded, channel: found.channel });
        return { first: false, ref: found };
      }
    }
    const id = how.newId();
    const pending: Entry = { channel: "", id, fingerprint };
    this.#map.set(k, pending);
    try {
      if (this.#file) await writeAll(this.#file, this.#encoder.encode(journalLine(k, pending)));
      const message = await how.send(id);
      this.#map.set(k, { ...pending, channel: message.channel });
      return { first: true, message };
    } catch (error) {
      // Nothing was written (a retry after a restart finds no message of that id either).
      this.#map.delete(k);
      throw error;
    }
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
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

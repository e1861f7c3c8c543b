/**
 * `IdempotencyStore`: which message a sender's `Idempotency-Key` produced, kept in the state dir
 * (append-only, last 50,000 keys) so that a retried send returns the first message even after
 * the engine restarted in between.
 */
import { join } from "../transports/path.ts";
import { type MessageRef, writeAll } from "../transports/mod.ts";

const KEEP = 50_000;

/** Idempotency keys of one engine. */
export class IdempotencyStore {
  #path: string | undefined;
  #map = new Map<string, MessageRef>();
  #file: Deno.FsFile | undefined;
  #encoder = new TextEncoder();

  /** Loads the keys kept in `stateDir` (or keeps them in memory only, without one). */
  static async open(stateDir?: string): Promise<IdempotencyStore> {
    const store = new IdempotencyStore();
    if (stateDir === undefined) return store;
    store.#path = join(stateDir, "idempotency.log");
    try {
      for (const line of (await Deno.readTextFile(store.#path)).split("\n")) {
        const [key, channel, id] = line.split("\t");
        if (key && channel && id) store.#map.set(key, { channel, id });
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (store.#map.size > KEEP) {
      const kept = [...store.#map].slice(-KEEP);
      store.#map = new Map(kept);
      await Deno.writeTextFile(
        store.#path,
        kept.map(([k, r]) => `${k}\t${r.channel}\t${r.id}\n`).join(""),
        { mode: 0o600 },
      );
    }
    store.#file = await Deno.open(store.#path, { append: true, create: true, mode: 0o600 });
    return store;
  }

  /** The message a sender's key produced, if any. */
  get(sender: string, key: string): MessageRef | undefined {
    return this.#map.get(scoped(sender, key));
  }

  /** Records the message a sender's key produced. */
  async set(sender: string, key: string, ref: MessageRef): Promise<void> {
    const k = scoped(sender, key);
    this.#map.set(k, ref);
    if (this.#file) {
      await writeAll(this.#file, this.#encoder.encode(`${k}\t${ref.channel}\t${ref.id}\n`));
    }
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

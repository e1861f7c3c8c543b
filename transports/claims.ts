/**
 * `ClaimStore`: who runs a message, decided on the bus itself, so that exactly one engine runs
 * each (message, model) and exactly one reply is written, even with engines dying mid-run.
 *
 * Layout, outside every channel folder so a Crosstalk 8 engine never mistakes a claim for a
 * message:
 *
 * ```
 * data/claims/<channel>/<YYYY>/<MM>/<DD>/<HHMMSSmmmZ-hex>/<provider>/<model>/
 *   1.lease, 2.lease, …   one per holder, created exclusively; the highest generation holds
 *                         the claim; its mtime is the lease, renewed while the CLI runs
 *   done                  created exclusively when the run ends: the outcome and the staged
 *                         reply; whoever creates it is the one whose reply is written
 * data/claims/open/<channel>~<YYYY>~<MM>~<DD>~<stem>~<provider>~<model>
 *                         an index of claims not yet finished, so that takeover and restart
 *                         scans cost what is in flight, not the size of the history
 * ```
 *
 * Creating `done` exclusively is the linearization point: two holders (a slow one and the one
 * that took over after its lease ran out) may both run the CLI, but only one `done` exists, and
 * the reply is written under the id staged in it, with an exclusive create, by whoever gets there
 * first. A crash between `done` and the reply is repaired by any engine that finds the open entry.
 */
import { join } from "node:path";
import { parseMessageId } from "./names.ts";
import type { MessageRef } from "./transport.ts";
import { exists, readDirNames, writeFileAtomic } from "./_fs.ts";

/** One (message, model) pair that can be claimed. */
export interface ClaimKey extends MessageRef {
  /** `provider/model`. */
  model: string;
}

/** Who holds a claim. */
export interface Holder {
  alias: string;
  host: string;
  pid: number;
  /** A random id of the engine process, so a restarted engine is not its dead predecessor. */
  instance: string;
}

/** The current lease of a claim. */
export interface Lease {
  generation: number;
  holder: Holder;
  /** When the holder last renewed (ms since epoch). */
  renewedAt: number;
  /** When the holder first claimed (ms since epoch). */
  claimedAt: number;
}

/** How a claim ended. */
export interface Outcome {
  status: "replied" | "failed" | "empty" | "skipped";
  /** The id of the reply message, when there is one. */
  reply?: string;
  /** The reply file's full text, staged so that anyone can write it after a crash. */
  text?: string;
  /** Why, for failed and skipped outcomes. */
  detail?: string;
  /** Who finished it. */
  holder: Holder;
  at: string;
}

/** The claim state of one (message, model), for delivery status. */
export interface ClaimState {
  key: ClaimKey;
  lease?: Lease;
  outcome?: Outcome;
}

const encoder = new TextEncoder();

/** Claims on one transport directory. */
export class ClaimStore {
  readonly dir: string;
  readonly openDir: string;

  constructor(root: string) {
    this.dir = join(root, "data", "claims");
    this.openDir = join(this.dir, "open");
  }

  /**
   * Tries to take generation 1 of a claim. Returns the generation won, or undefined when
   * somebody else already claimed it.
   */
  async acquire(key: ClaimKey, holder: Holder): Promise<number | undefined> {
    return await this.#create(key, 1, holder) ? 1 : undefined;
  }

  /**
   * Takes a claim over from a holder whose lease ran out (or that crashed before writing its
   * lease: `from` undefined): creates the next generation. Returns
   * the generation won, or undefined when another engine was faster or the claim is finished.
   */
  async takeOver(
    key: ClaimKey,
    from: Lease | undefined,
    holder: Holder,
  ): Promise<number | undefined> {
    if (await exists(join(this.#keyDir(key), "done"))) return undefined;
    const next = (from?.generation ?? 0) + 1;
    return await this.#create(key, next, holder) ? next : undefined;
  }

  /** Renews a lease; false when a later generation has taken the claim over. */
  async renew(key: ClaimKey, generation: number, now = new Date()): Promise<boolean> {
    const lease = await this.lease(key);
    if (!lease || lease.generation !== generation) return false;
    await Deno.utime(join(this.#keyDir(key), `${generation}.lease`), now, now);
    return true;
  }

  /** The current (highest-generation) lease, if any. */
  async lease(key: ClaimKey): Promise<Lease | undefined> {
    const dir = this.#keyDir(key);
    const generations = (await readDirNames(dir))
      .map((e) => /^(\d+)\.lease$/.exec(e.name)?.[1])
      .filter((g): g is string => g !== undefined)
      .map(Number)
      .sort((a, b) => b - a);
    for (const generation of generations) {
      const path = join(dir, `${generation}.lease`);
      try {
        const [text, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
        const parsed = JSON.parse(text) as { holder: Holder; claimedAt: number };
        return {
          generation,
          holder: parsed.holder,
          claimedAt: parsed.claimedAt,
          renewedAt: info.mtime?.getTime() ?? parsed.claimedAt,
        };
      } catch {
        // A lease file is written before it is linked into place, so it is never partial;
        // an unreadable one was tampered with: fall back to the generation below.
      }
    }
    return undefined;
  }

  /**
   * Records how a claim ended; true when this call is the one that finished it (and so the one
   * whose reply must be written), false when it was already finished.
   */
  async finish(key: ClaimKey, outcome: Outcome): Promise<boolean> {
    try {
      await writeFileAtomic(join(this.#keyDir(key), "done"), `${JSON.stringify(outcome)}\n`, {
        exclusive: true,
      });
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    }
  }

  /** The recorded outcome, if the claim is finished. */
  async outcome(key: ClaimKey): Promise<Outcome | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(join(this.#keyDir(key), "done"))) as Outcome;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      if (error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /** Claims not yet closed (in flight, or finished with the reply not yet confirmed written). */
  async listOpen(): Promise<ClaimKey[]> {
    const keys: ClaimKey[] = [];
    for (const entry of await readDirNames(this.openDir)) {
      const parts = entry.name.split("~");
      if (parts.length !== 7) continue;
      const [channel, y, m, d, stem, provider, model] = parts as [string, ...string[]];
      const id = `${y}/${m}/${d}/${stem}.md`;
      try {
        parseMessageId(id);
      } catch {
        continue;
      }
      keys.push({ channel, id, model: `${provider}/${model}` });
    }
    return keys;
  }

  /** Removes a claim from the open index once its reply is safely written. */
  async close(key: ClaimKey): Promise<void> {
    await Deno.remove(join(this.openDir, openName(key))).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Every claim on a message: one per model that claimed it. */
  async states(ref: MessageRef): Promise<ClaimState[]> {
    const base = this.#messageDir(ref);
    const states: ClaimState[] = [];
    for (const provider of await readDirNames(base)) {
      if (!provider.isDirectory) continue;
      for (const model of await readDirNames(join(base, provider.name))) {
        if (!model.isDirectory) continue;
        const key = { ...ref, model: `${provider.name}/${model.name}` };
        const state: ClaimState = { key };
        const lease = await this.lease(key);
        if (lease) state.lease = lease;
        const outcome = await this.outcome(key);
        if (outcome) state.outcome = outcome;
        states.push(state);
      }
    }
    return states;
  }

  async #create(key: ClaimKey, generation: number, holder: Holder): Promise<boolean> {
    const now = Date.now();
    const body = encoder.encode(`${JSON.stringify({ holder, claimedAt: now })}\n`);
    const dir = this.#keyDir(key);
    // The index entry first: a crash right after it leaves an open claim with no lease, which
    // a sweep picks up, never a lease that no sweep can find.
    if (generation === 1) await writeFileAtomic(join(this.openDir, openName(key)), "");
    try {
      await writeFileAtomic(join(dir, `${generation}.lease`), body, { exclusive: true });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    }
    return true;
  }

  #messageDir(ref: MessageRef): string {
    parseMessageId(ref.id);
    return join(this.dir, ref.channel, ref.id.slice(0, -3));
  }

  #keyDir(key: ClaimKey): string {
    const [provider, model] = key.model.split("/");
    if (!provider || !model) {
      throw new TypeError(`A claim needs provider/model, not "${key.model}"`);
    }
    return join(this.#messageDir(key), provider, model);
  }
}

function openName(key: ClaimKey): string {
  const [y, m, d, file] = key.id.split("/") as [string, string, string, string];
  const [provider, model] = key.model.split("/") as [string, string];
  return [key.channel, y, m, d, file.slice(0, -3), provider, model].join("~");
}

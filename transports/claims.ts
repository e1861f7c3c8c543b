/**
 * `ClaimStore`: who runs a message, decided on the bus itself, so that exactly one engine runs
 * each (message, model) and exactly one reply is written, even with engines dying mid-run.
 *
 * Layout, outside every channel folder so a Crosstalk 8 engine never mistakes a claim for a
 * message:
 *
 * ```
 * data/claims/open/<channel>~<YYYY>~<MM>~<DD>~<stem>~<provider>~<model>~<N>.lease
 *     generation N of an unfinished claim, created exclusively (O_EXCL); the highest generation
 *     holds the claim; its mtime is the lease, renewed while the CLI runs
 * data/claims/<channel>/<YYYY>/<MM>/<DD>/<stem>~<provider>~<model>~done
 *     created exclusively (hard link) when the run ends: the outcome and the staged reply;
 *     whoever creates it is the one whose reply is written
 * data/claims/<channel>/<YYYY>/<MM>/<DD>/<stem>~<provider>~<model>~<milestone>
 *     a step the claim's holder passed, for the next holder (a workflow's `started`)
 * ```
 *
 * Creating `done` is the linearization point: two holders (a slow one and the one that took over
 * after its lease ran out) may both run the CLI, but only one `done` exists, and the reply is
 * written under the id staged in it, with an exclusive create, by whoever gets there first. The
 * lease files are removed once the reply is safely written, so the open folder holds only what is
 * in flight and sweeps cost that, not the size of the history; an engine that claims a message
 * after that finds `done` and stands down.
 *
 * Everything on the claim path is a flat file in an existing folder: on common filesystems each
 * new folder costs about a millisecond, and this is the dispatch hot path.
 */
import { join, relative } from "./path.ts";
import { parseMessageId } from "./names.ts";
import type { AttachedChange, MessageRef } from "./transport.ts";
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
  /** Undefined for the moment between the lease file's creation and its first write. */
  holder?: Holder;
  /** When the holder last renewed (ms since epoch). */
  renewedAt: number;
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

/**
 * How claim files reach the other engines of a transport. Without one, the files are the whole
 * story (a local folder, shared or not). The git transport commits them, and with a remote,
 * pushes them: a claim counts only once the push race is decided.
 */
export interface ClaimPublisher {
  /** True when a claim holds only once {@linkcode confirm} says it reached the remote. */
  readonly shared: boolean;
  /**
   * Records a change of claim files (paths relative to the transport root); `apply`, when
   * given, makes the change first, under the transport's lock.
   */
  record(
    paths: string[],
    message: string,
    apply?: () => Promise<void>,
    options?: { urgent?: boolean },
  ): Promise<void>;
  /**
   * Resolves once everything recorded before the call is on the remote, where a race with
   * another machine is decided: afterwards the files show who won.
   */
  confirm(): Promise<void>;
}

/** Options for {@linkcode ClaimStore}. */
export interface ClaimStoreOptions {
  publisher?: ClaimPublisher | undefined;
  /** Told when recording a change failed (it is recorded again by the next one, or at start). */
  onError?: (error: unknown) => void;
}

const encoder = new TextEncoder();

/** How many missing generations in a row end a probe for more (see `#generations`). */
const GENERATION_GAP = 3;

/** Claims on one transport directory. */
export class ClaimStore {
  readonly root: string;
  readonly dir: string;
  readonly openDir: string;
  #publisher: ClaimPublisher | undefined;
  #onError: (error: unknown) => void;

  constructor(root: string, options: ClaimStoreOptions = {}) {
    this.root = root;
    this.dir = join(root, "data", "claims");
    this.openDir = join(this.dir, "open");
    this.#publisher = options.publisher;
    this.#onError = options.onError ?? (() => {});
  }

  /** True when claims must be confirmed on a remote before they hold (see `confirm`). */
  get shared(): boolean {
    return this.#publisher?.shared ?? false;
  }

  /**
   * After {@linkcode acquire} or {@linkcode takeOver} on a shared transport: waits until the
   * claim reached the remote and tells whether it is still ours (another machine that claimed
   * the same generation first wins, and its lease replaces ours).
   */
  async confirm(key: ClaimKey, generation: number, holder: Holder): Promise<boolean> {
    await this.#publisher?.confirm();
    let mine = false;
    try {
      const text = await Deno.readTextFile(this.#leasePath(key, generation));
      mine = (JSON.parse(text) as { holder?: Holder }).holder?.instance === holder.instance;
    } catch {
      mine = false;
    }
    if (!mine) return false;
    if (await exists(this.#donePath(key))) {
      // Another machine ran it and closed its claim before ours arrived, so our lease met no
      // rival on the remote: the work is done, and our late lease is removed again.
      await this.closeAll([key]);
      return false;
    }
    return true;
  }

  /**
   * Tries to take generation 1 of a claim. Returns the generation won, or undefined when
   * somebody else claimed it first or it is already finished.
   */
  async acquire(
    key: ClaimKey,
    holder: Holder,
    options: { urgent?: boolean } = {},
  ): Promise<number | undefined> {
    if (!(await this.#create(key, 1, holder))) return undefined;
    if (await exists(this.#donePath(key))) {
      // Finished and closed before we came: ours is a late claim on done work.
      await Deno.remove(this.#leasePath(key, 1)).catch(() => {});
      return undefined;
    }
    await this.#record(
      [this.#leasePath(key, 1)],
      `crosstalk: claim ${describe(key)} by ${holder.alias}`,
      undefined,
      // Pinned claims need no race: they are not waited for, and share the reply's commit.
      this.shared && (options.urgent ?? true),
      options.urgent ?? true,
    );
    return 1;
  }

  /**
   * Takes a claim over from a holder whose lease ran out (or that crashed before writing its
   * lease: `from` undefined): creates the next generation. Returns the generation won, or
   * undefined when another engine was faster or the claim is finished.
   */
  async takeOver(
    key: ClaimKey,
    from: Lease | undefined,
    holder: Holder,
  ): Promise<number | undefined> {
    if (await exists(this.#donePath(key))) return undefined;
    const next = (from?.generation ?? 0) + 1;
    if (!(await this.#create(key, next, holder))) return undefined;
    await this.#record(
      [this.#leasePath(key, next)],
      `crosstalk: take over ${describe(key)} by ${holder.alias} (attempt ${next})`,
    );
    return next;
  }

  /** Renews a lease; false when a later generation has taken the claim over. */
  async renew(key: ClaimKey, generation: number, now = new Date()): Promise<boolean> {
    if ((await this.#generations(key, generation + 1)).length > 0) return false;
    try {
      await Deno.utime(this.#leasePath(key, generation), now, now);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /**
   * The generations of a claim's lease files here, ascending. Probed, not counted up to the first
   * one missing: the generations need not be contiguous (a slow holder's close removes its own
   * generation after another engine took the claim over with the next one). A takeover past
   * the attempts allowed ends the claim, so generations stay few; the probe stops after
   * {@linkcode GENERATION_GAP} missing in a row. (Listing the open folder instead would cost
   * what is in flight on every call: quadratic in a backlog.)
   */
  async #generations(key: ClaimKey, from = 1): Promise<number[]> {
    const found: number[] = [];
    for (let generation = from, missing = 0; missing < GENERATION_GAP; generation++) {
      if (await exists(this.#leasePath(key, generation))) {
        found.push(generation);
        missing = 0;
      } else {
        missing++;
      }
    }
    return found;
  }

  /** The current (highest-generation) lease, if the claim is open. */
  async lease(key: ClaimKey): Promise<Lease | undefined> {
    const top = (await this.#generations(key)).at(-1) ?? 0;
    if (top === 0) return undefined;
    const path = this.#leasePath(key, top);
    try {
      const [text, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
      const renewedAt = info.mtime?.getTime() ?? Date.now();
      try {
        const parsed = JSON.parse(text) as { holder: Holder };
        return { generation: top, holder: parsed.holder, renewedAt };
      } catch {
        return { generation: top, renewedAt };
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * Records how a claim ended; true when this call is the one that finished it (and so the one
   * whose reply must be written), false when it was already finished.
   */
  async finish(key: ClaimKey, outcome: Outcome): Promise<boolean> {
    return (await this.finishAll([key], outcome))[0]!;
  }

  /**
   * {@linkcode finish} for a batch answered by one run, in one commit; on a shared transport
   * it waits for the remote, so that a reply is written only by the one that finished first
   * (unless `confirm` is false: pinned messages, which no other machine may run).
   */
  async finishAll(
    keys: ClaimKey[],
    outcome: Outcome,
    options: { confirm?: boolean } = {},
  ): Promise<boolean[]> {
    const created: boolean[] = [];
    for (const key of keys) {
      try {
        await writeFileAtomic(this.#donePath(key), `${JSON.stringify(outcome)}\n`, {
          exclusive: true,
          beforeMkdir: async () => {
            if (await this.channelGone(key.channel)) throw new Deno.errors.NotFound(key.channel);
          },
        });
        created.push(true);
      } catch (error) {
        // Finished already, or its channel was deleted while it ran: no reply either way.
        if (
          !(error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotFound)
        ) {
          throw error;
        }
        created.push(false);
      }
    }
    const mine = keys.filter((_, i) => created[i]);
    if (mine.length === 0) return created;
    const confirm = this.shared && (options.confirm ?? true);
    await this.#record(
      mine.map((key) => this.#donePath(key)),
      `crosstalk: ${outcome.status} ${mine.map(describe).join(", ")}`,
      undefined,
      confirm,
      // An outcome that needs no confirmation travels with the reply that follows it.
      confirm,
    );
    if (!confirm) return created;
    await this.#publisher!.confirm();
    const won: boolean[] = [];
    for (const [i, key] of keys.entries()) {
      const recorded = created[i] ? await this.outcome(key) : undefined;
      won.push(
        recorded?.holder.instance === outcome.holder.instance && recorded.at === outcome.at,
      );
    }
    return won;
  }

  /**
   * True when the claim's channel was deleted (with it went its claims): what is still open for
   * it can only be closed.
   */
  async channelGone(channel: string): Promise<boolean> {
    return !(await exists(join(this.root, "data", "channels", channel, "CHANNEL.md")));
  }

  /** The recorded outcome, if the claim is finished. */
  async outcome(key: ClaimKey): Promise<Outcome | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#donePath(key))) as Outcome;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      if (error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /**
   * Records that a claim passed `milestone` (a file beside its `done`, made once and kept), so
   * that whoever holds the claim next, after a crash or a takeover, knows: that a workflow made
   * its child channel, for one. Travels with the next push.
   */
  async mark(key: ClaimKey, milestone: string): Promise<void> {
    const path = this.#markPath(key, milestone);
    try {
      await writeFileAtomic(path, `${new Date().toISOString()}\n`, { exclusive: true });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return;
      throw error;
    }
    await this.#record([path], `crosstalk: ${milestone} ${describe(key)}`, undefined, false, false);
  }

  /** True when the claim passed `milestone` ({@linkcode mark}). */
  marked(key: ClaimKey, milestone: string): Promise<boolean> {
    return exists(this.#markPath(key, milestone));
  }

  /** Claims not yet closed (in flight, or finished with the reply not yet confirmed written). */
  async listOpen(): Promise<ClaimKey[]> {
    const keys = new Map<string, ClaimKey>();
    for (const entry of await readDirNames(this.openDir)) {
      const match = /^(.+)~(\d+)\.lease$/.exec(entry.name);
      if (!match) continue;
      const parts = match[1]!.split("~");
      if (parts.length !== 7) continue;
      const [channel, y, m, d, stem, provider, model] = parts as [string, ...string[]];
      const id = `${y}/${m}/${d}/${stem}.md`;
      try {
        parseMessageId(id);
      } catch {
        continue;
      }
      keys.set(match[1]!, { channel, id, model: `${provider}/${model}` });
    }
    return [...keys.values()];
  }

  /** Removes a claim's leases once its reply is safely written. */
  close(key: ClaimKey): Promise<void> {
    return this.closeAll([key]);
  }

  /** {@linkcode close} for several claims, in one commit. */
  async closeAll(keys: ClaimKey[]): Promise<void> {
    const change = await this.closing(keys);
    if (!change) return;
    if (!this.#publisher) return await change.apply();
    await this.#record(
      change.paths.map((p) => join(this.root, p)),
      change.message,
      change.apply,
    );
  }

  /**
   * The change that closes these claims, to make together with the reply's write (see
   * `WriteMessageOptions.with`): one commit instead of two. Undefined when nothing is open.
   */
  async closing(keys: ClaimKey[]): Promise<AttachedChange | undefined> {
    const paths: string[] = [];
    for (const key of keys) {
      for (const generation of await this.#generations(key)) {
        paths.push(this.#leasePath(key, generation));
      }
    }
    if (paths.length === 0) return undefined;
    return {
      paths: paths.map((p) => relative(this.root, p)),
      message: `crosstalk: close ${keys.map(describe).join(", ")}`,
      apply: async () => {
        for (const path of paths) await Deno.remove(path).catch(() => {});
      },
    };
  }

  /** Hands a change to the publisher; awaited only where the outcome depends on it. */
  async #record(
    absolute: string[],
    message: string,
    apply?: () => Promise<void>,
    wait = this.shared,
    urgent = true,
  ): Promise<void> {
    if (!this.#publisher) return;
    const paths = absolute.map((p) => relative(this.root, p));
    const recording = this.#publisher.record(paths, message, apply, { urgent });
    if (wait || apply) return await recording;
    recording.catch(this.#onError);
  }

  /** Every claim on a message: one per model that claimed it. */
  async states(ref: MessageRef): Promise<ClaimState[]> {
    const models = new Set<string>();
    const donePrefix = `${stemOf(ref.id)}~`;
    for (const entry of await readDirNames(this.#dayDir(ref))) {
      if (!entry.name.startsWith(donePrefix) || !entry.name.endsWith("~done")) continue;
      const [, provider, model] = entry.name.split("~");
      if (provider && model) models.add(`${provider}/${model}`);
    }
    const openPrefix = `${openStem(ref)}~`;
    for (const entry of await readDirNames(this.openDir)) {
      if (!entry.name.startsWith(openPrefix)) continue;
      const [provider, model] = entry.name.slice(openPrefix.length).split("~");
      if (provider && model) models.add(`${provider}/${model}`);
    }
    const states: ClaimState[] = [];
    for (const model of [...models].sort()) {
      const key = { ...ref, model };
      const state: ClaimState = { key };
      const lease = await this.lease(key);
      if (lease) state.lease = lease;
      const outcome = await this.outcome(key);
      if (outcome) state.outcome = outcome;
      states.push(state);
    }
    return states;
  }

  /** Creates a lease file exclusively; false when that generation exists. */
  async #create(key: ClaimKey, generation: number, holder: Holder): Promise<boolean> {
    const path = this.#leasePath(key, generation);
    const text = encoder.encode(`${JSON.stringify({ holder })}\n`);
    try {
      // One call: the exclusive create is the claim, the holder comes with it.
      await Deno.writeFile(path, text, { createNew: true });
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      await Deno.mkdir(this.openDir, { recursive: true });
      return await this.#create(key, generation, holder);
    }
  }

  #dayDir(ref: MessageRef): string {
    parseMessageId(ref.id);
    return join(this.dir, ref.channel, ...ref.id.split("/").slice(0, 3));
  }

  #leasePath(key: ClaimKey, generation: number): string {
    const [provider, model] = splitModel(key);
    return join(this.openDir, `${openStem(key)}~${provider}~${model}~${generation}.lease`);
  }

  #markPath(key: ClaimKey, milestone: string): string {
    if (!/^[a-z]+$/.test(milestone) || milestone === "done") {
      throw new TypeError(
        `A claim milestone is a lowercase word other than done, not "${milestone}"`,
      );
    }
    const [provider, model] = splitModel(key);
    return join(this.#dayDir(key), `${stemOf(key.id)}~${provider}~${model}~${milestone}`);
  }

  #donePath(key: ClaimKey): string {
    const [provider, model] = splitModel(key);
    return join(this.#dayDir(key), `${stemOf(key.id)}~${provider}~${model}~done`);
  }
}

function describe(key: ClaimKey): string {
  return `${key.model} on ${key.channel.slice(0, 8)}/${key.id}`;
}

function splitModel(key: ClaimKey): [string, string] {
  const [provider, model] = key.model.split("/");
  if (!provider || !model) throw new TypeError(`A claim needs provider/model, not "${key.model}"`);
  return [provider, model];
}

function stemOf(id: string): string {
  return id.split("/")[3]!.slice(0, -3);
}

function openStem(ref: MessageRef): string {
  parseMessageId(ref.id);
  const [y, m, d, file] = ref.id.split("/") as [string, string, string, string];
  return [ref.channel, y, m, d, file.slice(0, -3)].join("~");
}

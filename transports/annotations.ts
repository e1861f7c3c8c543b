/**
 * `AnnotationStore`: what the bus records about a message besides its replies: the task flow
 * (flagged, claimed, resolved), badges, and the receipts of live agents (woken, read, not
 * woken). Kept outside every channel folder so a Crosstalk 8 engine never mistakes one for a
 * message:
 *
 * ```
 * data/annotations/<channel>/<YYYY>/<MM>/<DD>/<stem>~task.json          flagged (exclusive)
 * data/annotations/<channel>/<YYYY>/<MM>/<DD>/<stem>~task-claim.json    claimed (exclusive)
 * data/annotations/<channel>/<YYYY>/<MM>/<DD>/<stem>~task-done.json     resolved (exclusive)
 * data/annotations/<channel>/<YYYY>/<MM>/<DD>/<stem>~badge~<hex>.json   one badge
 * data/annotations/<channel>/<YYYY>/<MM>/<DD>/receipts/<stem>~<receipt>~<agent>.json
 *     receipt: woken | read | unwoken (a wake that failed, with why)
 * ```
 *
 * Receipts, one per live agent per message, far outnumber the rest: they have a folder of their
 * own, so that reading the tasks and badges of a page of messages (every MCP read) lists only
 * the few records it needs, not every receipt of the day. Receipts that earlier engines wrote
 * beside the other records (`<DD>/<stem>~<receipt>~<agent>.json`) are still read and removed.
 *
 * Exclusive records are created with O_EXCL, so on one folder exactly one writer wins; on a git
 * transport with a remote the push race decides (the remote's file wins a rebase conflict), and
 * {@linkcode AnnotationStore.createExclusive} confirms through the remote before it answers.
 */
import { join, relative } from "./path.ts";
import { isChannelId, parseMessageId, tryParseMessageId } from "./names.ts";
import type { ClaimPublisher } from "./claims.ts";
import type { MessageRef } from "./transport.ts";
import { exists, randomHex, readDirNames, readSmallDirNames, writeFileAtomic } from "./_fs.ts";
import { CrosstalkError } from "../schema/errors.ts";

/** The kinds of record created at most once per message. */
export type ExclusiveKind = "task" | "task-claim" | "task-done";

/** The kinds of receipt a live agent leaves. */
export type ReceiptKind = "woken" | "read" | "unwoken";
const RECEIPT_KINDS: readonly string[] = ["woken", "read", "unwoken"] satisfies ReceiptKind[];

/** The folder of a day's receipts, inside the day's folder of records. */
const RECEIPTS = "receipts";

/** One record, as read back. */
export interface Annotation {
  kind: ExclusiveKind | "badge" | ReceiptKind;
  /** The agent of a receipt. */
  agent?: string;
  data: Record<string, unknown>;
}

/** Options for {@linkcode AnnotationStore}. */
export interface AnnotationStoreOptions {
  publisher?: ClaimPublisher | undefined;
  /** Told when recording a change failed. */
  onError?: (error: unknown) => void;
}

/** Annotations on one transport directory. */
export class AnnotationStore {
  readonly root: string;
  readonly dir: string;
  #publisher: ClaimPublisher | undefined;
  #onError: (error: unknown) => void;

  constructor(root: string, options: AnnotationStoreOptions = {}) {
    this.root = root;
    this.dir = join(root, "data", "annotations");
    this.#publisher = options.publisher;
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Creates a record that exists at most once per message. Returns the record that holds
   * afterwards and whether it is the one given: false when somebody else's came first, here or
   * (on a git transport with a remote) on another machine.
   */
  async createExclusive(
    ref: MessageRef,
    kind: ExclusiveKind,
    data: Record<string, unknown>,
  ): Promise<{ won: boolean; data: Record<string, unknown> }> {
    const path = this.#path(ref, kind);
    const nonce = randomHex(8);
    const record = { ...data, nonce };
    let created = true;
    try {
      // A hard link of a finished temp file: never a half-written record, and one winner.
      await writeFileAtomic(path, `${JSON.stringify(record)}\n`, {
        exclusive: true,
        beforeMkdir: this.#channelExists(ref),
      });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      created = false;
    }
    if (created && this.#publisher) {
      await this.#publisher.record(
        [relative(this.root, path)],
        `crosstalk: ${kind} ${describe(ref)}`,
        undefined,
        { urgent: true },
      );
      if (this.#publisher.shared) await this.#publisher.confirm();
    }
    const held = await this.#read(path);
    const won = created && held?.nonce === nonce;
    const { nonce: _nonce, ...rest } = held ?? record;
    return { won, data: rest };
  }

  /** Adds a record that may exist many times (a badge). */
  async add(ref: MessageRef, kind: "badge", data: Record<string, unknown>): Promise<void> {
    await this.#write(ref, this.#path(ref, `${kind}~${randomHex(4)}`), data, true);
  }

  /**
   * Writes (or rewrites) an agent's receipt; lazy on git: it rides with the next commit. A
   * receipt for a message whose channel was deleted meanwhile is dropped.
   */
  async receipt(
    ref: MessageRef,
    kind: ReceiptKind,
    agent: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.#write(ref, this.#receiptPath(ref, kind, agent), data, false);
  }

  /** Removes an agent's receipt (a read that is given back); nothing when there is none. */
  async removeReceipt(ref: MessageRef, kind: ReceiptKind, agent: string): Promise<void> {
    // Also where earlier engines wrote it, beside the other records.
    const paths = [this.#receiptPath(ref, kind, agent), this.#path(ref, `${kind}~${agent}`)];
    const apply = async () => {
      await Promise.all(paths.map((path) => Deno.remove(path).catch(() => {})));
    };
    if (!this.#publisher) return await apply();
    this.#publisher.record(
      paths.map((path) => relative(this.root, path)),
      `crosstalk: annotate ${relative(this.dir, paths[0]!)}`,
      apply,
      { urgent: false },
    ).catch(this.#onError);
  }

  /** Every record on a message. */
  async list(ref: MessageRef): Promise<Annotation[]> {
    return (await this.listMany([ref]))[0]!;
  }

  /**
   * The records on many messages, in the order of `refs`: each day folder is listed once, and
   * with `kinds` only the files of those kinds are opened (a message's receipts can be many).
   *
   * @throws {CrosstalkError} `ERR_ID_INVALID` for an id that is no message id, before any read
   */
  async listMany(
    refs: readonly MessageRef[],
    options: { kinds?: readonly Annotation["kind"][] } = {},
  ): Promise<Annotation[][]> {
    const wanted = options.kinds ? new Set<string>(options.kinds) : undefined;
    // The day folders to list, each with the messages (by file name stem) asked for in it.
    const days = new Map<string, Map<string, Annotation[]>>();
    const found = refs.map((ref) => {
      const dir = this.#dayDir(ref);
      const stems = days.get(dir) ?? new Map<string, Annotation[]>();
      days.set(dir, stems);
      const records = stems.get(stemOf(ref.id)) ?? [];
      stems.set(stemOf(ref.id), records);
      return records;
    });
    // The receipts' folder is listed only when receipts are asked for.
    const receipts = !wanted || RECEIPT_KINDS.some((kind) => wanted.has(kind));
    // A day's records are few; its receipts (one per message and reader) can be many.
    const folders = [...days].flatMap(([dir, stems]) =>
      receipts
        ? [{ dir, stems, small: true }, { dir: join(dir, RECEIPTS), stems, small: false }]
        : [{ dir, stems, small: true }]
    );
    await Promise.all(folders.map(async ({ dir, stems, small }) => {
      const names = await (small ? readSmallDirNames(dir) : readDirNames(dir));
      const entries = names.flatMap((entry) => {
        if (!entry.name.endsWith(".json")) return [];
        const [stem, kind, agent] = entry.name.slice(0, -".json".length).split("~");
        const records = stems.get(stem!);
        if (!records || !kind || (wanted && !wanted.has(kind))) return [];
        return [{ name: entry.name, kind, agent, records }];
      });
      const read = await Promise.all(entries.map((e) => this.#read(join(dir, e.name))));
      entries.forEach(({ kind, agent, records }, i) => {
        const data = read[i];
        if (!data) return;
        const { nonce: _nonce, ...rest } = data;
        if (kind === "badge" || kind === "task" || kind === "task-claim" || kind === "task-done") {
          records.push({ kind, data: rest });
        } else if ((kind === "woken" || kind === "read" || kind === "unwoken") && agent) {
          records.push({ kind, agent, data: rest });
        }
      });
    }));
    return found;
  }

  /** Every message flagged as a task, in any channel (each day folder is listed once). */
  async taskRefs(): Promise<MessageRef[]> {
    const refs: MessageRef[] = [];
    const digits = (name: string, n: number) => name.length === n && /^\d+$/.test(name);
    for (const channel of await readDirNames(this.dir)) {
      if (!channel.isDirectory || !isChannelId(channel.name)) continue;
      const base = join(this.dir, channel.name);
      for (const y of (await readDirNames(base)).filter((e) => digits(e.name, 4))) {
        for (const m of (await readDirNames(join(base, y.name))).filter((e) => digits(e.name, 2))) {
          const month = join(base, y.name, m.name);
          for (const d of (await readDirNames(month)).filter((e) => digits(e.name, 2))) {
            for (const file of await readDirNames(join(month, d.name))) {
              if (!file.name.endsWith("~task.json")) continue;
              const id = `${y.name}/${m.name}/${d.name}/${
                file.name.slice(0, -"~task.json".length)
              }.md`;
              if (tryParseMessageId(id)) refs.push({ channel: channel.name, id });
            }
          }
        }
      }
    }
    return refs;
  }

  /** One exclusive record, when it exists. */
  async get(ref: MessageRef, kind: ExclusiveKind): Promise<Record<string, unknown> | undefined> {
    const data = await this.#read(this.#path(ref, kind));
    if (!data) return undefined;
    const { nonce: _nonce, ...rest } = data;
    return rest;
  }

  async #write(
    ref: MessageRef,
    path: string,
    data: Record<string, unknown>,
    urgent: boolean,
  ): Promise<void> {
    const text = `${JSON.stringify(data)}\n`;
    const apply = async () => {
      try {
        // writeFileAtomic makes the day folder when it is missing: no mkdir on every receipt.
        await writeFileAtomic(path, text, { beforeMkdir: this.#channelExists(ref) });
      } catch (error) {
        // A badge on a deleted channel's message is an error; a late receipt has nobody to tell.
        if (urgent || !isChannelGone(error)) throw error;
      }
    };
    if (!this.#publisher) return await apply();
    const recording = this.#publisher.record(
      [relative(this.root, path)],
      `crosstalk: annotate ${relative(this.dir, path)}`,
      apply,
      { urgent },
    );
    if (urgent) return await recording;
    // Receipts are hints for the sender: never worth holding the agent up.
    recording.catch(this.#onError);
  }

  async #read(path: string): Promise<Record<string, unknown> | undefined> {
    try {
      const value = JSON.parse(await Deno.readTextFile(path));
      return value !== null && typeof value === "object" && !Array.isArray(value)
        ? value as Record<string, unknown>
        : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Checked before a day folder is made: a record that comes after its channel was deleted must
   * not bring the channel's folder back.
   */
  #channelExists(ref: MessageRef): () => Promise<void> {
    return async () => {
      if (!(await exists(join(this.root, "data", "channels", ref.channel, "CHANNEL.md")))) {
        throw new CrosstalkError("ERR_CHANNEL_NOT_FOUND", `No channel "${ref.channel}"`);
      }
    };
  }

  #dayDir(ref: MessageRef): string {
    parseMessageId(ref.id);
    return join(this.dir, ref.channel, ...ref.id.split("/").slice(0, 3));
  }

  #path(ref: MessageRef, kind: string): string {
    return join(this.#dayDir(ref), `${stemOf(ref.id)}~${kind}.json`);
  }

  #receiptPath(ref: MessageRef, kind: ReceiptKind, agent: string): string {
    return join(this.#dayDir(ref), RECEIPTS, `${stemOf(ref.id)}~${kind}~${agent}.json`);
  }
}

function stemOf(id: string): string {
  return id.split("/")[3]!.slice(0, -3);
}

function describe(ref: MessageRef): string {
  return `${ref.channel.slice(0, 8)}/${ref.id}`;
}

function isChannelGone(error: unknown): boolean {
  return error instanceof CrosstalkError && error.code === "ERR_CHANNEL_NOT_FOUND";
}

/**
 * `Cursor`: the durable record of which messages an engine has already handled, kept in the
 * machine-local state dir, so that a restart neither misses nor repeats a message.
 *
 * File names order messages by the sender's clock, so "everything after the newest name" would
 * miss a slow writer's file that lands late with an older name. The cursor therefore remembers
 * the ids it has seen. To stay small it compacts: ids older than a horizon are forgotten, and an
 * old-named file is considered again only if it arrived (its ctime) after that compaction.
 *
 * The journal is append-only text, one `<channel> <id> <seenAtMs>` line per message; a torn last
 * line (a crash mid-append) is ignored, which can only repeat a message, never lose one.
 */
import { writeAll, writeFileAtomic } from "./_fs.ts";
import type { MessageRef } from "./transport.ts";
import { formatMessageId } from "./names.ts";

const HEADER = "crosstalk-cursor 1";
/** How far clocks (this machine's and a file server's) may disagree. */
export const CLOCK_SKEW_MS = 10 * 60 * 1000;
/** How late a message may arrive after its own timestamp and still be found without a stat. */
export const LATE_WINDOW_MS = 60 * 60 * 1000;

/** Options for {@linkcode Cursor.open}. */
export interface CursorOptions {
  /** The clock, for tests. */
  now?: () => number;
  /** Compact after this many ids were added since the last compaction. */
  compactAfter?: number;
}

/** The set of handled messages, durable across restarts. */
export class Cursor implements AsyncDisposable {
  readonly path: string;
  #seen = new Map<string, number>();
  #horizon: string | undefined;
  #horizonAt = 0;
  #file: Deno.FsFile | undefined;
  #now: () => number;
  #compactAfter: number;
  #compactedSize = 0;
  #encoder = new TextEncoder();

  private constructor(path: string, options: CursorOptions) {
    this.path = path;
    this.#now = options.now ?? Date.now;
    this.#compactAfter = options.compactAfter ?? 50_000;
  }

  /** Loads the cursor at `path`, creating it when missing. */
  static async open(path: string, options: CursorOptions = {}): Promise<Cursor> {
    const cursor = new Cursor(path, options);
    let text = "";
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const torn = cursor.#load(text);
    cursor.#compactedSize = cursor.#seen.size;
    if (torn || !text.startsWith(HEADER)) await cursor.#rewrite();
    cursor.#file = await Deno.open(path, { append: true, create: true });
    return cursor;
  }

  /** Ids older than this (`YYYY/MM/DD/HHMMSSmmmZ`) were forgotten at {@linkcode horizonAt}. */
  get horizon(): string | undefined {
    return this.#horizon;
  }

  /** When the horizon was set (ms since epoch). */
  get horizonAt(): number {
    return this.#horizonAt;
  }

  /** How many ids the cursor remembers. */
  get size(): number {
    return this.#seen.size;
  }

  /** True when the message was handled (and not forgotten by compaction). */
  has(ref: MessageRef): boolean {
    return this.#seen.has(key(ref));
  }

  /**
   * True when a message must be handled: not seen, and either newer than the horizon or arrived
   * after it was set. `changedAt` (ctime, ms) is only needed for ids older than the horizon.
   */
  isNew(ref: MessageRef, changedAt?: () => Promise<number>): boolean | Promise<boolean> {
    if (this.#seen.has(key(ref))) return false;
    if (this.#horizon === undefined || ref.id >= this.#horizon) return true;
    if (!changedAt) return true;
    return changedAt().then((t) => t >= this.#horizonAt - CLOCK_SKEW_MS);
  }

  /** True when a folder of ids all older than the horizon may hold new files (by its mtime). */
  mayHoldNew(prefix: string, modifiedAt: number): boolean {
    if (this.#horizon === undefined || prefix >= this.#horizon.slice(0, prefix.length)) return true;
    return modifiedAt >= this.#horizonAt - CLOCK_SKEW_MS;
  }

  /** Records messages as handled, durably (survives a process crash). */
  async mark(refs: Iterable<MessageRef>): Promise<void> {
    const at = this.#now();
    let lines = "";
    for (const ref of refs) {
      const k = key(ref);
      if (this.#seen.has(k)) continue;
      this.#seen.set(k, at);
      lines += `${ref.channel} ${ref.id} ${at}\n`;
    }
    if (lines === "" || !this.#file) return;
    await writeAll(this.#file, this.#encoder.encode(lines));
    if (this.#seen.size >= this.#compactedSize + this.#compactAfter) await this.compact();
  }

  /** Forgets ids older than the late window, keeping the journal small. */
  async compact(): Promise<void> {
    const now = this.#now();
    this.#horizon = formatMessageId({ time: new Date(now - LATE_WINDOW_MS), random: "00000000" })
      .slice(0, "YYYY/MM/DD/HHMMSSmmmZ".length);
    this.#horizonAt = now;
    for (const [k, seenAt] of this.#seen) {
      if (k.slice(37) < this.#horizon && seenAt < now - 2 * CLOCK_SKEW_MS) this.#seen.delete(k);
    }
    this.#compactedSize = this.#seen.size;
    this.#file?.close();
    this.#file = undefined;
    await this.#rewrite();
    this.#file = await Deno.open(this.path, { append: true, create: true });
  }

  /** Closes the journal. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #load(text: string): boolean {
    const lines = text.split("\n");
    const torn = lines.at(-1) !== "";
    if (torn) lines.pop();
    for (const line of lines) {
      if (line === "" || line === HEADER) continue;
      const parts = line.split(" ");
      if (parts[0] === "horizon" && parts.length === 3) {
        this.#horizon = parts[1] === "-" ? undefined : parts[1];
        this.#horizonAt = Number(parts[2]) || 0;
        continue;
      }
      if (parts.length !== 3 || !Number.isFinite(Number(parts[2]))) continue;
      this.#seen.set(`${parts[0]}/${parts[1]}`, Number(parts[2]));
    }
    return torn;
  }

  async #rewrite(): Promise<void> {
    let text = `${HEADER}\nhorizon ${this.#horizon ?? "-"} ${this.#horizonAt}\n`;
    for (const [k, at] of this.#seen) text += `${k.slice(0, 36)} ${k.slice(37)} ${at}\n`;
    await writeFileAtomic(this.path, text);
  }
}

function key(ref: MessageRef): string {
  return `${ref.channel}/${ref.id}`;
}

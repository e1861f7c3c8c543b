// Filesystem helpers private to transports/: atomic writes and safe reads.
import { dirname, join } from "./path.ts";
import { CrosstalkError } from "../schema/errors.ts";

/** The prefix of every temp file; readers and watchers skip names that start with a dot. */
export const TEMP_PREFIX = ".crosstalk-tmp-";

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Options for {@linkcode writeFileAtomic}. */
export interface WriteAtomicOptions {
  /** Flush the data to disk before it becomes visible (survives a power cut). */
  sync?: boolean;
  /** Refuse to replace an existing file: the write fails with `Deno.errors.AlreadyExists`. */
  exclusive?: boolean;
  /** File mode of the new file. */
  mode?: number;
  /**
   * Where the temp file is written, when not beside `path`: a folder on the same filesystem that
   * nobody watches, so that a watcher of `path`'s folder sees one event (the final name) instead of
   * the temp file's creation, writes and removal. Only with `exclusive` (the hard link crosses
   * folders; a rename would too, but could replace). Falls back to a temp file beside `path` when
   * the link cannot cross (another filesystem, no hard links).
   */
  tempDir?: string;
  /**
   * Called before the target's missing folder is made; throwing refuses the write (a message
   * whose channel is gone must not bring its folders back).
   */
  beforeMkdir?: () => Promise<void>;
}

/**
 * Where {@linkcode writeFileAtomic} put its temp file: in `tempDir`, or beside the target (no
 * `tempDir` given, or the link could not cross from it).
 */
export type TempPlace = "tempDir" | "beside";

/**
 * How long the typical (median) quick file call of a write may take on the calling thread before
 * the writes move to Deno's thread pool (see {@linkcode FileCallTimer}).
 */
export const SLOW_FILE_CALL_MS = 0.5;

/** How many in-place calls each median is taken over. */
const WINDOW = 16;

/**
 * Decides where the quick file calls of an atomic write (write, link, rename, remove) run.
 *
 * On a local disk each takes a few microseconds, less than handing it to one of Deno's blocking
 * threads and waking the main thread again (measured through the API: 15-30% more sends per
 * second, 15% less CPU per send). A network filesystem can take a millisecond per call, every
 * call, which would stall the engine's event loop: so the timer takes the median of every
 * {@linkcode WINDOW} in-place calls and, once one passes {@linkcode SLOW_FILE_CALL_MS}, every
 * later write goes through the pool. A median, not a mean: on a busy machine a call now and then
 * takes milliseconds of wall time because the thread lost its core, which says nothing about the
 * disk. Creating the temp file is one of the quick calls too: it allocates an inode, a few tens of
 * microseconds of kernel time on a local disk, less than the hand-off to the pool and back, which
 * on a busy machine also lets the woken pool thread take the engine's core (measured with the
 * live agents' rounds: 15% less engine CPU a message). Flushing (`fdatasync`) always goes
 * through the pool: it waits for the disk.
 */
export class FileCallTimer {
  #window: number[] = [];
  #inPlace = true;

  /** True while the quick calls run on the calling thread. */
  get inPlace(): boolean {
    return this.#inPlace;
  }

  /** Records how long one in-place call took. */
  record(ms: number): void {
    this.#window.push(ms);
    if (this.#window.length < WINDOW) return;
    const sorted = this.#window.sort((a, b) => a - b);
    if (sorted[WINDOW / 2]! > SLOW_FILE_CALL_MS) this.#inPlace = false;
    this.#window = [];
  }

  /** Runs `inPlace` on this thread, timed, or `pooled` once the calls have proved slow. */
  async run<T>(inPlace: () => T, pooled: () => Promise<T>): Promise<T> {
    if (!this.#inPlace) return await pooled();
    const started = performance.now();
    try {
      return inPlace();
    } finally {
      this.record(performance.now() - started);
    }
  }
}

/** The process's timer for the quick file calls of atomic writes. */
export const fileCalls: FileCallTimer = new FileCallTimer();

/**
 * Writes `data` to `path` so that no reader ever sees a partial file: a temp file in the same
 * folder (or `tempDir`), then a rename (or, when `exclusive`, a hard link that fails if the name
 * is taken). Returns where the temp file was.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<TempPlace> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  if (options.exclusive && options.tempDir !== undefined) {
    if (await linkFromTempDir(path, bytes, options, options.tempDir)) return "tempDir";
  }
  const dir = dirname(path);
  const temp = join(dir, `${TEMP_PREFIX}${randomHex(8)}`);
  await writeTempIn(dir, temp, bytes, options, options.beforeMkdir);
  try {
    if (options.exclusive) {
      try {
        await link(temp, path);
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) throw error;
        // Filesystems without hard links (some SMB mounts): check, then rename.
        if (await exists(path)) throw new Deno.errors.AlreadyExists(path);
        await rename(temp, path);
        return "beside";
      }
      // The file is in place: a temp name that cannot be removed is left for transport check
      // to report, and the write succeeded (failing it would invite a retry, a second copy).
      await remove(temp).catch(() => {});
    } else {
      await rename(temp, path);
    }
  } catch (error) {
    await remove(temp).catch(() => {});
    throw error;
  }
  return "beside";
}

/**
 * Writes all of `bytes` to an open file (a temp file, or the end of an append-only journal), in
 * place while file calls are quick (see {@linkcode FileCallTimer}).
 */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const rest = bytes.subarray(written);
    written += await fileCalls.run(() => file.writeSync(rest), () => file.write(rest));
  }
}

const link = (from: string, to: string) =>
  fileCalls.run(() => Deno.linkSync(from, to), () => Deno.link(from, to));
const rename = (from: string, to: string) =>
  fileCalls.run(() => Deno.renameSync(from, to), () => Deno.rename(from, to));
const remove = (path: string) =>
  fileCalls.run(() => Deno.removeSync(path), () => Deno.remove(path));

/**
 * The exclusive write through a temp file in `tempDir`. False when the hard link cannot cross
 * into `path`'s folder (the caller then writes beside `path`); throws `AlreadyExists` when the
 * name is taken.
 */
async function linkFromTempDir(
  path: string,
  bytes: Uint8Array,
  options: WriteAtomicOptions,
  tempDir: string,
): Promise<boolean> {
  const temp = join(tempDir, `${TEMP_PREFIX}${randomHex(8)}`);
  await writeTempIn(tempDir, temp, bytes, options, undefined);
  try {
    let linked = await tryLink(temp, path);
    if (linked === "no folder") {
      await options.beforeMkdir?.();
      await Deno.mkdir(dirname(path), { recursive: true });
      linked = await tryLink(temp, path);
    }
    return linked === "linked";
  } finally {
    await remove(temp).catch(() => {});
  }
}

/** Links `temp` to `path`: throws `AlreadyExists` when the name is taken. */
async function tryLink(temp: string, path: string): Promise<"linked" | "no folder" | "cannot"> {
  try {
    await link(temp, path);
    return "linked";
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw error;
    if (error instanceof Deno.errors.NotFound) return "no folder";
    return "cannot";
  }
}

/** Writes the temp file, creating its folder (after `beforeMkdir`) when it is missing. */
async function writeTempIn(
  dir: string,
  temp: string,
  bytes: Uint8Array,
  options: WriteAtomicOptions,
  beforeMkdir: (() => Promise<void>) | undefined,
): Promise<void> {
  try {
    await writeTemp(temp, bytes, options);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await beforeMkdir?.();
    await Deno.mkdir(dir, { recursive: true });
    await writeTemp(temp, bytes, options);
  }
}

async function writeTemp(temp: string, bytes: Uint8Array, options: WriteAtomicOptions) {
  const open: Deno.OpenOptions = {
    write: true,
    createNew: true,
    ...(options.mode === undefined ? {} : { mode: options.mode }),
  };
  const file = await fileCalls.run(() => Deno.openSync(temp, open), () => Deno.open(temp, open));
  try {
    await writeAll(file, bytes);
    if (options.sync) await file.syncData();
  } catch (error) {
    // A full disk: no half-written temp file stays behind.
    file.close();
    await remove(temp).catch(() => {});
    throw error;
  }
  file.close();
}

/**
 * True when `path` exists (any kind of entry). In place while file calls are quick (see
 * {@linkcode FileCallTimer}): claims and reads ask often, and each hop to Deno's pool costs more
 * than the call.
 */
export function exists(path: string): Promise<boolean> {
  return fileCalls.run(() => {
    try {
      Deno.lstatSync(path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }, async () => {
    try {
      await Deno.lstat(path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  });
}

/** `Deno.lstat`, in place while file calls are quick. */
function lstat(path: string): Promise<Deno.FileInfo> {
  return fileCalls.run(() => Deno.lstatSync(path), () => Deno.lstat(path));
}

/**
 * Reads a UTF-8 text file of at most `maxBytes`.
 *
 * @throws {CrosstalkError} `errorCode` when the file is too large or not UTF-8
 */
export async function readTextFile(
  path: string,
  maxBytes: number,
  errorCode: "ERR_MESSAGE_INVALID" | "ERR_CHANNEL_INVALID" | "ERR_CONFIG_INVALID",
  label: string,
  options: { symlinks?: boolean; anyKind?: boolean } = {},
): Promise<string> {
  // Looked at before it is opened: opening a FIFO would wait for a writer forever, a symlink
  // (which a peer can push) could point anywhere, and a huge file would be read whole first.
  // `anyKind` is for a file a user names on the command line (`--file /dev/stdin`).
  let info = await lstat(path);
  if (info.isSymlink && (options.symlinks || options.anyKind)) info = await Deno.stat(path);
  if (!info.isFile && !options.anyKind) {
    throw new CrosstalkError(
      errorCode,
      `Cannot read "${label}": it is ${
        info.isSymlink ? "a symbolic link" : info.isDirectory ? "a folder" : "not a regular file"
      }`,
    );
  }
  if (info.isFile && info.size > maxBytes) {
    throw new CrosstalkError(
      errorCode,
      `Cannot read "${label}": ${info.size} bytes is over the limit of ${maxBytes}`,
    );
  }
  const bytes = await Deno.readFile(path);
  if (bytes.length > maxBytes) {
    throw new CrosstalkError(
      errorCode,
      `Cannot read "${label}": ${bytes.length} bytes is over the limit of ${maxBytes}`,
    );
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw new CrosstalkError(errorCode, `Cannot read "${label}": it is not valid UTF-8 text`);
  }
}

/** Lists the names in a folder, or nothing when it does not exist. */
export async function readDirNames(path: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(path)) entries.push(entry);
  } catch (error) {
    if (isNoFolder(error)) return [];
    throw error;
  }
  return entries;
}

/** True for the error of listing a folder that is not there (or is a file). */
function isNoFolder(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory;
}

/**
 * {@linkcode readDirNames} for a folder that stays small (a day's task and badge records), in
 * place while file calls are quick (see {@linkcode FileCallTimer}): every read of a live agent
 * lists its messages' labels, and the hop to Deno's pool costs more than listing a few names.
 */
export function readSmallDirNames(path: string): Promise<Deno.DirEntry[]> {
  return fileCalls.run(() => {
    try {
      return [...Deno.readDirSync(path)];
    } catch (error) {
      if (isNoFolder(error)) return [];
      throw error;
    }
  }, () => readDirNames(path));
}

/** `n` random lowercase hex digits. */
export function randomHex(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(n / 2)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, n);
}

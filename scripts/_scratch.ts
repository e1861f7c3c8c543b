/**
 * Scratch folders for the benchmarks: under $TMPDIR when it is set, else under
 * `~/.cache/crosstalk-bench` (where a transport would live, not in `/tmp`), all removed when the
 * whole run ends rather than when each benchmark ends.
 *
 * Why: on ext4 without a journal (our machines), the inode allocator skips every inode freed in
 * the last minute or more (fs/ext4/ialloc.c, `recently_deleted`; 5 minutes while the inode table
 * is dirty). After thousands of files were removed nearby (the test suite in `/tmp`, or the
 * previous benchmark cleaning up), creating a file there cost 0.45-0.9 ms instead of 0.02 ms, seen
 * with `perf record` on the engine (a third of its kernel samples) and with a loop of creates.
 * {@linkcode fileCreateMicros} measures it in the same run, so the report can say so.
 *
 * @module
 */

const made: string[] = [];

/** The folder scratch folders are made in. */
export function scratchRoot(): string {
  const tmp = Deno.env.get("TMPDIR");
  if (tmp) return tmp;
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${cache}/crosstalk-bench`;
}

/** A new folder under {@linkcode scratchRoot}, removed by {@linkcode removeScratch}. */
export async function scratchDir(prefix: string): Promise<string> {
  const root = scratchRoot();
  await Deno.mkdir(root, { recursive: true });
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix, dir: root }));
  made.push(dir);
  return dir;
}

/** Removes every scratch folder made so far. */
export async function removeScratch(): Promise<void> {
  for (const dir of made.splice(0)) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** The median cost of creating one empty file in a new scratch folder, in µs. */
export async function fileCreateMicros(count = 300): Promise<number> {
  const dir = await scratchDir("crosstalk-bench-create-");
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    Deno.openSync(`${dir}/f${i}`, { write: true, createNew: true }).close();
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

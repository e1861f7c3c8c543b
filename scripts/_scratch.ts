/**
 * Scratch folders for the benchmarks, all removed when the whole run ends rather than when each
 * benchmark ends. ext4 does not reuse an inode freed in the last 30 seconds or so when it
 * allocates a new one (fs/ext4/ialloc.c, `recently_deleted`): right after a folder of thousands
 * of files is removed, every file created nearby costs up to 0.8 ms instead of 0.02 ms (seen
 * with `perf record` on the engine of our 2-core machines, where that scan took a third of its
 * kernel time). Removing at the end keeps one benchmark's cleanup out of the next one's figures.
 *
 * @module
 */

const made: string[] = [];

/** A new folder under $TMPDIR (else /tmp), removed by {@linkcode removeScratch}. */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  made.push(dir);
  return dir;
}

/** Removes every scratch folder made so far. */
export async function removeScratch(): Promise<void> {
  for (const dir of made.splice(0)) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

#!/usr/bin/env bash
# A fresh journaled ext4 on a loop device for the benchmarks' scratch folders, so that runs on a
# shared VM compare like with like: on the VM's own disk, creating a file costs tens or hundreds of
# microseconds depending on the inodes freed nearby in the last minutes (scripts/_scratch.ts), and
# that moves every figure. docs/BENCHMARKS.md's runs since 2026-12-07 used this.
#
#   scripts/bench_disk.sh [MOUNTPOINT [SIZE]]   make and mount it (root; default
#                                               /mnt/crosstalk-bench, 8G), print the TMPDIR to use
#   scripts/bench_disk.sh --remove [MOUNTPOINT] unmount it and delete its image
#
# then e.g. `TMPDIR=/mnt/crosstalk-bench deno task bench`. The image is a sparse file beside the
# mount point's name under /var/tmp; nothing else on the machine is touched.
set -euo pipefail

remove=false
if [ "${1:-}" = "--remove" ]; then
  remove=true
  shift
fi
mnt=${1:-/mnt/crosstalk-bench}
size=${2:-8G}
img="/var/tmp/$(basename "$mnt").ext4"

if $remove; then
  if mountpoint -q "$mnt"; then umount "$mnt"; fi
  rm -f "$img"
  echo "removed $mnt and $img"
  exit 0
fi
if mountpoint -q "$mnt"; then
  echo "TMPDIR=$mnt (already mounted)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: mounting a loop device needs root; run it with sudo" >&2
  exit 1
fi
if ! command -v mkfs.ext4 > /dev/null; then
  echo "error: mkfs.ext4 is not installed (Debian: apt-get install e2fsprogs)" >&2
  exit 1
fi
truncate -s "$size" "$img"
mkfs.ext4 -q -F "$img"
mkdir -p "$mnt"
mount -o loop "$img" "$mnt"
echo "TMPDIR=$mnt"

#!/usr/bin/env bash
# Create (once) and cache a Debian bookworm arm64 root filesystem: what
# Raspberry Pi OS Lite 64-bit is built on (same Debian release, glibc 2.36,
# python3 3.11). Prints the path of the cached, pristine tree on stdout.
#
#   .ci/aarch64/rootfs.sh [CACHE_DIR]      (default /var/cache/helio-aarch64)
#
# The tree is keyed by everything that decides its contents (suite, arch,
# package list, this script), built in a .partial directory and renamed when
# complete, under a lock, so an interrupted or concurrent run never leaves a
# half-made cache behind. Needs root, debootstrap and binfmt (binfmt.sh).
set -euo pipefail

CACHE=${1:-${HELIO_AARCH64_CACHE:-/var/cache/helio-aarch64}}
SUITE=bookworm
ARCH=arm64
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# python3-venv: the deploy creates venvs (Pi OS Lite ships it; docs/deploy.md asks for it).
# rsync: what the deploy copies with. procps: ps, for looking around by hand.
# faketime: the job only; it starts the agent a few seconds before a 15-minute
# step boundary, so that a forecast is due within the 30 s run (see README.md).
INCLUDE=python3,python3-venv,rsync,procps,faketime
# bump when the tree is made differently (the cache key is these inputs, not the script text)
RECIPE=1
KEY=$(echo "$SUITE $ARCH minbase $INCLUDE $RECIPE" | sha256sum | cut -c1-12)
DEST=$CACHE/rootfs-$SUITE-$ARCH-$KEY

mkdir -p "$CACHE"
exec 9>"$CACHE/.rootfs.lock"
flock 9
if [ -f "$DEST/.complete" ]; then
  echo "rootfs: cached $DEST" >&2
  echo "$DEST"
  exit 0
fi
t0=$(date +%s)
echo "rootfs: debootstrap $SUITE $ARCH from $MIRROR into $DEST (cold cache: a few minutes)" >&2
rm -rf "$DEST.partial"
# --variant=minbase: Priority required + apt (Pi OS Lite has more, nothing the agent needs)
nice -n 10 debootstrap --arch="$ARCH" --variant=minbase --include="$INCLUDE" \
  "$SUITE" "$DEST.partial" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 || {
    echo "rootfs: debootstrap failed; last lines of $CACHE/debootstrap.log:" >&2
    tail -20 "$CACHE/debootstrap.log" >&2
    exit 1
  }
# the downloaded .debs and apt lists are not needed again: keep the cache small
rm -rf "$DEST.partial"/var/cache/apt/archives/*.deb "$DEST.partial"/var/lib/apt/lists/*
chroot "$DEST.partial" /usr/bin/python3 -c 'import platform, sys; print("rootfs: python", sys.version.split()[0], platform.machine())' >&2
date -u +%FT%TZ > "$DEST.partial/.complete"
# older trees from an earlier version of this script
for old in "$CACHE"/rootfs-$SUITE-$ARCH-*; do
  [ "$old" = "$DEST.partial" ] || [ "$old" = "$DEST" ] || rm -rf "$old"
done
mv "$DEST.partial" "$DEST"
echo "rootfs: created in $(( $(date +%s) - t0 )) s, $(du -sm "$DEST" | cut -f1) MB" >&2
echo "$DEST"

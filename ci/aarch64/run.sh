#!/usr/bin/env bash
# make test-aarch64: the aarch64 release, installed by the deploy into a Debian
# bookworm arm64 root filesystem and run there under user-mode QEMU (README.md).
#
#   ci/aarch64/run.sh [PYTHON]        PYTHON: the project venv's (default .venv/bin/python)
#
# Environment: HELIO_AARCH64_CACHE (default /var/cache/helio-aarch64),
# HELIO_AARCH64_PI5=1 adds the Pi 5 pass (cortex-a76), HELIO_AARCH64_NICE
# (default 10), HELIO_AARCH64_REQUIRED=1 turns "cannot run here" into a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${1:-.venv/bin/python}
CACHE=${HELIO_AARCH64_CACHE:-/var/cache/helio-aarch64}
NICE=${HELIO_AARCH64_NICE:-10}
t0=$(date +%s)

skip() {
  local bar="!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  printf '\n%s\n!!! test-aarch64 SKIPPED: %s\n!!! nothing was run on aarch64; the release is NOT proven on the Pi'"'"'s architecture.\n%s\n\n' \
    "$bar" "$1" "$bar" >&2
  [ "${HELIO_AARCH64_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
}

[ "$(id -u)" = 0 ] || skip "needs root (chroot, mounts, binfmt_misc); CI runs .ci/run as root"
for tool in debootstrap qemu-aarch64-static unshare chroot rsync; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (apt-get install debootstrap qemu-user-static binfmt-support rsync)"
done
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || skip "mosquitto is not installed"

rc=0
ci/aarch64/binfmt.sh || rc=$?
[ "$rc" = 77 ] && skip "binfmt_misc is not available, so aarch64 binaries cannot run here (see the line above)"
[ "$rc" = 0 ] || exit "$rc"

ROOTFS=$(ci/aarch64/rootfs.sh "$CACHE")
t_rootfs=$(( $(date +%s) - t0 ))

passes=("pi4 cortex-a72 ci/aarch64/cpuinfo/pi4.txt 0")
[ "${HELIO_AARCH64_PI5:-0}" = 1 ] && passes+=("pi5 cortex-a76 ci/aarch64/cpuinfo/pi5.txt 16384")
status=0
for p in "${passes[@]}"; do
  read -r name cpu cpuinfo pagesize <<<"$p"
  HELIO_AARCH64_NS=1 nice -n "$NICE" unshare --mount --propagation private \
    "$PY" ci/aarch64/job.py --rootfs "$ROOTFS" --cache "$CACHE" --name "$name" \
    --cpu "$cpu" --cpuinfo "$cpuinfo" --page-size "$pagesize" || status=1
done
echo "test-aarch64: $( [ $status = 0 ] && echo OK || echo FAILED ) in $(( $(date +%s) - t0 )) s" \
     "(root filesystem ready after ${t_rootfs} s; cache $CACHE)"
exit $status

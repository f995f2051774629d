#!/usr/bin/env bash
# make test-aarch64: the aarch64 release, installed by the deploy into a Debian
# bookworm arm64 root filesystem and run there under user-mode QEMU (README.md).
#
#   .ci/aarch64/run.sh [PYTHON]        PYTHON: the project venv's (default .venv/bin/python)
#
# Environment: HELIO_AARCH64_CACHE (default /var/cache/helio-aarch64),
# HELIO_AARCH64_PASSES (default "pi4"; also pi5: cortex-a76 with 16K pages, pi3:
# cortex-a53), HELIO_AARCH64_NICE (default 10), HELIO_AARCH64_REQUIRED=1 turns
# "cannot run here" into a failure.
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
.ci/aarch64/binfmt.sh || rc=$?
[ "$rc" = 77 ] && skip "binfmt_misc is not available, so aarch64 binaries cannot run here (see the line above)"
[ "$rc" = 0 ] || exit "$rc"

ROOTFS=$(.ci/aarch64/rootfs.sh "$CACHE")
t_rootfs=$(( $(date +%s) - t0 ))

# pass: QEMU CPU model, /proc/cpuinfo shown inside, page size (0: the host's 4K)
declare -A CPU=([pi4]=cortex-a72 [pi5]=cortex-a76 [pi3]=cortex-a53)
declare -A PAGE=([pi4]=0 [pi5]=16384 [pi3]=0)
status=0
for name in ${HELIO_AARCH64_PASSES:-pi4}; do
  [ -n "${CPU[$name]:-}" ] || { echo "test-aarch64: unknown pass $name (pi4, pi5, pi3)" >&2; exit 2; }
  cpu=${CPU[$name]} pagesize=${PAGE[$name]} cpuinfo=.ci/aarch64/cpuinfo/$name.txt
  HELIO_AARCH64_NS=1 nice -n "$NICE" unshare --mount --propagation private \
    "$PY" .ci/aarch64/job.py --rootfs "$ROOTFS" --cache "$CACHE" --name "$name" \
    --cpu "$cpu" --cpuinfo "$cpuinfo" --page-size "$pagesize" || status=1
done
echo "test-aarch64: $( [ $status = 0 ] && echo OK || echo FAILED ) in $(( $(date +%s) - t0 )) s" \
     "(root filesystem ready after ${t_rootfs} s; cache $CACHE)"
exit $status

#!/usr/bin/env bash
# Register qemu-aarch64 with the kernel's binfmt_misc, so that aarch64 ELF
# binaries (the Debian arm64 root filesystem's python3) run on this x86 host.
#
# Exit status: 0 registered (or already), 77 cannot be done on this machine
# (no binfmt_misc, cannot mount it, not root): the caller prints a warning
# and skips; anything else is a real failure.
set -euo pipefail

BINFMT=/proc/sys/fs/binfmt_misc
ENTRY=$BINFMT/qemu-aarch64

skip() { echo "binfmt: $*" >&2; exit 77; }

[ "$(id -u)" = 0 ] || skip "not root: cannot mount binfmt_misc or register qemu-aarch64"
command -v qemu-aarch64-static >/dev/null || { echo "binfmt: qemu-user-static is not installed" >&2; exit 1; }
grep -qw binfmt_misc /proc/filesystems || modprobe binfmt_misc 2>/dev/null || true
grep -qw binfmt_misc /proc/filesystems || skip "this kernel has no binfmt_misc"
if [ ! -e "$BINFMT/register" ]; then
  mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
    || skip "cannot mount binfmt_misc on $BINFMT (a container without the privilege?)"
fi
if [ ! -e "$ENTRY" ]; then
  # binfmt-support's entry (from qemu-user-static) has the F flag: the kernel
  # opens the interpreter now, so the chroot needs no copy of qemu inside it.
  update-binfmts --enable qemu-aarch64 2>/dev/null || true
fi
if [ ! -e "$ENTRY" ]; then
  # no binfmt-support (or it refused): register by hand, same magic and mask
  printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:FP' \
    > "$BINFMT/register" || skip "cannot write $BINFMT/register"
fi
grep -q '^enabled' "$ENTRY" || { echo 1 > "$ENTRY"; }
grep -q '^flags: .*F' "$ENTRY" \
  || echo "binfmt: warning: qemu-aarch64 is registered without the F flag; the chroot needs qemu inside" >&2
echo "binfmt: qemu-aarch64 registered ($(sed -n 's/^interpreter //p' "$ENTRY"), flags $(sed -n 's/^flags: //p' "$ENTRY"))"

"""The agent's import time and memory on aarch64 under QEMU, next to x86.

Measured in the emulated Raspberry Pi 4 (QEMU ``cortex-a72``, Debian
bookworm arm64) that ``make test-aarch64`` left installed: a fresh
interpreter imports what ``helio-edge run`` imports (the agent, pvlib and
pandas through the forecasting code, LiteRT) and reports the wall time of
those imports and its peak resident memory; the same on this machine.
Medians of 3 interpreters each.

These are emulation figures, not Pi figures: QEMU translates every
instruction (a Pi 4 runs this code several times faster than this), and the
emulated RSS is the QEMU process's, which adds its translated-code cache to
the guest's own pages. They show how the cost is split and catch a change
that makes starting the agent much slower or bigger; a Pi has to be
measured on a Pi. Needs root (chroot, mounts); without it, or before
``make test-aarch64`` has run, the figures of the last job are printed if
there are any.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("HELIO_AARCH64_CACHE", "/var/cache/helio-aarch64"))


def _rootfs() -> Path | None:
    trees = [p for p in sorted(CACHE.glob("rootfs-bookworm-arm64-*")) if (p / ".complete").exists()]
    return trees[-1] if trees else None


def _measure(rootfs: Path) -> dict[str, dict[str, float]] | str:
    if os.geteuid() != 0:
        return "needs root (chroot and mounts)"
    if not (CACHE / "work/pi4/upper/opt/helio-edge/current").is_symlink():
        return "no installed device: run `make test-aarch64` first"
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        return "qemu-aarch64 is not registered with binfmt_misc (.ci/aarch64/binfmt.sh)"
    env = {**os.environ, "HELIO_AARCH64_NS": "1"}
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable,
         str(REPO / ".ci/aarch64/job.py"), "--rootfs", str(rootfs), "--cache", str(CACHE),
         "--measure", "3"],
        capture_output=True, text=True, env=env, timeout=900, check=False)
    if done.returncode != 0:
        return f"measurement failed: {(done.stderr or done.stdout).strip()[-500:]}"
    result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _table(figures: dict[str, dict[str, float]]) -> None:
    print(f"{'':<28}{'import [s]':>12}{'peak RSS [MB]':>16}")
    for name, label in (("x86", "x86_64 (this machine)"),
                        ("aarch64", "aarch64, QEMU cortex-a72")):
        f = figures.get(name)
        if f:
            print(f"{label:<28}{f['import_s']:>12.2f}{f['maxrss_mb']:>16.1f}")
    if "x86" in figures and "aarch64" in figures:
        arm, x86 = figures["aarch64"], figures["x86"]
        print(f"emulated / x86: import x{arm['import_s'] / x86['import_s']:.1f}, "
              f"RSS x{arm['maxrss_mb'] / x86['maxrss_mb']:.1f} (QEMU's own memory included)")


def main() -> None:
    """Print the figures (or why there are none)."""
    rootfs = _rootfs()
    got = _measure(rootfs) if rootfs else "no cached root filesystem: run `make test-aarch64`"
    if isinstance(got, dict):
        print("agent imports (edge.commands.run + forecasting + LiteRT), median of 3:")
        _table(got)
        return
    print(f"aarch64 import time not measured now: {got}")
    last = CACHE / "last-pi4.json"
    if last.exists():
        summary = json.loads(last.read_text())
        print(f"figures of the last make test-aarch64 ({summary['finished']}):")
        _table(summary["figures"].get("import", {}))


if __name__ == "__main__":
    main()

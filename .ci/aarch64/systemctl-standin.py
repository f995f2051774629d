#!/usr/bin/python3
"""Stand-in for ``systemctl`` inside the aarch64 root filesystem (no systemd there).

The deploy drives the service through ``--service-manager``; this script
takes the same verbs (``daemon-reload``, ``enable``, ``restart``, ``start``,
``stop``, ``is-active``) and does what systemd would do with the installed
unit, as far as a chroot allows: it reads ``ExecStart``, ``User``, ``Group``,
``SupplementaryGroups``, ``WorkingDirectory``, ``StateDirectory`` and
``Environment`` from /etc/systemd/system/helio-edge.service and starts that
command as that user, in the background. Every call is logged to
/run/helio-standin/calls.log; the service's output goes to
/run/helio-standin/agent.log. Standard library only: it runs on the
emulated device's python3.
"""

import grp
import os
import pwd
import shlex
import signal
import subprocess
import sys
import time

STATE = "/run/helio-standin"
UNIT = "/etc/systemd/system/helio-edge.service"
PIDFILE = os.path.join(STATE, "agent.pid")


def unit_settings():
    out = {"Environment": []}
    section = ""
    with open(UNIT) as fh:
        for raw in fh:
            line = raw.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                if key == "Environment":
                    out["Environment"].append(value)
                else:
                    out[key] = value
    return out


def running():
    try:
        with open(PIDFILE) as fh:
            pid = int(fh.read())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return 0
    # a zombie child of an earlier call is not running
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().split(")")[-1].split()[0] == "Z":
                return 0
    except OSError:
        return 0
    return pid


def stop(timeout=30.0):
    pid = running()
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)
        if running():
            os.kill(pid, signal.SIGKILL)
    if os.path.exists(PIDFILE):
        os.unlink(PIDFILE)


def start():
    unit = unit_settings()
    user = pwd.getpwnam(unit.get("User", "root"))
    group = grp.getgrnam(unit.get("Group", user.pw_name)).gr_gid
    extra = [grp.getgrnam(g).gr_gid for g in unit.get("SupplementaryGroups", "").split()]
    state = unit.get("StateDirectory")
    if state:  # systemd creates it, owned by the service user
        path = os.path.join("/var/lib", state)
        os.makedirs(path, exist_ok=True)
        os.chown(path, user.pw_uid, group)
        os.chmod(path, int(unit.get("StateDirectoryMode", "0755"), 8))
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": user.pw_dir}
    for name in ("QEMU_CPU", "LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC"):
        if name in os.environ:  # emulation settings of the job, passed through
            env[name] = os.environ[name]
    for item in unit["Environment"]:
        key, value = item.split("=", 1)
        env[key] = value
    with open(os.path.join(STATE, "agent.log"), "ab") as log:
        proc = subprocess.Popen(
            shlex.split(unit["ExecStart"]), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            cwd=unit.get("WorkingDirectory", "/"), env=env, user=user.pw_uid, group=group,
            extra_groups=extra, umask=int(unit.get("UMask", "0022"), 8), start_new_session=True,
        )
    with open(PIDFILE, "w") as fh:
        fh.write(str(proc.pid))


def main(argv):
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "calls.log"), "a") as fh:
        fh.write(" ".join(argv) + "\n")
    verb = argv[0] if argv else ""
    if verb in ("restart", "start"):
        stop()
        start()
    elif verb == "stop":
        stop()
    elif verb == "is-active":
        ok = bool(running())
        sys.stdout.write("active\n" if ok else "inactive\n")
        return 0 if ok else 3
    elif verb not in ("daemon-reload", "enable"):
        sys.stderr.write(f"systemctl-standin: unknown verb {verb!r}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

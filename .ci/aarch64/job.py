"""``make test-aarch64``: the release, installed by the deploy, run on arm64 under QEMU.

Run by ``.ci/aarch64/run.sh`` (which registers qemu-aarch64 with binfmt_misc
and creates the cached Debian bookworm arm64 root filesystem first), as
root, in a private mount namespace (``unshare --mount``), so every mount
made here disappears with the process even if it is killed.

What it does, in order (each step is timed and printed):

1. builds the release exactly as ``helio-edge deploy --arch aarch64`` does:
   the project wheel, the aarch64/cp311 wheelhouse (cached), the staged
   release with an agent config made from ``configs/edge/abuja.toml``
   (broker and serial ports pointed at this job's mosquitto and simulators);
2. lays a fresh overlay over the cached root filesystem, mounts ``/proc``
   with a Raspberry Pi ``/proc/cpuinfo`` bound over the host's (see
   README.md: LiteRT's CPU detection aborts on an x86 cpuinfo), ``/dev``
   (the simulators' pty slaves), ``/sys`` and a ``/run`` tmpfs;
3. deploys with the deploy's own code (:func:`edge.deploy.orchestrate.deploy`): only the
   transport differs, ``chroot ROOT /bin/sh -c`` instead of ``ssh``, so the
   on-device standard-library script is fed to the device's ``python3`` on
   stdin as over SSH; the service manager is ``systemctl-standin.py``;
4. inside the device: ``helio-edge predict`` (compared byte for byte with
   this machine's output), ``helio-bridge decode`` on every capture in
   tests/data (compared likewise), ``helio-edge check`` with its defaults,
   and the agent as the service user for 30 s against mosquitto on the
   host's loopback, with the simulators on ptys, asserting readings from
   both devices and a forecast arrive and that it stops cleanly on SIGTERM.

Exit status 0 when everything held; 1 with the list of what did not.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from edge.deploy.build import (  # noqa: E402
    Target,
    build_wheel,
    build_wheelhouse,
    wheel_requirements,
    wheel_version,
)
from edge.deploy.orchestrate import DeployOptions, deploy  # noqa: E402
from edge.deploy.release import DeviceLayout, ReleaseInputs, dump_toml, stage_release  # noqa: E402
from edge.deploy.remote import Remote, SshTarget  # noqa: E402
from edge.forecasting.site import load_site  # noqa: E402
from edge.runtime.contract import tree_filter  # noqa: E402
from edge.testkit.launchers import running_mosquitto  # noqa: E402
from firmware_bridge.config import load_toml  # noqa: E402

SITE = REPO / "configs/sites/abuja.toml"
AGENT_TEMPLATE = REPO / "configs/edge/abuja.toml"
UNIT = REPO / "configs/systemd/helio-edge.service"
CAPTURES = REPO / "tests/data"
#: the installed release, as the unit's ExecStart reaches it
VENV_BIN = "/opt/helio-edge/current/venv/bin"
STANDIN = "/usr/local/sbin/helio-systemctl"
LIBFAKETIME = "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"
#: issue times for the predict comparison: noon in June, a Harmattan morning, night
PREDICT_TIMES = ("2026-06-21T12:00:00Z", "2026-01-15T07:30:00Z", "2026-11-30T20:00:00Z")


# --------------------------------------------------------------------------
# progress and results
# --------------------------------------------------------------------------


@dataclass
class Job:
    """Progress lines with elapsed seconds, step durations, failures, figures."""

    t0: float = field(default_factory=time.monotonic)
    steps: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)

    def say(self, msg: str) -> None:
        now = time.monotonic() - self.t0
        self.marks.append((now, msg))
        sys.stdout.write(f"[{now:5.0f}s] {msg}\n")
        sys.stdout.flush()

    def expect(self, ok: bool, what: str) -> bool:
        self.say(("  ok    " if ok else "  FAIL  ") + what)
        if not ok:
            self.failures.append(what)
        return ok

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.say(f"== {name}")
        t = time.monotonic()
        try:
            yield
        finally:
            self.steps[name] = round(time.monotonic() - t, 1)

    def mark_time(self, text: str) -> float | None:
        """Elapsed seconds of the first progress line containing ``text``."""
        return next((t for t, m in self.marks if text in m), None)


# --------------------------------------------------------------------------
# the emulated device
# --------------------------------------------------------------------------


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


@dataclass
class Device:
    """A fresh overlay over the cached root filesystem, with the mounts a Pi has."""

    lower: Path
    work: Path
    cpu: str
    cpuinfo: Path
    page_size: int = 0

    @property
    def root(self) -> Path:
        return self.work / "root"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of commands run inside (QEMU reads QEMU_CPU from it)."""
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "HOME": "/root", "QEMU_CPU": self.cpu}
        if self.page_size:
            env["QEMU_PAGESIZE"] = str(self.page_size)
        return {**env, **extra}

    def prepare(self, *, fresh: bool = True, pi_cpuinfo: bool = True) -> None:
        """Mount the device; ``fresh=False`` keeps what the last run installed."""
        if fresh and self.work.exists():
            shutil.rmtree(self.work)
        elif not fresh and not (self.work / "upper/opt/helio-edge/current").is_symlink():
            raise RuntimeError(f"nothing installed in {self.work}: run make test-aarch64 first")
        for d in ("upper", "ovl", "root"):
            (self.work / d).mkdir(parents=True, exist_ok=True)
        try:
            _mount("-t", "overlay", "overlay", "-o",
                   f"lowerdir={self.lower},upperdir={self.work}/upper,workdir={self.work}/ovl",
                   str(self.root))
        except subprocess.CalledProcessError:  # no overlayfs: a plain copy (slower, same result)
            shutil.rmtree(self.root)
            subprocess.run(["cp", "-a", str(self.lower), str(self.root)], check=True)
        r = self.root
        _mount("-t", "proc", "proc", str(r / "proc"))
        if pi_cpuinfo:  # LiteRT (XNNPACK's cpuinfo) aborts on the host's x86 /proc/cpuinfo
            _mount("--bind", str(self.cpuinfo), str(r / "proc/cpuinfo"))
        _mount("--rbind", "/dev", str(r / "dev"))
        _mount("-t", "sysfs", "-o", "ro", "sysfs", str(r / "sys"))
        _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(r / "run"))
        standin = r / STANDIN.lstrip("/")
        standin.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "systemctl-standin.py", standin)
        standin.chmod(0o755)

    def argv(self, cmd: Sequence[str], *, user: str = "", groups: str = "",
             cwd: str = "/") -> list[str]:
        """``chroot`` command line running ``cmd`` inside, in ``cwd``."""
        spec = [f"--userspec={user}"] if user else []
        spec += [f"--groups={groups}"] if groups else []
        inner = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd, *cmd]
        return ["chroot", *spec, str(self.root), *inner]

    def run(self, cmd: Sequence[str], *, timeout: float = 600, stdin: bytes | None = None,
            env: dict[str, str] | None = None, cwd: str = "/",
            ) -> subprocess.CompletedProcess[bytes]:
        """Run ``cmd`` inside; output captured as bytes."""
        return subprocess.run(self.argv(cmd, cwd=cwd), input=stdin, capture_output=True,
                              timeout=timeout, env=env or self.env(), check=False)

    def group_id(self, name: str) -> int:
        for line in (self.root / "etc/group").read_text().splitlines():
            parts = line.split(":")
            if parts[0] == name:
                return int(parts[2])
        raise KeyError(name)


class ChrootRemote(Remote):
    """The deploy's :class:`Remote` with ``chroot`` as the transport instead of ssh.

    Steps run as ``python3 - <step> '<json>'`` with the on-device script on
    stdin, exactly as over SSH; copies are rsync into the root filesystem.
    """

    def __init__(self, device: Device, report: Callable[[str], None]) -> None:
        super().__init__(SshTarget(f"chroot:{device.root}"), python="python3", report=report)
        self.device = device

    def connect(self) -> None:
        self.sudo = False  # root inside

    def _ssh(self, command: str, stdin: str, timeout: float,
             on_line: Callable[[str], None] | None = None) -> subprocess.CompletedProcess[str]:
        return self._stream(self.device.argv(["/bin/sh", "-c", command]), stdin, timeout,
                            on_line, env=self.device.env())

    def push(self, local_dir: Path, remote_dir: str, *, delete: bool,
             keep: Sequence[str] = ()) -> None:
        dest = self.device.root / remote_dir.lstrip("/")
        dest.mkdir(parents=True, exist_ok=True)
        argv = ["rsync", "-a", "--no-owner", "--no-group"]
        if delete:
            argv.append("--delete")
        for name in keep:
            argv += ["--exclude", f"/{name}"]
        subprocess.run([*argv, f"{local_dir}/", f"{dest}/"], check=True)


# --------------------------------------------------------------------------
# host side: broker, subscriber, simulators
# --------------------------------------------------------------------------


@contextlib.contextmanager
def mosquitto(work: Path) -> Iterator[int]:
    """mosquitto on the host's loopback (the device shares the network)."""
    with running_mosquitto(work, ("persistence false", "log_dest none")) as broker:
        yield broker.port


@dataclass
class Inbox:
    """Every message on ``helio/#``: (arrival monotonic time, topic, JSON body)."""

    messages: list[tuple[float, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = None
        with self.lock:
            self.messages.append((time.monotonic(), msg.topic, body))

    def since(self, t: float, stream: str) -> list[Any]:
        with self.lock:
            return [b for at, topic, b in self.messages
                    if at >= t and topic.rsplit("/", 1)[-1] == stream]


@contextlib.contextmanager
def subscriber(port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="helio-aarch64-job")
    client.on_message = inbox.on_message
    client.on_connect = lambda c, *_: c.subscribe(tree_filter(), qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        yield inbox
    finally:
        client.loop_stop()
        client.disconnect()


@contextlib.contextmanager
def simulators(device: Device, start: dt.datetime) -> Iterator[dict[str, str]]:
    """The Abuja charger and inverter on ptys, linked at /run/helio-sim/* inside.

    The pty slaves get group dialout, mode 0660, as udev gives a USB serial
    adapter on a Pi, so the service user (group dialout) opens them.
    """
    from edge.simulation.plant import Plant  # noqa: PLC0415
    from firmware_bridge.simulators.runner import start_simulator  # noqa: PLC0415

    site = load_site(SITE)
    plant = Plant(site, seed=7, start=start, speed=1.0)
    links = device.root / "run/helio-sim"
    links.mkdir(parents=True, exist_ok=True)
    sims = {name: start_simulator(proto, plant=plant, link=links / name)
            for name, proto in (("mppt", "vedirect"), ("inverter", "pi30"))}
    try:
        dialout = device.group_id("dialout")
        for s in sims.values():
            pty = s.pty_path
            assert pty is not None
            os.chown(pty, 0, dialout)
            os.chmod(pty, 0o660)
        yield {name: f"/run/helio-sim/{name}" for name in sims}
    finally:
        for s in sims.values():
            s.stop()


# --------------------------------------------------------------------------
# the steps
# --------------------------------------------------------------------------


def agent_template(work: Path, port: int, ports: dict[str, str]) -> Path:
    """configs/edge/abuja.toml with this job's broker and serial ports."""
    raw = load_toml(AGENT_TEMPLATE)
    base = AGENT_TEMPLATE.parent
    raw["agent"]["site"] = str((base / raw["agent"]["site"]).resolve())
    for key in ("bundle", "public_key"):
        raw["model"][key] = str((base / raw["model"][key]).resolve())
    raw["mqtt"].update(host="127.0.0.1", port=port, reconnect_min_s=0.5, reconnect_max_s=5.0)
    for dev in raw["devices"]:
        dev["port"] = ports[dev["id"]]
    path = work / "abuja-aarch64.toml"
    path.write_text(dump_toml(raw, "configs/edge/abuja.toml for the aarch64 job"))
    return path


def build_release(job: Job, cache: Path, work: Path, template: Path) -> tuple[Any, Path]:
    target = Target("aarch64", "3.11")
    wheel = build_wheel(REPO, cache / "wheels")
    reqs = wheel_requirements(wheel, target)
    wheelhouse = build_wheelhouse(reqs, target, cache_dir=cache, report=job.say)
    creds = work / "credentials.toml"
    creds.write_text('username = "abuja-01"\npassword = "aarch64-job"\n')
    creds.chmod(0o600)
    inputs = ReleaseInputs(wheel=wheel, requirements=tuple(reqs), wheelhouse=wheelhouse,
                           agent_config=template, unit=UNIT, credentials=creds)
    release = stage_release(inputs, DeviceLayout("/"), version=wheel_version(wheel),
                            out_root=work / "releases",
                            target={"machine": target.machine, "python": target.python_version},
                            source=REPO)
    n = len(list(wheelhouse.glob("*.whl")))
    job.say(f"release {release.id}: {n} wheels for {target.key} in {wheelhouse}")
    job.figures["wheels"] = n
    return release, wheelhouse


def run_deploy(job: Job, device: Device, release: Any, wheelhouse: Path) -> None:
    opts = DeployOptions(layout=DeviceLayout("/"), service_manager=STANDIN,
                         health_timeout=240.0, settle=5.0)
    remote = ChrootRemote(device, report=job.say)
    result = deploy(release, remote, opts, wheelhouse=wheelhouse, report=job.say)
    job.expect(result.outcome == "deployed", f"deploy outcome {result.outcome} {result.message}")
    t_install = job.mark_time("installing (offline)")
    t_switch = job.mark_time("switching to")
    t_ready = job.mark_time("status online")
    if t_install is not None and t_switch is not None:
        job.figures["install_s"] = round(t_switch - t_install, 1)
    if t_switch is not None and t_ready is not None:
        job.figures["switch_to_online_s"] = round(t_ready - t_switch, 1)


def disk_use(job: Job, device: Device) -> None:
    base = device.root / "opt/helio-edge"

    def mb(p: Path) -> float:
        out = subprocess.run(["du", "-sb", str(p)], capture_output=True, text=True, check=True)
        return round(int(out.stdout.split()[0]) / 1e6, 1)

    use = {"opt_helio_edge_mb": mb(base), "deps_mb": mb(base / "deps"),
           "wheelhouse_mb": mb(base / "wheelhouse"), "releases_mb": mb(base / "releases")}
    job.figures["disk"] = use
    job.say("disk use: " + ", ".join(f"{k} {v}" for k, v in use.items()))


def compare_predict(job: Job, device: Device, python: str, work: Path) -> None:
    """``helio-edge predict`` with the installed defaults vs this machine, byte for byte."""
    bundle = (AGENT_TEMPLATE.parent / load_toml(AGENT_TEMPLATE)["model"]["bundle"]).resolve()
    key = (AGENT_TEMPLATE.parent / load_toml(AGENT_TEMPLATE)["model"]["public_key"]).resolve()
    history = work / "history.csv"  # a cloudy hour: the model on inputs that are not clear sky
    history.write_text("timestamp,ghi\n" + "".join(
        f"2026-03-10T{10 + m // 60:02d}:{m % 60:02d}:00Z,{v}\n"
        for m, v in zip(range(0, 60, 5), (610, 640, 320, 280, 700, 720, 350, 300, 650, 690,
                                          400, 380), strict=True)))
    shutil.copy(history, device.root / "tmp/history.csv")
    cases = [[t] for t in PREDICT_TIMES] + [["2026-03-10T11:00:00Z", "/tmp/history.csv"]]
    for case in cases:
        extra = ["--history"] if len(case) > 1 else []
        at = ["--at", case[0]]
        dev = device.run([f"{VENV_BIN}/helio-edge", "predict", *at,
                          *([*extra, case[1]] if extra else [])], timeout=300)
        x86 = subprocess.run([python, "-m", "edge", "predict", "--bundle", str(bundle),
                              "--public-key", str(key), "--site", str(SITE), *at,
                              *([*extra, str(history)] if extra else [])],
                             capture_output=True, cwd=REPO, check=False)
        what = f"predict --at {case[0]}{' --history' if extra else ''}"
        if not job.expect(dev.returncode == 0 and x86.returncode == 0,
                          f"{what}: exit {dev.returncode} on aarch64, {x86.returncode} on x86"):
            job.say(dev.stderr.decode(errors="replace")[-2000:])
            continue
        job.expect(dev.stdout == x86.stdout,
                   f"{what}: {len(dev.stdout)} bytes, identical to x86: {dev.stdout == x86.stdout}")
        if dev.stdout != x86.stdout:
            (work / "predict-aarch64.json").write_bytes(dev.stdout)
            (work / "predict-x86.json").write_bytes(x86.stdout)
        job.say("  device said: " + dev.stderr.decode(errors="replace").strip())


def compare_decode(job: Job, device: Device, python: str) -> None:
    """``helio-bridge decode`` on every capture: same JSON lines, summary and exit status."""
    from firmware_bridge.protocols.pi30 import COMMANDS  # noqa: PLC0415

    inside = device.root / "tmp/captures"
    shutil.copytree(CAPTURES, inside, dirs_exist_ok=True)
    runs: list[tuple[Path, list[str]]] = []
    for path in sorted(CAPTURES.glob("*/*.bin")):
        proto = path.parent.name
        args = ["--protocol", proto, "--start", "2026-01-01T00:00:00Z"]
        if proto != "pi30":
            runs.append((path, args))
            continue
        # pi30 replies answer the command the file is named after (qpigs_max.bin: QPIGS);
        # qe.bin holds the energy counters QED/QEM/QET/QEY: decoded as each
        stem = path.stem.split("_")[0].upper()
        commands = [stem] if stem in COMMANDS else sorted(c for c in COMMANDS
                                                          if c.startswith(stem))
        if not commands:
            job.expect(False, f"decode: no pi30 command matches {path.name}")
        runs += [(path, [*args, "--command", c]) for c in commands]
    for path, args in runs:
        proto = path.parent.name
        dev = device.run([f"{VENV_BIN}/helio-bridge", "decode", *args,
                          f"/tmp/captures/{proto}/{path.name}"], timeout=300)
        x86 = subprocess.run([python, "-m", "firmware_bridge", "decode", *args, str(path)],
                             capture_output=True, cwd=REPO, check=False)
        same = (dev.returncode, dev.stdout, dev.stderr) == (x86.returncode, x86.stdout, x86.stderr)
        lines = dev.stdout.count(b"\n")
        cmd = f" {args[-1]}" if "--command" in args else ""
        job.expect(same, f"decode {proto}/{path.name}{cmd}: {lines} readings, exit "
                         f"{dev.returncode}, identical to x86: {same}")
        if not same:
            job.say(dev.stderr.decode(errors="replace")[-1500:])


def run_check(job: Job, device: Device) -> None:
    """``helio-edge check`` with no options: the installed config, every check."""
    done = device.run([f"{VENV_BIN}/helio-edge", "check"], timeout=300)
    text = done.stdout.decode(errors="replace")
    for line in text.splitlines():
        job.say("  | " + line)
    job.expect(done.returncode == 0, f"helio-edge check: exit {done.returncode}")
    job.expect("/etc/helio-edge/config.toml" in text, "check names the installed config")
    if done.returncode != 0:
        job.say(done.stderr.decode(errors="replace")[-1500:])


def run_agent(job: Job, device: Device, inbox: Inbox, seconds: float, margin: float) -> None:
    """The installed agent as the service user: at least ``seconds`` once online.

    The agent's clock (libfaketime) starts ``margin`` seconds before a
    15-minute step boundary, so a forecast falls due while it runs without
    waiting a quarter of an hour; it keeps running (up to 120 s more) until
    that forecast has arrived. The simulated plant runs at that time too.
    """
    boundary = job.figures["fake_boundary"]
    fake_start = boundary - dt.timedelta(seconds=margin)
    # A Pi running systemd-timesyncd has this flag once NTP has set the clock; the
    # agent holds forecasts until it sees it (or the kernel says synced, which a
    # container's adjtimex does not). Nothing runs timesyncd inside the chroot.
    flag = device.root / "run/systemd/timesync/synchronized"
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.touch()
    env = device.env(LD_PRELOAD=LIBFAKETIME,
                     FAKETIME="@" + fake_start.strftime("%Y-%m-%d %H:%M:%S"),
                     FAKETIME_DONT_FAKE_MONOTONIC="1", PYTHONUNBUFFERED="1")
    log = (device.work / "agent.log").open("wb")
    t0 = time.monotonic()
    # as the unit runs it: User=helio, SupplementaryGroups=dialout, WorkingDirectory=state dir
    proc = subprocess.Popen(
        device.argv([f"{VENV_BIN}/helio-edge", "run", "--config", "/etc/helio-edge/config.toml"],
                    user="helio:helio", groups="dialout", cwd="/var/lib/helio-edge"),
        env=env, stdout=log, stderr=subprocess.STDOUT)
    job.say(f"agent started as helio, its clock at {fake_start:%H:%M:%S} UTC "
            f"(step boundary {boundary:%H:%M:%S} in {margin:.0f} s)")
    online: float | None = None
    deadline = t0 + 180
    while time.monotonic() < deadline and proc.poll() is None:
        statuses = [b for b in inbox.since(t0, "status") if b and b.get("state") == "online"]
        if online is None and statuses:
            online = time.monotonic()
            job.figures["agent_start_to_online_s"] = round(online - t0, 1)
            job.say(f"agent online after {online - t0:.1f} s")
        if online is not None and time.monotonic() - online >= seconds \
                and (inbox.since(t0, "forecast") or time.monotonic() - online >= seconds + 120):
            break
        time.sleep(0.5)
    job.figures["agent_ran_s"] = round(time.monotonic() - (online or t0), 1)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    t_term = time.monotonic()
    try:
        rc: int | None = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = None
    log.close()
    readings = inbox.since(t0, "reading")
    forecasts = inbox.since(t0, "forecast")
    by_dev: dict[str, int] = {}
    for r in readings:
        by_dev[r.get("device_id", "?")] = by_dev.get(r.get("device_id", "?"), 0) + 1
    job.figures["agent"] = {"readings": by_dev, "forecasts": len(forecasts),
                            "stop_s": round(time.monotonic() - t_term, 1), "exit": rc}
    job.expect(online is not None and alive, "agent came online and kept running")
    job.expect(by_dev.get("mppt", 0) > 0 and by_dev.get("inverter", 0) > 0,
               f"readings arrived: {by_dev}")
    if forecasts:
        f = forecasts[-1]
        p50 = [e["pv_power"]["p50"] for e in f["forecasts"]]
        job.say(f"  forecast issued {f['issue_time']}, inputs_stale {f.get('inputs_stale')}, "
                f"pv p50 {p50} W")
    job.expect(len(forecasts) > 0, f"{len(forecasts)} forecast(s) arrived")
    job.expect(rc == 0, f"agent stopped on SIGTERM with exit {rc} in "
                        f"{job.figures['agent']['stop_s']} s")
    text = (device.work / "agent.log").read_text(errors="replace")
    job.expect("Traceback" not in text, "no traceback in the agent's log")
    if job.failures:
        job.say("agent log tail:\n" + text[-3000:])


def measure_import(device: Device, python: str, repeat: int = 1) -> dict[str, Any]:
    """Import time and peak RSS of the agent's modules, inside (emulated) and on x86.

    Medians of ``repeat`` fresh interpreters each. Under QEMU the RSS is the
    emulator process's: the guest's pages plus QEMU's own (translated code).
    """
    code = ("import resource, time; t = time.perf_counter(); import edge.commands.run, "
            "edge.forecasting.solar, edge.forecasting.predictor; "
            "from edge.forecasting.predictor import runtime_name; runtime_name(); "
            "print(round(time.perf_counter() - t, 3), "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    runs: dict[str, list[tuple[float, float]]] = {"aarch64": [], "x86": []}
    for _ in range(repeat):
        dev = device.run([f"{VENV_BIN}/python", "-c", code], timeout=300)
        x86 = subprocess.run([python, "-c", code], capture_output=True, cwd=REPO, check=False)
        for name, done in (("aarch64", dev), ("x86", x86)):
            if done.returncode == 0:
                sec, kb = done.stdout.decode().split()
                runs[name].append((float(sec), int(kb) / 1024))
    out: dict[str, Any] = {}
    for name, got in runs.items():
        if got:
            out[name] = {"import_s": round(sorted(g[0] for g in got)[len(got) // 2], 2),
                         "maxrss_mb": round(sorted(g[1] for g in got)[len(got) // 2], 1),
                         "runs": len(got)}
    return out


PLAN_FIGURE = Path(__file__).with_name("plan_figure.py")


def measure_plan(device: Device, python: str) -> dict[str, Any]:
    """CPU per energy-plan update (the agent's loop thread), inside (emulated) and on x86. [ms]"""
    shutil.copy(PLAN_FIGURE, device.root / "tmp/plan_figure.py")
    shutil.copy(SITE, device.root / "tmp/plan_site.toml")
    dev = device.run([f"{VENV_BIN}/python", "/tmp/plan_figure.py", "/tmp/plan_site.toml"],
                     timeout=900)
    x86 = subprocess.run([python, str(PLAN_FIGURE), str(SITE)], capture_output=True, cwd=REPO,
                         check=False)
    out: dict[str, Any] = {}
    for name, done in (("aarch64", dev), ("x86", x86)):
        if done.returncode == 0:
            p50, p99, n = done.stdout.decode().split()
            out[name] = {"p50_ms": float(p50), "p99_ms": float(p99), "updates": int(n)}
        else:
            out[name] = {"error": done.stderr.decode(errors="replace")[-500:]}
    return out


def midday_boundary() -> dt.datetime:
    """Today's 12:00 UTC (midday in Abuja: the panels produce) as the step boundary."""
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime(today.year, today.month, today.day, 12, 0, tzinfo=dt.UTC)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rootfs", type=Path, required=True, help="cached pristine root filesystem")
    p.add_argument("--cache", type=Path, default=Path("/var/cache/helio-aarch64"))
    p.add_argument("--name", default="pi4", help="label of this pass (work dir, summary)")
    p.add_argument("--cpu", default="cortex-a72", help="QEMU_CPU (Pi 4: cortex-a72)")
    p.add_argument("--cpuinfo", type=Path, default=HERE / "cpuinfo/pi4.txt")
    p.add_argument("--page-size", type=int, default=0, help="QEMU_PAGESIZE (0: host's)")
    p.add_argument("--agent-seconds", type=float, default=30.0)
    p.add_argument("--clock-margin", type=float, default=40.0,
                   help="the agent's clock starts this long before a step boundary [s]")
    p.add_argument("--python", default=sys.executable, help="x86 python for the comparisons")
    p.add_argument("--measure", type=int, default=0, metavar="N",
                   help="only measure import time/RSS (N runs each) in the last run's device; "
                   "print JSON (make bench)")
    p.add_argument("--host-cpuinfo", action="store_true",
                   help="with --exec: leave the host's /proc/cpuinfo visible (shows the crash)")
    p.add_argument("--exec", nargs=argparse.REMAINDER, dest="exec_cmd",
                   help="run a command in the last run's device and exit with its status")
    args = p.parse_args(argv)
    if os.environ.get("HELIO_AARCH64_NS") != "1":
        p.error("run through .ci/aarch64/run.sh (needs root and a private mount namespace)")

    work = args.cache / "work" / args.name
    device = Device(args.rootfs, work, args.cpu, args.cpuinfo.resolve(), args.page_size)
    if args.measure or args.exec_cmd:
        device.prepare(fresh=False, pi_cpuinfo=not args.host_cpuinfo)
        if args.exec_cmd:
            return subprocess.run(device.argv(args.exec_cmd), env=device.env(),
                                  check=False).returncode
        sys.stdout.write(json.dumps(measure_import(device, args.python, args.measure)) + "\n")
        return 0
    job = Job()
    job.figures.update(cpu=args.cpu, cpuinfo=args.cpuinfo.name, page_size=args.page_size)
    boundary = midday_boundary()
    job.figures["fake_boundary"] = boundary
    try:
        with job.step("mount the device"):
            device.prepare()
            uname = device.run(["uname", "-m"]).stdout.decode().strip()
            page = device.run(["getconf", "PAGESIZE"]).stdout.decode().strip()
            job.figures["guest_page_size"] = page
            job.expect(uname == "aarch64", f"the device says it is {uname}, page size {page}")
        with mosquitto(work) as port, subscriber(port) as inbox, \
                simulators(device, boundary - dt.timedelta(minutes=1)) as ports:
            job.say(f"mosquitto on 127.0.0.1:{port}; simulators at {ports}")
            with job.step("build the release (helio-edge deploy --arch aarch64)"):
                release, wheelhouse = build_release(job, args.cache, work,
                                                    agent_template(work, port, ports))
            with job.step("deploy into the device (chroot transport, device script on stdin)"):
                run_deploy(job, device, release, wheelhouse)
                disk_use(job, device)
                subprocess.run(device.argv([STANDIN, "stop"]), env=device.env(), check=False)
            with job.step("helio-edge predict vs x86"):
                compare_predict(job, device, args.python, work)
            with job.step("helio-bridge decode vs x86"):
                compare_decode(job, device, args.python)
            with job.step("helio-edge check"):
                run_check(job, device)
            with job.step(f"the agent for {args.agent_seconds:.0f} s"):
                run_agent(job, device, inbox, args.agent_seconds, args.clock_margin)
            with job.step("import time and memory"):
                job.figures["import"] = measure_import(device, args.python, 3)
                job.say(f"import: {job.figures['import']}")
            with job.step("energy-plan update"):  # a figure, not a check: printed
                job.figures["plan_update"] = measure_plan(device, args.python)
                job.say(f"plan update: {job.figures['plan_update']}")
    except Exception as exc:  # the job reports what broke, then fails
        job.failures.append(f"{type(exc).__name__}: {exc}")
        job.say(f"ERROR {type(exc).__name__}: {exc}")
        import traceback  # noqa: PLC0415

        traceback.print_exc()
    total = time.monotonic() - job.t0
    job.figures["fake_boundary"] = str(boundary)
    summary = {"pass": args.name, "ok": not job.failures, "seconds": round(total, 1),
               "steps": job.steps, "figures": job.figures, "failures": job.failures,
               "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    (args.cache / f"last-{args.name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    job.say(f"steps: {json.dumps(job.steps)}")
    job.say(f"figures: {json.dumps(job.figures)}")
    if job.failures:
        job.say(f"aarch64 {args.name}: FAILED ({len(job.failures)}): " + "; ".join(job.failures))
        return 1
    job.say(f"aarch64 {args.name}: OK in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

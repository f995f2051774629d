"""helio-monitor ingest rate into SQLite at QoS 1 (printed, not asserted).

Three figures, each against a private mosquitto on loopback, every monitor
and publisher in its own process:

1. backlog drain: a monitor with a persistent session was away while N
   readings were published; time from its reconnect to all N committed
   (broker -> paho -> parse -> SQLite, ack after commit);
2. live, one monitor: a publisher process sends N readings as fast as
   QoS 1 allows while the monitor stores them;
3. live, two monitors in one shared group (``$share/bench/...``) writing
   one SQLite file;

and, for comparison, the backlog drain with paho acknowledging on receipt
(``ack_after_commit=False``: faster, but a crash loses the batch in hand).

Rates are messages committed per second of wall time; N is split over 100
sites so the payloads look like a fleet. Goal from the issue: 5,000 msg/s.
In the live runs one paho publisher (about 4,000 acknowledged QoS 1
messages/s on two shared cores) is the bound: the line under each shows how
soon after its last PUBACK the last message was committed. The backlog drain
measures the monitor alone; "monitor CPU" is its process CPU per message.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from edge.testkit.launchers import Mosquitto, free_port

N_MESSAGES = 40_000
N_SITES = 100


def _start_broker(workdir: Path) -> Mosquitto:
    broker = Mosquitto("127.0.0.1", free_port(), workdir,
                       ("persistence false", "max_queued_messages 1000000",
                        "max_inflight_messages 0"))
    broker.start()
    return broker


def _payload(site: int, seq: int) -> tuple[str, bytes]:
    from edge.runtime.contract import Topics  # noqa: PLC0415

    values = {"battery_voltage": 52.71, "battery_current": 12.4, "pv_voltage": 96.2,
              "pv_current": 9.81, "pv_power": 943.0 + seq % 7, "charge_state": "bulk",
              "yield_today": 2310.0, "battery_soc": 71.5, "heatsink_temperature": 38.2}
    t = 1_780_000_000 + seq
    body = {"schema_version": 1, "site_id": f"site-{site:04d}", "device_id": "mppt",
            "stream": "reading", "seq": seq,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
            "values": values, "units": {k: "" for k in values}, "stale": []}
    return Topics(f"site-{site:04d}").of("mppt", "reading"), json.dumps(body).encode()


def _publisher(port: int, n: int, ready: mp.synchronize.Event) -> None:
    import paho.mqtt.client as mqtt  # noqa: PLC0415
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(500)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    msgs = [_payload(i % N_SITES, i // N_SITES + 1) for i in range(n)]
    ready.set()
    infos = [client.publish(t, p, qos=1) for t, p in msgs]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def _monitor(port: int, db: str, cid: str, group: str | None,  # noqa: PLR0917
             stop: mp.synchronize.Event, up: mp.synchronize.Event, ack_after: bool) -> None:
    from trainer.monitor.ingest import Monitor, MonitorConfig  # noqa: PLC0415
    from trainer.monitor.store import Store  # noqa: PLC0415

    mon = Monitor(MonitorConfig(port=port, client_id=cid, shared_group=group,
                                ack_after_commit=ack_after), Store(db))
    mon.start()
    mon.wait_connected(30)
    up.set()
    stop.wait()
    mon.stop()
    cpu_s = time.process_time()
    with open(db + f".{cid}.cpu", "w") as fh:
        fh.write(f"{cpu_s} {mon.stats.received}")


def _count(db: str) -> int:
    try:
        con = sqlite3.connect(db, timeout=30)
        try:
            return int(con.execute("SELECT count(*) FROM readings").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def _wait_count(db: str, n: int, timeout: float = 300.0) -> float:
    deadline = time.monotonic() + timeout
    while _count(db) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {_count(db)} of {n} stored")
        time.sleep(0.05)
    return time.monotonic()


def _start_monitors(port: int, db: str, group: str | None, k: int, ack_after: bool = True,
                    ) -> tuple[list[mp.Process], mp.synchronize.Event]:
    stop = mp.Event()
    procs = []
    for i in range(k):
        up = mp.Event()
        p = mp.Process(target=_monitor,
                       args=(port, db, f"bench-{group}-{i}", group, stop, up, ack_after))
        p.start()
        if not up.wait(30):
            raise RuntimeError("monitor did not connect")
        procs.append(p)
    return procs, stop


def _stop(procs: list[mp.Process], stop: mp.synchronize.Event) -> None:
    stop.set()
    for p in procs:
        p.join(30)


def _cpu_per_message(db: str) -> float:
    """Monitor-process CPU seconds per received message, over all runs on ``db``. [us]"""
    cpu = n = 0.0
    for f in Path(db).parent.glob(Path(db).name + ".*.cpu"):
        c, k = f.read_text().split()
        cpu, n = cpu + float(c), n + float(k)
    return 1e6 * cpu / n if n else float("nan")


def _live(port: int, db: str, group: str | None, k: int) -> float:
    procs, stop = _start_monitors(port, db, group, k)
    ready = mp.Event()
    pub = mp.Process(target=_publisher, args=(port, N_MESSAGES, ready))
    pub.start()
    ready.wait(120)
    t0 = time.monotonic()
    pub.join(300)
    t_pub = time.monotonic()
    t1 = _wait_count(db, N_MESSAGES)
    _stop(procs, stop)
    print(f"  (publisher process: all {N_MESSAGES} acknowledged after {t_pub - t0:.1f} s, "
          f"{N_MESSAGES / (t_pub - t0):.0f} msg/s; last stored {t1 - t_pub:.2f} s later)",
          flush=True)
    return N_MESSAGES / (t1 - t0)


def _backlog(port: int, db: str, ack_after: bool = True) -> float:
    procs, stop = _start_monitors(port, db, None, 1, ack_after)  # the persistent session
    _stop(procs, stop)
    ready = mp.Event()
    pub = mp.Process(target=_publisher, args=(port, N_MESSAGES, ready))
    pub.start()
    pub.join(300)
    t0 = time.monotonic()
    procs, stop = _start_monitors(port, db, None, 1, ack_after)
    t1 = _wait_count(db, N_MESSAGES)
    _stop(procs, stop)
    return N_MESSAGES / (t1 - t0)


def main() -> None:
    """Print the three ingest rates."""
    ctx_dir = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    try:
        results = {}
        for name, fn in (("backlog drain, 1 monitor", _backlog),
                         ("backlog drain, ack on receipt", lambda p, d: _backlog(p, d, False)),
                         ("live, 1 monitor", lambda p, d: _live(p, d, None, 1)),
                         ("live, 2 monitors, shared group", lambda p, d: _live(p, d, "g", 2))):
            broker = _start_broker(ctx_dir)
            port = broker.port
            db = str(ctx_dir / f"{name.split(',')[0].replace(' ', '_')}-{port}.sqlite")
            try:
                results[name] = fn(port, db)
                stored = _count(db)
                cpu = _cpu_per_message(db)
            finally:
                broker.stop()
            print(f"{name:34s} {results[name]:8.0f} msg/s  ({stored} of {N_MESSAGES} stored; "
                  f"monitor CPU {cpu:.0f} us/msg)", flush=True)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"goal: 5000 msg/s; {N_MESSAGES} readings of ~450 B over {N_SITES} sites, QoS 1, "
              f"SQLite WAL; {os.cpu_count()} CPUs, load average {load}")
    finally:
        shutil.rmtree(ctx_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

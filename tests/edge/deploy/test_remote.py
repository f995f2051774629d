"""The SSH transport against a real sshd: connect, device steps, rsync, failures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge.deploy.remote import DeployError, Remote, SshTarget
from tests.conftest import free_port

pytestmark = pytest.mark.sshd


def _remote(sshd, **kw) -> Remote:  # type: ignore[no-untyped-def]
    target = SshTarget(sshd.destination, port=sshd.port, identity=str(sshd.identity),
                       options=(f"UserKnownHostsFile={sshd.known_hosts}",), connect_timeout=5)
    return Remote(target, **kw)


def test_remote_probe_reports_device_and_no_release(sshd, tmp_path: Path) -> None:
    remote = _remote(sshd)
    remote.connect()
    info = remote.step("probe", {"root": str(tmp_path)})
    assert info["current"] == ""
    assert info["releases"] == []
    assert info["machine"]
    assert info["python"].count(".") == 1


def test_remote_push_copies_tree_and_deletes_stale(sshd, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "f.txt").write_text("one")
    (src / "secret").write_text("pw")
    (src / "secret").chmod(0o600)
    dest = tmp_path / "dest" / "deep"
    remote = _remote(sshd)
    remote.connect()
    remote.push(src, str(dest), delete=True)
    assert (dest / "a" / "f.txt").read_text() == "one"
    assert (dest / "secret").stat().st_mode & 0o777 == 0o600
    (src / "a" / "f.txt").unlink()
    remote.push(src, str(dest), delete=True)
    assert not (dest / "a" / "f.txt").exists()


def test_remote_unreachable_host_is_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    remote = Remote(SshTarget("nobody@127.0.0.1", port=port, connect_timeout=3))
    with pytest.raises(DeployError, match=r"cannot reach nobody@127.0.0.1.*\n.*device on"):
        remote.connect()


def test_remote_missing_identity_file_is_a_clear_error(tmp_path: Path) -> None:
    remote = Remote(SshTarget("pi@127.0.0.1", identity=str(tmp_path / "nope")))
    with pytest.raises(DeployError, match=r"SSH key .*nope not found"):
        remote.connect()


def test_remote_refused_key_says_how_to_fix(sshd, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    target = SshTarget(sshd.destination, port=sshd.port, identity=str(other),
                       options=(f"UserKnownHostsFile={sshd.known_hosts}",), connect_timeout=5)
    with pytest.raises(DeployError, match=r"refused the key.*ssh-copy-id"):
        Remote(target).connect()


def test_remote_failing_step_carries_the_device_message(sshd, tmp_path: Path) -> None:
    remote = _remote(sshd)
    remote.connect()
    with pytest.raises(DeployError, match="release nope is not on the device"):
        remote.step("activate", {"root": str(tmp_path), "release": "nope", "user": "helio"})


def test_remote_changed_host_key_is_refused_with_advice(sshd, tmp_path: Path) -> None:
    other = tmp_path / "other_host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = (tmp_path / "other_host.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    target = SshTarget(sshd.destination, port=sshd.port, identity=str(sshd.identity),
                       options=(f"UserKnownHostsFile={known}",), connect_timeout=5)
    with pytest.raises(DeployError, match=r"host key changed.*ssh-keygen -R"):
        Remote(target).connect()

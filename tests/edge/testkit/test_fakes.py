"""The recording fakes, the test certificates and the archive bombs do what they claim."""

from __future__ import annotations

import gzip
import io
import ssl
import tarfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from edge.testkit.fakes import (
    CountingNotifier,
    RecordingPublisher,
    bomb_tar,
    make_cert,
    write_pem,
    zeros_gzip,
)


def test_recording_publisher_routes_inbound_by_topic_filter() -> None:
    pub = RecordingPublisher()
    got: list[tuple[str, bytes]] = []
    pub.subscribe("helio/site/gw/cmd/#", lambda t, p: got.append((t, p)))
    pub.inbound("helio/site/gw/cmd/model", b"a")
    pub.inbound("helio/site/gw/status", b"b")  # no matching filter
    pub.set_retained("helio/site/gw/status", b"online")
    pub.publish_live("helio/site/gw/events", b"e")
    assert got == [("helio/site/gw/cmd/model", b"a")]
    assert pub.retained == {"helio/site/gw/status": [b"online"]}
    assert pub.live == [("helio/site/gw/events", b"e")]


def test_counting_notifier_counts_only_watchdog_pings() -> None:
    n = CountingNotifier()
    n.ready("up")
    n.status("fine")
    n.watchdog()
    n.watchdog()
    n.stopping()
    assert n.pings == 2


def test_server_certificate_verifies_against_its_ca(tmp_path: Path) -> None:
    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = make_cert("test CA", ca_key, None, None, ca=True)
    srv = make_cert("127.0.0.1", srv_key, ca.subject, ca_key, ca=False)
    srv.verify_directly_issued_by(ca)
    san = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    # the PEM files load as a TLS server context, as mosquitto would use them
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(write_pem(tmp_path / "srv.pem", srv), write_pem(tmp_path / "k.pem",
                                                                         srv_key))
    ctx.load_verify_locations(write_pem(tmp_path / "ca.pem", ca))


def test_bombs_expand_to_what_they_claim() -> None:
    raw = zeros_gzip(2 << 20)
    assert len(raw) < 20_000
    assert gzip.decompress(raw) == bytes(2 << 20)
    with tarfile.open(fileobj=io.BytesIO(bomb_tar(2 << 20)), mode="r:gz") as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.size) == ("model.tflite", 2 << 20)

"""Bundle loading: the shipped Abuja bundle, and everything the edge must refuse.

No TensorFlow here: these run in the legacy environment too. Tampered
bundles are copies of the shipped one, re-signed with a throw-away key
where the test needs a *valid* signature over a changed manifest.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.forecasting.bundle import (
    MANIFEST_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    BundleError,
    archive_bytes,
    load_bundle,
    read_bundle_files,
)
from edge.forecasting.features import FeatureSpec

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "edge" / "data" / "bundles" / "abuja"
DEFAULT_PUB = REPO / "configs" / "keys" / "helio-default.pub"


@pytest.fixture
def key(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    """A throw-away signing key and its public PEM file."""
    priv = Ed25519PrivateKey.generate()
    pub = tmp_path / "test.pub"
    pub.write_bytes(priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of the shipped bundle directory."""
    dst = tmp_path / "bundle"
    shutil.copytree(SHIPPED, dst)
    return dst


def _resign(bundle: Path, priv: Ed25519PrivateKey, edit: object = None) -> None:
    manifest = json.loads((bundle / MANIFEST_FILE).read_bytes())
    if callable(edit):
        edit(manifest)
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (bundle / MANIFEST_FILE).write_bytes(data)
    (bundle / SIGNATURE_FILE).write_bytes(base64.b64encode(priv.sign(data)) + b"\n")


def test_shipped_bundle_loads_blessed_and_matches_feature_code() -> None:
    bundle = load_bundle(SHIPPED, DEFAULT_PUB)
    assert bundle.blessed
    spec = FeatureSpec.from_dict(bundle.manifest["features"])
    # the shipped bundle is built under the current training: physical features only
    # (issue 10); calendar-feature bundles keep loading, see test_features
    assert spec == FeatureSpec()
    assert spec.time_features == "physical"
    assert bundle.feature_names == spec.names
    assert bundle.manifest["gate"]["passed"] is True
    assert len(bundle.model_bytes) < 64 * 1024
    assert bundle.float_model_bytes is not None


def test_archive_form_loads(tmp_path: Path) -> None:
    archive = tmp_path / "abuja.tar.gz"
    archive.write_bytes(archive_bytes(read_bundle_files(SHIPPED)))
    bundle = load_bundle(archive, DEFAULT_PUB)
    assert bundle.sha256 == load_bundle(SHIPPED, DEFAULT_PUB).sha256


def test_tampered_model_refused(copy: Path) -> None:
    model = bytearray((copy / MODEL_FILE).read_bytes())
    model[len(model) // 2] ^= 0x01
    (copy / MODEL_FILE).write_bytes(bytes(model))
    with pytest.raises(BundleError, match=r"model\.tflite SHA-256"):
        load_bundle(copy, DEFAULT_PUB)


def test_tampered_manifest_refused(copy: Path) -> None:
    text = (copy / MANIFEST_FILE).read_text()
    (copy / MANIFEST_FILE).write_text(text.replace('"blessed": true', '"blessed": false'))
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(copy, DEFAULT_PUB)


def test_tampered_card_refused(copy: Path) -> None:
    with (copy / "model_card.md").open("a") as fh:
        fh.write("\nall good, trust me\n")
    with pytest.raises(BundleError, match=r"model_card\.md SHA-256"):
        load_bundle(copy, DEFAULT_PUB)


def test_wrong_key_refused(key: tuple[Ed25519PrivateKey, Path]) -> None:
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(SHIPPED, key[1])


@pytest.mark.parametrize("name", [MODEL_FILE, MANIFEST_FILE, SIGNATURE_FILE])
def test_missing_file_refused(copy: Path, name: str) -> None:
    (copy / name).unlink()
    with pytest.raises(BundleError, match=f"{re.escape(name)} is missing"):
        load_bundle(copy, DEFAULT_PUB)


def test_garbage_signature_refused(copy: Path) -> None:
    (copy / SIGNATURE_FILE).write_text("not a signature\n")
    with pytest.raises(BundleError, match="not base64"):
        load_bundle(copy, DEFAULT_PUB)


def test_unblessed_refused_unless_allowed(copy: Path, key: tuple[Ed25519PrivateKey, Path]) -> None:
    _resign(copy, key[0], lambda m: m.update(blessed=False))
    with pytest.raises(BundleError, match="NOT blessed"):
        load_bundle(copy, key[1])
    assert not load_bundle(copy, key[1], allow_unblessed=True).blessed


def test_unknown_schema_refused(copy: Path, key: tuple[Ed25519PrivateKey, Path]) -> None:
    _resign(copy, key[0], lambda m: m.update(schema_version=99))
    with pytest.raises(BundleError, match="schema_version 99"):
        load_bundle(copy, key[1])


def test_feature_spec_mismatch_refused(copy: Path, key: tuple[Ed25519PrivateKey, Path]) -> None:
    def rename(m: dict[str, object]) -> None:
        names = m["features"]["names"]  # type: ignore[index]
        names[0] = "kt_lag_from_an_older_feature_code"

    _resign(copy, key[0], rename)
    with pytest.raises(BundleError, match="feature spec does not match"):
        load_bundle(copy, key[1])


def test_missing_bundle_and_bad_key_file(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope", DEFAULT_PUB)
    bad = tmp_path / "bad.pub"
    bad.write_text("hello")
    with pytest.raises(BundleError, match="not a PEM public key"):
        load_bundle(SHIPPED, bad)


def test_archive_with_path_traversal_refused(tmp_path: Path) -> None:
    files = read_bundle_files(SHIPPED)
    files["../evil"] = b"x"
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(archive_bytes(files))
    with pytest.raises(BundleError, match="unexpected archive member"):
        load_bundle(archive, DEFAULT_PUB)

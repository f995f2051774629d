"""Model bundles: load, verify and refuse.

Responsible for: reading a bundle (a directory, or a single ``.tar.gz``
archive) holding ``model.tflite``, ``manifest.json``, ``manifest.sig`` and the
model card; verifying the Ed25519 signature over the exact manifest bytes,
the SHA-256 of every file the manifest lists, the schema version, the
blessed flag, and that the manifest's feature spec is what the running
:mod:`edge.forecasting.features` code computes. Anything else is a :class:`BundleError`
saying what is wrong.

Does NOT: run the model (:mod:`edge.forecasting.predictor`), write or sign bundles
(``trainer.bundle`` / ``trainer.bundle_signing``), or log.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from edge.forecasting.features import FeatureSpec

__all__ = [
    "CARD_FILE",
    "FLOAT_MODEL_FILE",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "SCHEMA_VERSION",
    "SIGNATURE_FILE",
    "Bundle",
    "BundleError",
    "archive_bytes",
    "check_feature_spec",
    "load_bundle",
    "load_public_key",
    "read_archive_bytes",
    "read_bundle_files",
    "sha256_hex",
    "verify_files",
    "verify_manifest",
]

#: Manifest schema versions this code understands.
SCHEMA_VERSION = 1
MODEL_FILE = "model.tflite"
FLOAT_MODEL_FILE = "model_float32.tflite"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
CARD_FILE = "model_card.md"
#: Most bytes all files of an archive may inflate to. [bytes]
MAX_ARCHIVE_BYTES = 32 * 1024 * 1024
#: Most bytes one archive member may have. [bytes]
MAX_MEMBER_BYTES = 16 * 1024 * 1024
#: Most members an archive may have.
MAX_MEMBERS = 32
_MAX_ARCHIVE_BYTES = MAX_ARCHIVE_BYTES


class BundleError(Exception):
    """A bundle is missing, malformed, tampered with, unsigned or refused."""


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A verified model bundle, held in memory.

    Attributes
    ----------
    source : str
        Where it was loaded from (directory or archive path; ``<memory>``).
    manifest : mapping
        The parsed ``manifest.json``.
    manifest_bytes : bytes
        The exact signed bytes of ``manifest.json``.
    model_bytes : bytes
        The int8 ``model.tflite``.
    sha256 : str
        Hex SHA-256 of ``model_bytes``.
    float_model_bytes : bytes or None
        The float32 twin, when the bundle ships one (for int8 checks).
    """

    source: str
    manifest: Mapping[str, Any]
    manifest_bytes: bytes
    model_bytes: bytes
    sha256: str
    float_model_bytes: bytes | None = None

    @property
    def version(self) -> str:
        """Model version label."""
        return str(self.manifest["model_version"])

    @property
    def blessed(self) -> bool:
        """True when the bundle passed the validation gate."""
        return bool(self.manifest.get("blessed", False))

    @property
    def step_minutes(self) -> int:
        """Time step of the model's inputs and outputs. [min]"""
        return int(self.manifest["step_minutes"])

    @property
    def horizons_min(self) -> tuple[int, ...]:
        """Forecast horizons. [min]"""
        return tuple(int(h) for h in self.manifest["horizons_min"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the model inputs, in order."""
        return tuple(str(n) for n in self.manifest["features"]["names"])


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def load_public_key(key: str | Path | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file path or PEM bytes.

    Raises
    ------
    BundleError
        If the file is missing or does not hold an Ed25519 public key.
    """
    if isinstance(key, bytes):
        pem, where = key, "<bytes>"
    else:
        where = str(key)
        try:
            pem = Path(key).read_bytes()
        except OSError as exc:
            raise BundleError(f"public key {where}: cannot read ({exc.strerror})") from None
    try:
        pub = load_pem_public_key(pem)
    except ValueError as exc:
        raise BundleError(f"public key {where}: not a PEM public key ({exc})") from None
    if not isinstance(pub, Ed25519PublicKey):
        raise BundleError(f"public key {where}: not an Ed25519 key")
    return pub


class _Capped(io.RawIOBase):
    """A read-only stream that fails once more than ``limit`` bytes were read from it."""

    def __init__(self, inner: Any, limit: int, where: str) -> None:
        self.inner, self.limit, self.where, self.count = inner, limit, where, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.inner.read(min(len(view), self.limit + 1 - self.count))
        self.count += len(data)
        if self.count > self.limit:
            raise BundleError(f"{self.where}: archive inflates to more than {self.limit} bytes")
        view[:len(data)] = data
        return len(data)


def read_archive_bytes(data: bytes, where: str = "<archive>") -> dict[str, bytes]:
    """The files of a flat ``.tar.gz`` (or ``.tar``) held in memory, read as a stream.

    Inflation stops at hard caps: :data:`MAX_ARCHIVE_BYTES` of tar stream in
    all, :data:`MAX_MEMBER_BYTES` per member (checked on the member header
    before its data is read), :data:`MAX_MEMBERS` members. Only flat
    regular files are accepted (no links, directories with content, paths
    or hidden names).

    Raises
    ------
    BundleError
        Not an archive, over a cap, or an unexpected member.
    """
    raw: Any = io.BytesIO(data)
    if data[:2] == b"\x1f\x8b":
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    # the tar stream itself (headers, PAX records, data, padding) is capped
    stream = io.BufferedReader(_Capped(raw, MAX_ARCHIVE_BYTES + 64 * 1024, where))
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if member.isdir():
                    continue
                name = member.name.removeprefix("./")
                if not member.isfile() or not name or "/" in name or name.startswith("."):
                    raise BundleError(f"{where}: unexpected archive member {member.name!r}")
                if len(files) >= MAX_MEMBERS:
                    raise BundleError(f"{where}: more than {MAX_MEMBERS} archive members")
                if member.size > MAX_MEMBER_BYTES:
                    raise BundleError(f"{where}: member {name!r} of {member.size} bytes is over"
                                      f" {MAX_MEMBER_BYTES}")
                total += member.size
                if total > MAX_ARCHIVE_BYTES:
                    raise BundleError(f"{where}: archive larger than {MAX_ARCHIVE_BYTES} bytes")
                fh = tar.extractfile(member)
                if fh is None:
                    raise BundleError(f"{where}: cannot read {member.name!r}")
                files[name] = fh.read(member.size)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BundleError(f"{where}: not a readable bundle archive ({exc})") from None
    return files


def _read_archive(path: Path) -> dict[str, bytes]:
    try:
        size = path.stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise BundleError(f"{path}: archive of {size} bytes is over {MAX_ARCHIVE_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: not a readable bundle archive ({exc})") from None
    return read_archive_bytes(data, str(path))


def read_bundle_files(path: str | Path) -> dict[str, bytes]:
    """All top-level files of a bundle directory or ``.tar.gz`` archive, by name.

    Raises
    ------
    BundleError
        If ``path`` does not exist or cannot be read.
    """
    p = Path(path)
    if p.is_dir():
        return {f.name: f.read_bytes() for f in sorted(p.iterdir()) if f.is_file()}
    if p.is_file():
        return _read_archive(p)
    raise BundleError(f"bundle {p} does not exist")


def _need(files: Mapping[str, bytes], name: str, where: str) -> bytes:
    if name not in files:
        raise BundleError(f"bundle {where}: {name} is missing")
    return files[name]


def _decode_signature(raw: bytes, where: str) -> bytes:
    try:
        sig = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"bundle {where}: {SIGNATURE_FILE} is not base64") from None
    if len(sig) != 64:
        raise BundleError(f"bundle {where}: {SIGNATURE_FILE} is not an Ed25519 signature")
    return sig


def verify_manifest(
    manifest_bytes: bytes, signature_file: bytes, public_key: Ed25519PublicKey, where: str
) -> Mapping[str, Any]:
    """Check the signature over the exact manifest bytes, then parse them.

    Raises
    ------
    BundleError
        On a bad signature, bad JSON or an unknown schema version.
    """
    sig = _decode_signature(signature_file, where)
    try:
        public_key.verify(sig, manifest_bytes)
    except InvalidSignature:
        raise BundleError(
            f"bundle {where}: signature does not match the manifest "
            "(manifest altered, or signed with a different key)"
        ) from None
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"bundle {where}: manifest.json is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"bundle {where}: manifest.json is not an object")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"bundle {where}: unknown manifest schema_version {version!r} "
            f"(this edge understands {SCHEMA_VERSION})"
        )
    return manifest


def _check_hashes(manifest: Mapping[str, Any], files: Mapping[str, bytes], where: str) -> None:
    model = manifest.get("model")
    if not isinstance(model, Mapping) or "sha256" not in model:
        raise BundleError(f"bundle {where}: manifest has no model.sha256")
    listed = dict(manifest.get("files", {}))
    listed[MODEL_FILE] = model["sha256"]
    for name, expected in sorted(listed.items()):
        actual = sha256_hex(_need(files, name, where))
        if actual != expected:
            raise BundleError(
                f"bundle {where}: {name} SHA-256 {actual[:12]}... does not match "
                f"the manifest ({str(expected)[:12]}...): file altered"
            )


def _lists(manifest: Mapping[str, Any], name: str) -> bool:
    files = manifest.get("files", {})
    return isinstance(files, Mapping) and name in files


def check_feature_spec(manifest: Mapping[str, Any], where: str = "<memory>") -> None:
    """Refuse a manifest whose features are not what :mod:`edge.forecasting.features` computes now.

    ``manifest["features"]`` holds :meth:`edge.forecasting.features.FeatureSpec.to_dict`
    (step, horizons, history, names) plus ``scaling``; the spec is rebuilt
    with the running code and its names must equal the recorded ones, and
    step and horizons must equal the manifest's top-level ones.

    Raises
    ------
    BundleError
        On a missing or mismatched feature spec.
    """
    section = manifest.get("features")
    if not isinstance(section, Mapping) or "names" not in section:
        raise BundleError(f"bundle {where}: manifest has no feature spec")
    try:
        spec = FeatureSpec.from_dict(section)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(
            f"bundle {where}: feature spec does not match the running "
            f"edge.forecasting.features code ({exc})"
        ) from None
    if spec.step_minutes != manifest.get("step_minutes") or list(spec.horizons_min) != list(
        manifest.get("horizons_min", ())
    ):
        raise BundleError(f"bundle {where}: feature spec step/horizons differ from the manifest's")
    scaling = section.get("scaling")
    if not isinstance(scaling, Mapping):
        raise BundleError(f"bundle {where}: manifest has no features.scaling")
    for key in ("offset", "scale"):
        if len(scaling.get(key, ())) != spec.n_features:
            raise BundleError(f"bundle {where}: features.scaling.{key} has the wrong length")


def load_bundle(
    path: str | Path,
    public_key: str | Path | bytes | Ed25519PublicKey,
    *,
    allow_unblessed: bool = False,
) -> Bundle:
    """Load and verify a bundle; refuse anything not exactly as signed.

    Parameters
    ----------
    path : str or Path
        Bundle directory or ``.tar.gz`` archive.
    public_key : str, Path, bytes or Ed25519PublicKey
        The device's trusted public key (PEM file path or PEM bytes).
    allow_unblessed : bool
        Accept a bundle that failed the validation gate (``--force``).

    Raises
    ------
    BundleError
        On a missing file, a bad or missing signature, a hash mismatch, an
        unknown schema version, an unblessed bundle, or a feature spec that
        does not match the running :mod:`edge.forecasting.features`.
    """
    where = str(path)
    key = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(public_key)
    return verify_files(read_bundle_files(path), key, where, allow_unblessed=allow_unblessed)


def verify_files(
    files: Mapping[str, bytes],
    key: Ed25519PublicKey,
    where: str,
    *,
    allow_unblessed: bool = False,
) -> Bundle:
    """Verify the files of a bundle held in memory (what :func:`load_bundle` does after
    reading them); ``where`` becomes ``Bundle.source``.

    Raises
    ------
    BundleError
        As :func:`load_bundle`.
    """
    manifest_bytes = _need(files, MANIFEST_FILE, where)
    signature = _need(files, SIGNATURE_FILE, where)
    manifest = verify_manifest(manifest_bytes, signature, key, where)
    _check_hashes(manifest, files, where)
    if not manifest.get("blessed", False) and not allow_unblessed:
        raise BundleError(
            f"bundle {where}: model {manifest.get('model_version')!r} is NOT blessed "
            "(it failed the validation gate); refusing it unless explicitly allowed"
        )
    check_feature_spec(manifest, where)
    model = files[MODEL_FILE]
    return Bundle(
        source=where,
        manifest=manifest,
        manifest_bytes=manifest_bytes,
        model_bytes=model,
        sha256=sha256_hex(model),
        float_model_bytes=files[FLOAT_MODEL_FILE] if _lists(manifest, FLOAT_MODEL_FILE) else None,
    )


def archive_bytes(files: Mapping[str, bytes]) -> bytes:
    """A deterministic ``.tar.gz`` of ``files`` (flat, sorted, zero mtimes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()

"""Ed25519 keys and manifest signatures for bundles.

Responsible for: making key pairs (PEM; the private key file is written
with mode 0600 and never overwritten), signing the exact bytes of a
``manifest.json`` and writing ``manifest.sig`` (base64 of the 64-byte
signature, one line).

Does NOT: verify bundles on the device (that is :mod:`edge.forecasting.bundle`, which
devices run with only the public key).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.forecasting.bundle import MANIFEST_FILE, SIGNATURE_FILE

__all__ = [
    "DEFAULT_KEY_DIR",
    "SigningError",
    "generate_keypair",
    "load_private_key",
    "public_pem",
    "sign_bundle_dir",
    "sign_bytes",
]

#: Where ``helio-train keygen`` and ``model-default`` keep the private key.
DEFAULT_KEY_DIR = Path("~/.config/helio-edge")
PRIVATE_NAME = "signing.key"
PUBLIC_NAME = "signing.pub"


class SigningError(RuntimeError):
    """A key cannot be read, written or used."""


def public_pem(private: Ed25519PrivateKey) -> bytes:
    """PEM (SubjectPublicKeyInfo) of the public half of ``private``."""
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_keypair(out_dir: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``signing.key`` (PKCS#8 PEM, mode 0600) and ``signing.pub`` into ``out_dir``.

    Raises
    ------
    SigningError
        If a private key already exists there and ``overwrite`` is false.
    """
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    if priv_path.exists() and not overwrite:
        raise SigningError(f"{priv_path} exists; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub_path.write_bytes(public_pem(key))
    return priv_path, pub_path


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Read an unencrypted PEM Ed25519 private key.

    Raises
    ------
    SigningError
        If the file is missing or holds something else.
    """
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SigningError(f"private key {p}: cannot read ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"private key {p}: not an unencrypted PEM key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"private key {p}: not an Ed25519 key")
    return key


def sign_bytes(data: bytes, key: Ed25519PrivateKey) -> bytes:
    """The ``manifest.sig`` content for ``data``: base64 signature plus newline."""
    return base64.b64encode(key.sign(data)) + b"\n"


def sign_bundle_dir(bundle_dir: str | Path, key_path: str | Path) -> Path:
    """(Re)sign the manifest of a bundle directory; returns the signature file.

    Raises
    ------
    SigningError
        If the directory has no manifest or the key is unusable.
    """
    d = Path(bundle_dir)
    manifest = d / MANIFEST_FILE
    if not manifest.is_file():
        raise SigningError(f"{d}: no {MANIFEST_FILE} (is this a bundle directory?)")
    sig = d / SIGNATURE_FILE
    sig.write_bytes(sign_bytes(manifest.read_bytes(), load_private_key(key_path)))
    return sig


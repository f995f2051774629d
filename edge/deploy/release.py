"""Deploy, local side: stage a versioned release directory.

Responsible for: checking the inputs an installer gives (agent config
template, site file, model bundle, public key, credentials file, systemd
unit) *before* anything touches the device, rendering the device's agent
config with the paths of the device layout, and staging everything in one
directory whose ``release.json`` lists every file to install with its
SHA-256, mode and owner. The release id is ``<version>-<content hash>``, so
the same inputs always give the same id (that is what makes a second deploy
a no-op).

Does NOT: build wheels (:mod:`edge.deploy.build`) or talk to the device
(:mod:`edge.deploy.remote`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import tomli_w

from edge.forecasting.bundle import load_bundle
from edge.forecasting.site import load_site
from edge.runtime.config import load_agent_config, load_credentials
from firmware_bridge.config import ConfigError, load_toml

__all__ = [
    "DeviceLayout",
    "Release",
    "ReleaseInputs",
    "dump_toml",
    "stage_release",
]

UNIT_NAME = "helio-edge.service"


@dataclass(frozen=True, slots=True)
class DeviceLayout:
    """Where things live on the device, all below ``root`` (``/`` on a real Pi).

    Tests deploy into a directory that stands for the device's root; every
    path written into configs and the unit file then carries that prefix so
    the installed agent runs from there unchanged.
    """

    root: str = "/"

    def path(self, rel: str) -> str:
        """Absolute device path of ``rel`` (relative to the device root)."""
        return str(PurePosixPath(self.root) / rel.lstrip("/"))

    @property
    def base(self) -> str:
        """``/opt/helio-edge``: releases, ``current`` link, wheelhouse, deps."""
        return self.path("opt/helio-edge")

    def release_dir(self, release_id: str) -> str:
        """One release: ``/opt/helio-edge/releases/<id>``."""
        return f"{self.base}/releases/{release_id}"

    @property
    def current(self) -> str:
        """The ``current`` symlink the unit's ``ExecStart`` goes through."""
        return f"{self.base}/current"

    @property
    def config(self) -> str:
        """The agent config the unit passes to ``helio-edge run``."""
        return self.path("etc/helio-edge/config.toml")


@dataclass(frozen=True, slots=True)
class ReleaseInputs:
    """What an installer hands to ``helio-edge deploy``.

    Attributes
    ----------
    wheel : Path
        The project wheel.
    requirements : tuple of str
        Its dependencies for the device's platform (``pvlib>=0.11`` ...).
    wheelhouse : Path or None
        Directory of dependency wheels for the device (None: the device
        already has them, as in ``--no-wheelhouse`` tests).
    agent_config : Path
        Agent config template (``configs/edge/*.toml``); its paths are
        rewritten for the device layout.
    site : Path or None
        Site file; None keeps the one the template names.
    bundle, public_key : Path or None
        Model bundle (directory or ``.tar.gz``) and its Ed25519 public key;
        None keeps the template's.
    credentials : Path or None
        TOML file with the device's MQTT ``username``/``password``.
    unit : Path
        The systemd unit file.
    """

    wheel: Path
    requirements: tuple[str, ...]
    wheelhouse: Path | None
    agent_config: Path
    unit: Path
    site: Path | None = None
    bundle: Path | None = None
    public_key: Path | None = None
    credentials: Path | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """A staged release directory and its identity."""

    id: str
    version: str
    content_sha256: str
    dir: Path
    manifest: Mapping[str, Any]

    @property
    def wheel_name(self) -> str:
        """File name of the project wheel inside ``wheels/``."""
        return str(self.manifest["wheel"])


# --------------------------------------------------------------------------
# writing the agent config (tomli-w)
# --------------------------------------------------------------------------


def dump_toml(data: Mapping[str, Any], header: str = "") -> str:
    """TOML text of ``data`` (tomli-w), after ``header`` as ``#`` comment lines."""
    comments = "".join(f"# {h}\n" for h in header.splitlines())
    return comments + tomli_w.dumps(dict(data))


# --------------------------------------------------------------------------
# staging
# --------------------------------------------------------------------------


def _wheel_digest(wheel: Path) -> str:
    """Hash of a wheel's members (names + bytes), blind to zip timestamps."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            h.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    return h.hexdigest()


def _git_sha(source: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out + ("-dirty" if dirty else "")


class _Stager:
    """Copies files into ``<dir>/files/<device path>`` and records them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: list[dict[str, str]] = []

    def add_bytes(self, rel: str, data: bytes, *, mode: int = 0o644, owner: str = "root") -> None:
        dest = self.out / "files" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        dest.chmod(mode)
        entry = {"path": rel, "sha256": hashlib.sha256(data).hexdigest()}
        self.files.append({**entry, "mode": f"{mode:04o}", "owner": owner})

    def add_file(self, rel: str, src: Path, **kw: Any) -> None:
        self.add_bytes(rel, src.read_bytes(), **kw)

    def add_tree(self, rel: str, src: Path, **kw: Any) -> None:
        for p in sorted(q for q in src.rglob("*") if q.is_file()):
            self.add_file(f"{rel}/{p.relative_to(src).as_posix()}", p, **kw)


def _need(path: Path | None, what: str) -> Path:
    if path is None or not path.exists():
        raise ConfigError(str(path or "<not given>"), "", f"{what} not found")
    return path


def _render(inputs: ReleaseInputs, layout: DeviceLayout, st: _Stager) -> dict[str, Any]:
    """Check the inputs, stage the files and return the rendered agent config."""
    cfg = load_agent_config(inputs.agent_config)  # strict: unknown keys, types
    raw = load_toml(inputs.agent_config)
    site = inputs.site or Path(cfg.agent.site)
    load_site(_need(site, "site file"))
    bundle = _need(inputs.bundle or Path(cfg.model.bundle), "model bundle")
    key = _need(inputs.public_key or Path(cfg.model.public_key), "bundle public key")
    # verified here, on the installer's machine, not first on site
    load_bundle(bundle, key, allow_unblessed=cfg.model.allow_unblessed)
    agent, model = dict(raw["agent"]), dict(raw["model"])
    mqtt, outbox = dict(raw.get("mqtt", {})), dict(raw.get("outbox", {}))
    st.add_file("etc/helio-edge/site.toml", site, mode=0o644)
    agent["site"] = layout.path("etc/helio-edge/site.toml")
    agent["state_dir"] = layout.path("var/lib/helio-edge")
    if bundle.is_dir():
        st.add_tree("var/lib/helio-edge/bundle", bundle)
        model["bundle"] = layout.path("var/lib/helio-edge/bundle")
    else:
        st.add_file(f"var/lib/helio-edge/bundle/{bundle.name}", bundle)
        model["bundle"] = layout.path(f"var/lib/helio-edge/bundle/{bundle.name}")
    st.add_file(f"etc/helio-edge/keys/{key.name}", key)
    model["public_key"] = layout.path(f"etc/helio-edge/keys/{key.name}")
    if inputs.credentials is not None:
        load_credentials(_need(inputs.credentials, "credentials file"))
        st.add_file("etc/helio-edge/credentials.toml", inputs.credentials, mode=0o600,
                    owner="service")
        mqtt["credentials_file"] = layout.path("etc/helio-edge/credentials.toml")
    elif cfg.mqtt.credentials_file:
        raise ConfigError(inputs.agent_config, "mqtt.credentials_file",
                          "the device needs its credentials: pass --credentials FILE")
    for name in ("ca_file", "cert_file", "key_file"):
        src = getattr(cfg.mqtt, name)
        if src:
            secret = name == "key_file"
            st.add_file(f"etc/helio-edge/tls/{Path(src).name}", _need(Path(src), f"mqtt.{name}"),
                        mode=0o600 if secret else 0o644, owner="service" if secret else "root")
            mqtt[name] = layout.path(f"etc/helio-edge/tls/{Path(src).name}")
    if outbox.get("path"):
        outbox["path"] = layout.path(f"var/lib/helio-edge/{Path(outbox['path']).name}")
    rendered = {**raw, "agent": agent, "model": model}
    if mqtt:
        rendered["mqtt"] = mqtt
    if outbox:
        rendered["outbox"] = outbox
    return rendered


def _render_unit(unit: Path, layout: DeviceLayout) -> bytes:
    text = _need(unit, "systemd unit").read_text()
    if layout.root != "/":
        for prefix in ("/opt/helio-edge", "/etc/helio-edge"):
            text = text.replace(prefix, layout.path(prefix))
    return text.encode()


def stage_release(
    inputs: ReleaseInputs, layout: DeviceLayout, *, version: str, out_root: Path,
    target: Mapping[str, str], source: Path | None = None,
) -> Release:
    """Check the inputs and stage a release under ``out_root/<id>``.

    Raises
    ------
    ConfigError
        On a missing or invalid config, site, bundle, key or credentials
        file (the bundle is verified against the key here, on the
        installer's machine, before anything is copied).
    edge.forecasting.bundle.BundleError
        When the bundle does not verify.
    """
    tmp = out_root / ".staging"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "wheels").mkdir(parents=True)
    st = _Stager(tmp)
    rendered = _render(inputs, layout, st)
    header = f"Generated by helio-edge deploy from {inputs.agent_config.name}; redeploy to change."
    st.add_bytes("etc/helio-edge/config.toml", dump_toml(rendered, header).encode(), mode=0o640)
    st.add_bytes(f"etc/systemd/system/{UNIT_NAME}", _render_unit(inputs.unit, layout))
    shutil.copy2(inputs.wheel, tmp / "wheels" / inputs.wheel.name)
    wheels = sorted(p.name for p in inputs.wheelhouse.glob("*.whl")) if inputs.wheelhouse else []
    reqs = sorted(inputs.requirements)
    h = hashlib.sha256(_wheel_digest(inputs.wheel).encode())
    h.update("\n".join([*reqs, "--", *wheels, json.dumps(dict(target))]).encode())
    for f in sorted(st.files, key=lambda e: e["path"]):
        h.update(json.dumps(f, sort_keys=True).encode())
    content = h.hexdigest()
    release_id = f"{version}-{content[:12]}"
    manifest = {
        "id": release_id, "version": version, "content_sha256": content,
        "git": _git_sha(source) if source else "", "wheel": inputs.wheel.name,
        "target": dict(target),
        "requirements": reqs, "wheelhouse": wheels,
        "files": sorted(st.files, key=lambda e: e["path"]),
    }
    # not world-readable: it lists the SHA-256 of every file, the credentials file's too
    fd = os.open(tmp / "release.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(manifest, indent=1) + "\n")
    final = out_root / release_id
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    final.chmod(final.stat().st_mode | stat.S_IXUSR)
    return Release(release_id, version, content, final, manifest)

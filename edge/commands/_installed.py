"""Where an installed release keeps its files: the commands' defaults on a device.

``helio-edge deploy`` installs each release as
``<root>/opt/helio-edge/releases/<id>/`` (its ``release.json`` and
``venv/``) and the files it runs with at fixed places below ``<root>``
(``/`` on a Pi): ``etc/helio-edge/config.toml``, ``etc/helio-edge/site.toml``,
``etc/helio-edge/keys/<name>.pub`` and ``var/lib/helio-edge/bundle/`` (see
docs/deploy.md, "What is installed where"). When the running interpreter is
such a release's venv, ``check`` and ``predict`` default to those files, so
they work from any directory; in a source checkout they keep the
repository's paths.

Does NOT: read or check the files (the commands do), or know about the
deploy's own code (which is not needed on the device to find them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["InstalledRelease", "installed_release"]


@dataclass(frozen=True, slots=True)
class InstalledRelease:
    """A release installed by ``helio-edge deploy`` and the files it uses.

    Attributes
    ----------
    root : Path
        The device root the release was installed below (``/`` on a Pi).
    release_id : str
        ``<version>-<content hash>``.
    """

    root: Path
    release_id: str

    @property
    def config(self) -> Path:
        """The agent config the service runs with."""
        return self.root / "etc/helio-edge/config.toml"

    @property
    def site(self) -> Path:
        """The site file."""
        return self.root / "etc/helio-edge/site.toml"

    @property
    def bundle(self) -> Path:
        """The model bundle: the directory, or the one archive inside it."""
        where = self.root / "var/lib/helio-edge/bundle"
        archives = sorted(where.glob("*.tar.gz"))
        return archives[0] if len(archives) == 1 and not (where / "manifest.json").exists() \
            else where

    def public_keys(self) -> list[Path]:
        """The installed bundle-signing public keys (one after a deploy)."""
        return sorted((self.root / "etc/helio-edge/keys").glob("*.pub"))


def installed_release(prefix: str | Path | None = None) -> InstalledRelease | None:
    """The installed release this interpreter runs from, or None (a checkout, a dev venv).

    Parameters
    ----------
    prefix : str or Path, optional
        The virtual environment to look at (default ``sys.prefix``, the
        running one). It is an installed release when it is
        ``<root>/opt/helio-edge/releases/<id>/venv`` (also when reached
        through the ``current`` link) next to that release's ``release.json``.
    """
    venv = Path(prefix if prefix is not None else sys.prefix).resolve()
    release = venv.parent
    base = release.parent.parent  # <root>/opt/helio-edge
    if (venv.name != "venv" or release.parent.name != "releases"
            or base.name != "helio-edge" or base.parent.name != "opt"
            or not (release / "release.json").is_file()):
        return None
    return InstalledRelease(root=base.parent.parent, release_id=release.name)

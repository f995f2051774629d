"""The installer-side build: the wheel, the device's requirements, pip's platform options."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from edge.deploy.build import Target, build_wheel, wheel_requirements, wheel_version
from edge.deploy.release import _wheel_digest


def _project(root: Path, body: str = "X = 1\n") -> Path:
    (root / "tinypkg").mkdir(parents=True)
    (root / "tinypkg" / "__init__.py").write_text(body)
    (root / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='tinypkg', version='2.5.0', packages=['tinypkg'],\n"
        "      install_requires=['numpy>=1.24'],\n"
        "      extras_require={'edge': [\"ai-edge-litert>=2.3; platform_machine!='armv7l'\",\n"
        "                               \"tflite-runtime==2.14.0; platform_machine=='armv7l'\",\n"
        "                               \"numpy<2; platform_machine=='armv7l'\",\n"
        "                               \"paho-mqtt>=2.1,<3\"]})\n")
    return root


@pytest.fixture(scope="module")
def tiny_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = _project(tmp_path_factory.mktemp("tiny"))
    return build_wheel(src, tmp_path_factory.mktemp("out"))


def test_build_wheel_is_clean_cached_and_content_stable(tmp_path: Path, tiny_wheel: Path) -> None:
    src = _project(tmp_path / "src")
    a = build_wheel(src, tmp_path / "a")
    assert a.name == "tinypkg-2.5.0-py3-none-any.whl" and wheel_version(a) == "2.5.0"
    assert not (src / "build").exists() and not list(src.glob("*.egg-info"))  # tree untouched
    assert build_wheel(src, tmp_path / "a") == a  # same sources: the cached wheel
    # an independent build of the same sources has the same content (the release id)
    assert _wheel_digest(a) == _wheel_digest(tiny_wheel)
    (src / "tinypkg" / "__init__.py").write_text("X = 2\n")
    b = build_wheel(src, tmp_path / "a")
    assert b != a and _wheel_digest(b) != _wheel_digest(a)
    with zipfile.ZipFile(b) as zf:
        assert zf.read("tinypkg/__init__.py") == b"X = 2\n"


@pytest.mark.parametrize("arch,expect,absent", [
    ("aarch64", {"ai-edge-litert>=2.3", "numpy>=1.24", "paho-mqtt<3,>=2.1"},
     {"tflite-runtime==2.14.0", "numpy<2"}),
    ("armv7l", {"tflite-runtime==2.14.0", "numpy<2", "numpy>=1.24"}, {"ai-edge-litert>=2.3"}),
], ids=["aarch64", "armv7l"])
def test_requirements_follow_the_device_not_this_machine(
    tiny_wheel: Path, arch: str, expect: set[str], absent: set[str]
) -> None:
    reqs = set(wheel_requirements(tiny_wheel, Target(arch)))
    assert expect <= reqs and not (absent & reqs)


def test_requirements_without_the_extra(tiny_wheel: Path) -> None:
    assert wheel_requirements(tiny_wheel, Target("aarch64"), extra="none") == ["numpy>=1.24"]


def test_pip_platform_options() -> None:
    args = Target("aarch64", "3.11").pip_platform_args()
    plats = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert "manylinux2014_aarch64" in plats and "manylinux_2_36_aarch64" in plats
    assert "manylinux_2_37_aarch64" not in plats  # bookworm's glibc is 2.36
    assert not any("x86_64" in p for p in plats)
    assert args[args.index("--python-version") + 1] == "3.11"
    assert Target("native").pip_platform_args() == []
    with pytest.raises(ValueError, match="arch"):
        Target("riscv64")


@pytest.mark.slow
def test_device_wheel_carries_only_what_runs_on_the_device(tmp_path: Path) -> None:
    """No trainer, deploy tooling, demo, site simulation or testkit on the Pi."""
    repo = Path(__file__).resolve().parents[3]
    wheel = build_wheel(repo, tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith(".py")}
    assert {"edge/runtime", "edge/forecasting", "firmware_bridge/protocols"} <= packages
    assert not [p for p in packages if p.startswith(("trainer", "edge/deploy", "edge/demo",
                                                     "edge/simulation", "edge/testkit", "tests",
                                                     "bench"))]
    assert any(n.startswith("edge/data/bundles/abuja/") for n in names)  # the shipped model
    assert "helio-edge = edge.cli:main" in entry_points
    assert "helio-bridge = firmware_bridge.cli:main" in entry_points
    assert "helio-train" not in entry_points and "helio-monitor" not in entry_points

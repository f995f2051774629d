"""The training configuration: the default adapts to the data's resolution and span, and a
misspelt key is refused with the file and the key named (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.config import ConfigError
from trainer.config import DEFAULT_CONFIG, adapt_to_data, default_horizons, load_train_config


@pytest.mark.parametrize(("resolution", "step", "horizons"), [
    (1, 15, (15, 30, 60, 120, 180)), (5, 15, (15, 30, 60, 120, 180)),
    (10, 10, (10, 20, 60, 120, 180)), (15, 15, (15, 30, 60, 120, 180)),
    (20, 30, (30, 60, 120, 180)), (30, 30, (30, 60, 120, 180)), (60, 60, (60, 120, 180)),
])
def test_default_config_takes_step_and_horizons_from_the_data(
        resolution: int, step: int, horizons: tuple[int, ...]) -> None:
    base = load_train_config(DEFAULT_CONFIG)
    cfg = adapt_to_data(base, resolution, 365)
    assert cfg.features.step_minutes == step and cfg.features.horizons_min == horizons
    assert cfg.site_path() == base.site_path()
    big = adapt_to_data(base, resolution, 3 * 365)
    assert len(big.model.hidden) >= len(cfg.model.hidden)


def test_default_config_refuses_hourly_plus_data() -> None:
    with pytest.raises(ValueError, match="coarser than the 60-min"):
        adapt_to_data(load_train_config(DEFAULT_CONFIG), 180, 365)


def test_unknown_section_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text(DEFAULT_CONFIG.read_text() + "\n[modle]\nepochs = 3\n")
    with pytest.raises(ConfigError, match="modle: unknown key") as err:
        load_train_config(path)
    assert str(path) in str(err.value)


def test_misspelt_key_inside_a_section_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text(DEFAULT_CONFIG.read_text().replace("[model]", "[model]\nepochz = 3", 1))
    with pytest.raises(ConfigError, match=r"model\.epochz: unknown key.*epochs"):
        load_train_config(path)


def test_site_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    """A config copied elsewhere with a relative ``site`` finds the site beside it."""
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "abuja.toml").write_text(
        (DEFAULT_CONFIG.parents[1] / "sites" / "abuja.toml").read_text())
    path = tmp_path / "train.toml"
    text = DEFAULT_CONFIG.read_text()
    site_line = next(ln for ln in text.splitlines() if ln.startswith("site"))
    path.write_text(text.replace(site_line, 'site = "sites/abuja.toml"'))
    assert load_train_config(path).site_path().resolve() == (
        tmp_path / "sites" / "abuja.toml").resolve()


@pytest.mark.parametrize("step", [10, 15, 30, 60])
def test_default_horizons_are_multiples_of_the_step_up_to_three_hours(step: int) -> None:
    horizons = default_horizons(step)
    assert all(h % step == 0 for h in horizons)
    assert max(horizons) == 180 and list(horizons) == sorted(set(horizons))

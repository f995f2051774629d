"""Running ``helio-train`` subcommands through the real dispatcher, and small training
configs on synthetic Abuja days."""

from __future__ import annotations

from pathlib import Path

from firmware_bridge.clitools import dispatch
from tests.conftest import REPO
from trainer.cli import COMMANDS

__all__ = ["LAX_GATE", "STRICT_GATE", "cli", "write_config"]


LAX_GATE = """
[gate]
targets = ["ghi", "pv_power"]
min_skill = -10.0
min_season_skill = -10.0
min_cliper_skill = -10.0
coverage_min = 0.0
coverage_max = 1.0
max_int8_rmse_increase = 0.5
max_rail_share = 0.5
max_linear_shortfall = -1.0
"""

STRICT_GATE = """
[gate]
targets = ["ghi"]
min_skill = 0.99
"""


def write_config(path: Path, gate: str = LAX_GATE, days: int = 24, seed: int = 7) -> Path:
    """A training config: 15-min step, three horizons, a few epochs, synthetic Abuja days."""
    path.write_text(
        f'site = "{REPO / "configs" / "sites" / "abuja.toml"}"\n'
        f"seed = {seed}\n"
        'model_version = "test-0.0.1"\n'
        "[features]\nstep_minutes = 15\nhorizons_min = [15, 30, 60]\nhistory_steps = 4\n"
        f"[data]\nholdout_fraction = 0.25\nsynthetic_days = {days}\n"
        'synthetic_start = "2025-03-01"\n'
        "[model]\nhidden = [16]\nepochs = 3\nbatch_size = 128\n"
        "[quantization]\nrepresentative_samples = 500\nrepresentative_batch = 100\n"
        + gate
    )
    return path


def cli(*argv: str) -> int:
    """Run one helio-train subcommand through the real dispatcher."""
    name = argv[0]
    return dispatch("helio-train", "test", {name: COMMANDS[name]}, list(argv))

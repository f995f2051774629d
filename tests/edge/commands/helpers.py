"""Running ``helio-edge`` as a real subprocess of this interpreter, with an agent config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=timeout,
        cwd=REPO, check=False,
    )


def agent_config(tmp_path: Path, bundle: str, key: str, port: int = 1, extra: str = "") -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[agent]
site = "{REPO / 'configs/sites/abuja.toml'}"
state_dir = "{tmp_path / 'state'}"
{extra}
[model]
bundle = "{bundle}"
public_key = "{key}"

[mqtt]
host = "127.0.0.1"
port = {port}

[[devices]]
id = "mppt"
protocol = "vedirect"
port = "{tmp_path / 'no-such-tty'}"
""")
    return cfg

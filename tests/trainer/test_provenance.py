"""Provenance: the data digest follows the data and nothing else; the code version names
the commit in a checkout; the runtime versions are the installed ones."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess

import numpy as np
import pandas as pd

from tests.conftest import REPO
from trainer.provenance import COMMIT_ID_LENGTH, code_version, data_digest, runtime_versions


def _frame() -> pd.DataFrame:
    times = pd.date_range("2025-03-01", periods=48, freq="15min", tz="UTC")
    rng = np.random.default_rng(0)
    return pd.DataFrame({"ghi": rng.uniform(0, 900, 48), "temp_air": rng.uniform(20, 35, 48),
                         "source": ["synthetic"] * 48}, index=times)


def test_digest_is_stable_and_ignores_column_order_and_text_columns() -> None:
    frame = _frame()
    digest = data_digest(frame)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert data_digest(frame.copy()) == digest
    assert data_digest(frame[["temp_air", "ghi", "source"]]) == digest
    assert data_digest(frame.assign(source="other")) == digest  # not numeric: not data


def test_digest_changes_with_a_value_or_a_timestamp() -> None:
    frame = _frame()
    digest = data_digest(frame)
    changed = frame.copy()
    changed.iloc[10, 0] += 1e-9
    assert data_digest(changed) != digest
    shifted = frame.copy()
    shifted.index = shifted.index + pd.Timedelta(minutes=1)
    assert data_digest(shifted) != digest


def test_code_version_carries_the_checkout_commit() -> None:
    sha = subprocess.run(["git", "rev-parse", f"--short={COMMIT_ID_LENGTH}", "HEAD"],
                         capture_output=True, text=True, cwd=REPO, check=False).stdout.strip()
    version = code_version()
    if sha:
        assert version.endswith(f"+g{sha}") and len(sha) == COMMIT_ID_LENGTH
    assert version.split("+")[0] in {importlib.metadata.version("helio-edge"), "unknown"}


def test_runtime_versions_are_the_installed_ones() -> None:
    versions = runtime_versions()
    assert versions["numpy"] == np.__version__
    assert set(versions) <= {"tensorflow", "keras", "ai-edge-litert", "pvlib", "numpy"}

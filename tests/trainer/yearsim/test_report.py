"""The plan-accuracy report: its definitions on hand-made records, the CLI's table and JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from trainer.cli import main
from trainer.yearsim.report import format_table, score
from trainer.yearsim.runner import HORIZON_STEPS, Record

START = datetime(2025, 1, 1, tzinfo=UTC)


def perfect_record(days: int = 4) -> Record:
    """A record whose plan foresaw the truth exactly and whose naive plan is 0.05 off."""
    n = days * 96
    rec = Record.empty(START, n, reserve_soc=0.3)
    i = np.arange(n)
    rec.truth_soc = 0.6 + 0.3 * np.sin(2 * np.pi * i / 96)  # dips to 0.3 once a day
    rec.truth_load = 300.0 + 100.0 * np.cos(2 * np.pi * i / 96)
    cloudy = np.array([1.0, 0.5, 0.8, 0.3, 0.9, 0.6])[i // 96 % 6]  # days differ
    rec.truth_pv = cloudy * np.clip(2000.0 * np.sin(2 * np.pi * (i - 24) / 96), 0.0, None)
    rec.truth_pv_potential = rec.truth_pv * 1.1
    rec.meas_load = rec.truth_load + 50.0  # persistence is 50 W off
    rec.meas_pv = rec.truth_pv
    idx = np.minimum(i[:, None] + np.arange(1, HORIZON_STEPS + 1)[None, :], n - 1)
    for q, off in (("p10", -0.02), ("p50", 0.0), ("p90", 0.02)):
        rec.soc[q][:] = rec.truth_soc[idx] + off
    rec.naive[:] = rec.truth_soc[idx] + 0.05
    rec.load_p50[:] = rec.truth_load[idx]
    rec.pv_p50[:] = rec.truth_pv[idx]
    rec.pv_potential_p50[:] = rec.truth_pv_potential[idx]
    below = rec.truth_soc[idx] <= 0.3
    rec.reserve_k["p10"][:] = np.where(below.any(axis=1), np.argmax(below, axis=1) + 1, 0)
    rec.reserve_k["p50"][:] = rec.reserve_k["p10"]
    rec.load_methods["weekday"] = n
    rec.pv_methods["model+climatology"] = n
    rec.plan_cpu_ms = [1.0] * n
    return rec


def test_report_scores_a_perfect_plan_as_perfect() -> None:
    r = score(perfect_record())
    assert r["soc_p50_mae"]["12h"]["plan_mae"] == 0.0
    assert r["soc_p50_mae"]["12h"]["naive_mae"] == pytest.approx(0.05)
    assert r["soc_p50_mae"]["12h"]["below_naive"] == 1.0
    assert r["coverage_p10_p90"]["24h_ahead"] == 1.0
    assert r["load"]["skill"] == 1.0
    assert r["pv_day_ahead"]["potential"]["skill_vs_climatology"] == pytest.approx(1.0)
    assert r["pv_day_ahead"]["potential"]["skill_vs_persistence"] == pytest.approx(1.0)
    ttr = r["time_to_reserve"]
    assert ttr["p50"]["events"] > 0
    assert ttr["p50"]["hits"] == ttr["p50"]["events"] and ttr["p50"]["mae_h"] == 0.0
    goals = r["goals"]
    assert goals["soc_mae_12h_below_naive"]["met"] and goals["load_skill"]["met"]
    assert not goals["coverage"]["met"]  # a fan that always holds the truth is too wide


def test_report_time_to_reserve_counts_late_missed_and_false_alarms() -> None:
    rec = perfect_record()
    rec.reserve_k["p50"][:] = np.where(rec.reserve_k["p10"] > 0, rec.reserve_k["p10"] + 4, 0)
    rec.reserve_k["p50"][rec.reserve_k["p50"] > HORIZON_STEPS] = 0
    rec.reserve_k["p10"][:] = np.where(rec.reserve_k["p10"] > 0, 0, 10)  # always wrong
    ttr = score(rec)["time_to_reserve"]
    assert ttr["p50"]["bias_h"] == 1.0 and ttr["p50"]["mae_h"] == 1.0  # an hour late
    assert ttr["p10"]["hits"] == 0
    assert ttr["p10"]["missed"] == ttr["p10"]["events"] > 0
    assert ttr["p10"]["false_alarms"] == ttr["issues"] - ttr["p10"]["events"]


def test_report_misses_are_reported_with_their_figures() -> None:
    rec = perfect_record()
    for q, off in (("p10", -0.2), ("p90", -0.1)):  # a fan below the truth
        rec.soc[q][:] += off
    r = score(rec)
    assert r["coverage_p10_p90"]["24h_ahead"] == 0.0
    assert r["goals"]["coverage"]["met"] is False
    text = format_table("head", r)
    assert "coverage 0.75-0.85: MISSED (0.0)" in text


@pytest.mark.tflite
def test_cli_simulate_year_prints_the_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate-year", "--days", "10", "--seed", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for h in ("3h", "12h", "24h"):
        m = report["soc_p50_mae"][h]
        assert 0.0 <= m["plan_mae"] < 0.5 and 0.0 <= m["naive_mae"] < 0.5
        assert m["below_naive"] is not None
    assert 0.0 <= report["coverage_p10_p90"]["24h_ahead"] <= 1.0
    for q in ("p10", "p50", "naive"):
        assert {"events", "hits", "missed", "false_alarms", "mae_h", "bias_h"} <= set(
            report["time_to_reserve"][q])
    assert report["load"]["skill"] is not None
    assert report["pv_day_ahead"]["potential"]["skill_vs_persistence"] is not None
    assert report["pv_day_ahead"]["potential"]["skill_vs_climatology"] is not None
    assert set(report["goals"]) == {"soc_mae_12h_below_naive", "coverage", "load_skill"}
    assert report["days"] == 10 and report["policy"] == "none" and report["grid"] is None
    assert report["scored_issues"] == 9 * 96

    assert main(["simulate-year", "--days", "3", "--grid", "abuja"]) == 0
    table = capsys.readouterr().out
    assert "SOC P50 MAE 12h" in table and "P10-P90 coverage" in table
    assert "skill vs persistence" in table and "goals (reported, not tuned to)" in table
    assert "grid 13.9 h/d" in table


def test_cli_simulate_year_refuses_an_unknown_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate-year", "--days", "3", "--policy", "generator"]) == 2
    assert "unknown policy" in capsys.readouterr().err

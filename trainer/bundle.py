"""Write a bundle: model files, manifest, model card with plots, signature.

Responsible for: laying out a bundle directory (``model.tflite``,
``model_float32.tflite``, ``manifest.json``, ``model_card.md``, the card's PNG
plots, ``manifest.sig``), listing the SHA-256 of every file in the
manifest so the edge can refuse any altered file, rendering the card
(Markdown + matplotlib Agg plots: skill by horizon, P10-P90 fan charts on
sample days, quantile reliability), and signing the manifest.

Does NOT: train, score, or decide blessing (the caller passes the gate
result); verify bundles (:mod:`edge.forecasting.bundle`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.forecasting.bundle import (
    CARD_FILE,
    FLOAT_MODEL_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    SCHEMA_VERSION,
    SIGNATURE_FILE,
    Bundle,
    BundleError,
    check_feature_spec,
    load_public_key,
    read_bundle_files,
    sha256_hex,
    verify_manifest,
)
from edge.forecasting.reference import QUANTILE_LEVELS, ZENITH_LIMIT
from trainer.bundle_signing import sign_bundle_dir
from trainer.validate import ALL_SEASONS, GateResult, MetricRow

__all__ = ["CardData", "FanDay", "manifest_bytes", "open_for_scoring", "write_bundle"]

SKILL_PNG = "skill_by_horizon.png"
FAN_PNG = "fan_chart.png"
RELIABILITY_PNG = "reliability.png"


@dataclasses.dataclass(frozen=True)
class FanDay:
    """One sample day for the fan chart (GHI at one horizon).

    Attributes
    ----------
    label : str
        Day label (``YYYY-MM-DD``).
    hours : numpy.ndarray
        Hour of day of each target period end (UTC). [h]
    observed, p10, p50, p90 : numpy.ndarray
        GHI. [W/m²]
    """

    label: str
    hours: np.ndarray
    observed: np.ndarray
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray


@dataclasses.dataclass(frozen=True)
class CardData:
    """What the model card shows besides the manifest.

    Attributes
    ----------
    fan_horizon_min : int
        Horizon of the fan chart. [min]
    fan_days : sequence of FanDay
    reliability : mapping of horizon -> sequence of float
        Observed share of clear-sky index below P10, P50, P90 per horizon.
    notes : sequence of str
        Known limits and failure modes.
    """

    fan_horizon_min: int
    fan_days: Sequence[FanDay]
    reliability: Mapping[int, Sequence[float]]
    notes: Sequence[str] = ()


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes of a manifest (sorted keys, 2-space indent, newline)."""
    return (json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def _plt() -> Any:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _plot_skill(rows: Sequence[MetricRow], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=80)
    for target in ("ghi", "dni", "dhi", "pv_power"):
        pts = [(r.horizon_min, r.skill_vs_smart_persistence) for r in rows
               if r.target == target and r.season == ALL_SEASONS]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=target)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("horizon [min]")
    ax.set_ylabel("skill vs smart persistence")
    ax.set_title("Hold-out skill by horizon (daytime)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _plot_fan(card: CardData, path: Path) -> None:
    plt = _plt()
    days = list(card.fan_days)
    fig, axes = plt.subplots(1, max(1, len(days)), figsize=(3.2 * max(1, len(days)), 3), dpi=80,
                             squeeze=False)
    for ax, day in zip(axes[0], days, strict=False):
        ax.fill_between(day.hours, day.p10, day.p90, alpha=0.3, label="P10-P90")
        ax.plot(day.hours, day.p50, label="P50")
        ax.plot(day.hours, day.observed, "k.", ms=3, label="observed")
        ax.set_title(day.label, fontsize=9)
        ax.set_xlabel("hour [UTC]")
    axes[0][0].set_ylabel(f"GHI [W/m²], {card.fan_horizon_min} min ahead")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _plot_reliability(card: CardData, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
    nominal = list(QUANTILE_LEVELS)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    for h, shares in sorted(card.reliability.items()):
        ax.plot(nominal, list(shares), marker="o", label=f"{h} min")
    ax.set_xlabel("nominal quantile")
    ax.set_ylabel("observed share below")
    ax.set_title("Quantile reliability")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _fmt(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.3f}"


def _metrics_table(rows: Sequence[MetricRow]) -> list[str]:
    lines = ["| target | horizon [min] | season | n | RMSE | MAE | MBE | skill vs SP |"
             " skill vs CLIPER | linear model's skill vs SP | P10-P90 coverage |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.target} | {r.horizon_min} | {r.season} | {r.n} | {r.rmse:.1f} | "
                     f"{r.mae:.1f} | {r.mbe:+.1f} | {_fmt(r.skill_vs_smart_persistence)} | "
                     f"{_fmt(r.skill_vs_cliper)} | "
                     f"{_fmt(r.linear_skill_vs_smart_persistence)} | "
                     f"{_fmt(r.coverage_p10_p90)} |")
    return lines


def _reliability_table(card: CardData) -> list[str]:
    lines = ["| horizon [min] | share below P10 | below P50 | below P90 | inside P10-P90 |",
             "|---|---|---|---|---|"]
    for h, (a, b, c) in sorted(card.reliability.items()):
        lines.append(f"| {h} | {_fmt(a)} | {_fmt(b)} | {_fmt(c)} | {_fmt(c - a)} |")
    return lines


def _selection_lines(manifest: Mapping[str, Any]) -> list[str]:
    sel = manifest.get("selection")
    if not sel:
        return []
    val = sel["validation"]
    lines = [
        "## Model choice per horizon (validation split)",
        "",
        f"Chosen by {sel['criterion']} ({val['rows']} rows, {val['start']} .. {val['end']}, "
        "the latest part of the training period; the hold-out played no part). "
        f"Quantiles: {sel['quantiles']}.",
        "",
        "| horizon [min] | weight SP | weight linear | weight network | validation GHI RMSE:"
        " SP | linear | network | chosen | spread scale down / up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for h, r in sel["horizons"].items():
        w, e, sc = r["weights"], r["rmse_ghi"], r["spread_scale"]
        lines.append(f"| {h} | {w['smart_persistence']:.1f} | {w['linear']:.1f} | "
                     f"{w['network']:.1f} | {e['smart_persistence']:.1f} | {e['linear']:.1f} | "
                     f"{e['network']:.1f} | {e['chosen']:.1f} | {sc['down']:.2f} / "
                     f"{sc['up']:.2f} |")
    return [*lines, ""]


def _range_lines(manifest: Mapping[str, Any]) -> list[str]:
    ranges = manifest.get("holdout_outside_training_range")
    if ranges is None:
        return []
    lines = ["## Hold-out rows outside the training range, per feature", "",
             "| feature | share |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in ranges.items()]
    return [*lines, ""]


def _card_text(manifest: Mapping[str, Any], rows: Sequence[MetricRow], gate: GateResult,
               card: CardData) -> str:
    site = manifest["site"]
    data = manifest["training_data"]
    verdict = "BLESSED (passed the gate)" if manifest["blessed"] else "NOT BLESSED"
    lines = [
        f"# Model card: {manifest['model_version']}",
        "",
        f"**{verdict}**. Site {site['id']} ({site['latitude']:.4f}, {site['longitude']:.4f}), "
        f"step {manifest['step_minutes']} min, horizons {manifest['horizons_min']} min, "
        "quantiles P10/P50/P90 of the clear-sky index; GHI, DNI, DHI and PV power are "
        "derived on the device by `edge.forecasting.forecast`.",
        "",
        "## Training data",
        "",
        f"- source: `{data.get('source')}` (format `{data.get('format')}`), "
        f"SHA-256 `{data.get('sha256', '')[:16]}...`",
        f"- span {data.get('start')} .. {data.get('end')}; hold-out from {data.get('split')}; "
        f"{data.get('train_rows')} training rows, {data.get('holdout_rows')} hold-out rows",
        f"- seed {manifest['seed']}, code {manifest['code_version']}",
        "",
        "## Model",
        "",
        f"- MLP {manifest['model']['hidden']}, {len(manifest['features']['names'])} inputs, "
        f"full-integer int8 TFLite, {manifest['model']['size_bytes']} bytes, "
        f"SHA-256 `{manifest['model']['sha256'][:16]}...`",
        f"- int8 vs float32 (edge interpreter): {manifest['int8']['rmse_increase'] * 100:+.2f} % "
        f"RMSE, {manifest['int8']['rail_share'] * 100:.3f} % of outputs at the rails",
        "- P50 = a fixed per-horizon blend of smart persistence, a ridge model and the "
        "network, in the same int8 graph; P10 = P50 - s_d |a|, P90 = P50 + s_u |b| with "
        "spread scales s_d, s_u >= 0: the float model cannot cross; the edge "
        "sorts each horizon's int8 triple (one-quantum swaps).",
        "",
        *_selection_lines(manifest),
        "## Gate",
        "",
        *[f"- {'PASS' if c.passed else 'FAIL'}: {c.name}: {c.detail}" for c in gate.checks],
        "",
        "## Skill by horizon",
        "",
        f"![skill]({SKILL_PNG})",
        "",
        f"## P10-P90 fan charts ({card.fan_horizon_min} min ahead)",
        "",
        f"![fan]({FAN_PNG})",
        "",
        "## Quantile reliability",
        "",
        f"![reliability]({RELIABILITY_PNG})",
        "",
        *(_reliability_table(card)),
        "",
        *_range_lines(manifest),
        f"## Metrics (daytime hold-out, zenith < {ZENITH_LIMIT:g} degrees)",
        "",
        *_metrics_table(rows),
        "",
        "## Known limits",
        "",
        *[f"- {n}" for n in card.notes],
        "",
    ]
    return "\n".join(lines)


def write_bundle(
    out_dir: str | Path,
    *,
    manifest: dict[str, Any],
    model_bytes: bytes,
    float_model_bytes: bytes,
    rows: Sequence[MetricRow],
    gate: GateResult,
    card: CardData,
    key_path: str | Path | None,
) -> Path:
    """Write and (with ``key_path``) sign a bundle directory.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing; existing bundle files are replaced.
    manifest : dict
        Everything but ``schema_version``, ``model.sha256/size_bytes``,
        ``files``, ``metrics`` and ``gate``, which are filled in here.
    model_bytes, float_model_bytes : bytes
        The int8 model and its float32 twin.
    rows : sequence of MetricRow
        Hold-out metrics.
    gate : GateResult
        The verdict; ``manifest["blessed"]`` must already be set.
    card : CardData
        Plot data and notes for the model card.
    key_path : str or Path or None
        Ed25519 private key; without it the bundle is left unsigned.

    Returns
    -------
    Path
        The bundle directory.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = dict(manifest)
    manifest["schema_version"] = SCHEMA_VERSION
    manifest["model"] = {**manifest.get("model", {}), "file": MODEL_FILE,
                         "sha256": sha256_hex(model_bytes), "size_bytes": len(model_bytes)}
    manifest["metrics"] = [r.to_dict() for r in rows]
    manifest["gate"] = gate.to_dict()
    (out / MODEL_FILE).write_bytes(model_bytes)
    (out / FLOAT_MODEL_FILE).write_bytes(float_model_bytes)
    _plot_skill(rows, out / SKILL_PNG)
    _plot_fan(card, out / FAN_PNG)
    _plot_reliability(card, out / RELIABILITY_PNG)
    (out / CARD_FILE).write_text(_card_text(manifest, rows, gate, card), encoding="utf-8")
    manifest["files"] = {
        name: sha256_hex((out / name).read_bytes())
        for name in (FLOAT_MODEL_FILE, CARD_FILE, SKILL_PNG, FAN_PNG, RELIABILITY_PNG)
    }
    (out / MANIFEST_FILE).write_bytes(manifest_bytes(manifest))
    (out / SIGNATURE_FILE).unlink(missing_ok=True)  # a stale signature would only mislead
    if key_path is not None:
        sign_bundle_dir(out, key_path)
    return out


def open_for_scoring(path: str | Path, public_key: str | Path | None
                     ) -> tuple[Bundle, list[str]]:
    """Open ANY bundle to score it, saying what the edge would refuse about it.

    Unlike :func:`edge.forecasting.bundle.load_bundle` (the device's
    check, which refuses all of these), an unsigned bundle, a signature
    that does not verify, a file whose hash differs from the manifest and
    an unblessed model are all opened; each is named in the returned
    notes. Only what makes scoring impossible raises: no manifest or
    model, or a feature spec this code cannot compute.

    Returns
    -------
    bundle : Bundle
    notes : list of str
        Empty for a signed, intact, blessed bundle.
    """
    where = str(path)
    files = read_bundle_files(path)
    if MANIFEST_FILE not in files or MODEL_FILE not in files:
        raise BundleError(f"bundle {where}: needs {MANIFEST_FILE} and {MODEL_FILE}")
    raw = files[MANIFEST_FILE]
    notes: list[str] = []
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"bundle {where}: manifest.json is not valid JSON ({exc})") from None
    if SIGNATURE_FILE not in files:
        notes.append("UNSIGNED: no manifest.sig (the edge refuses it)")
    elif public_key is None:
        notes.append("signature not checked: no public key")
    else:
        try:
            verify_manifest(raw, files[SIGNATURE_FILE], load_public_key(public_key), where)
        except BundleError as exc:
            notes.append(f"signature NOT verified ({exc}; the edge refuses it)")
    model = files[MODEL_FILE]
    listed = manifest.get("model", {}).get("sha256")
    if listed != sha256_hex(model):
        notes.append("model.tflite does not match the manifest's SHA-256 (the edge refuses it)")
    if not manifest.get("blessed", False):
        notes.append("UNBLESSED: it failed the validation gate (the edge refuses it)")
    check_feature_spec(manifest, where)
    float_model = files.get(FLOAT_MODEL_FILE)
    return Bundle(source=where, manifest=manifest, manifest_bytes=raw, model_bytes=model,
                  sha256=sha256_hex(model), float_model_bytes=float_model), notes

"""Device side of model rollout: verify, shadow, promote or roll back, on the device.

Responsible for: the ``helio/<site>/<gw>/cmd/model`` payloads (``install``
a signed bundle archive, ``rollback``); verifying a received bundle with
:func:`edge.forecasting.bundle.load_bundle` (archive SHA-256, Ed25519 signature over
the manifest, every file's hash, the validation gate's ``blessed`` flag,
the feature spec) and refusing anything else while the running model keeps
running; keeping received bundles and the previous model under
``<state_dir>/models`` (state in ``rollout.json``, so a restart keeps the
promoted model and a shadow in progress, unless the configured bundle
changed since: a deployment wins); running the candidate in
*shadow* (its forecasts are published with ``shadow: true`` and never
used) for ``shadow_s``; scoring both models on the device against the
measured PV power of each period (daytime, not curtailed); then promoting
the candidate if its live RMSE is no worse than the active model's (within
``tolerance``), else rolling back on its own. Every step is reported
through the ``report`` callback as an event and summarised by
:meth:`Rollout.status` for the status message.

Does NOT: talk MQTT (the agent's command table calls
:meth:`Rollout.handle_payload`; the agent publishes what
:meth:`Rollout.after_forecast` returns), or import TensorFlow.

A candidate must keep the running model's step and history length (the
agent computes one input history for both); a spec change goes through a
configuration change and ``reload_model`` instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.forecasting.bundle import (
    MAX_ARCHIVE_BYTES,
    Bundle,
    BundleError,
    load_bundle,
    load_public_key,
    read_archive_bytes,
    sha256_hex,
    verify_files,
)
from edge.forecasting.engine import ForecastEngine, ForecastResult, ModelHolder, PredictorLike
from edge.forecasting.site import Site
from edge.runtime.config import RolloutConfig
from edge.runtime.inbound import CommandError
from edge.runtime.signed_commands import CommandVerifier
from edge.runtime.statefile import CorruptStateError, read_state, write_private
from firmware_bridge.clock import Clock

__all__ = ["PAYLOAD_SCHEMA", "LiveScore", "Rollout"]

#: ``schema_version`` of cmd/model payloads this code understands
PAYLOAD_SCHEMA = 1
#: Largest ``cmd/model`` payload looked at (a bundle archive in base64 and its manifest). [bytes]
MAX_PAYLOAD_BYTES = 4 * MAX_ARCHIVE_BYTES // 3 + 1024 * 1024
_STATE_FILE = "rollout.json"
_LEDGER_FILE = "commands.json"

Report = Callable[..., None]


@dataclass(slots=True)
class LiveScore:
    """Paired squared errors of the active and the shadow model's P50 PV power.

    Forecasts are remembered by period end and horizon; when the measured
    mean PV power of a period arrives, every horizon that both models
    forecast for it adds one pair. [W]
    """

    pairs: int = 0
    sse_active: float = 0.0
    sse_shadow: float = 0.0
    pending: dict[int, dict[int, list[float]]] = field(default_factory=dict)

    def add_forecasts(self, active: ForecastResult, shadow: ForecastResult) -> None:
        """Remember the P50 PV power of both forecasts issued at the same time."""
        issue = int(active.issue_time.timestamp())
        sh = dict(zip(shadow.horizons_min, shadow.quantiles["pv_power"], strict=True))
        for h, q in zip(active.horizons_min, active.quantiles["pv_power"], strict=True):
            if h in sh:
                self.pending.setdefault(issue + 60 * h, {})[h] = [float(q[1]), float(sh[h][1])]

    def add_actual(self, period_end: int, pv: float, usable: bool) -> None:
        """Score the forecasts for the period ending at ``period_end``. [s], [W]"""
        due = self.pending.pop(period_end, {})
        for end in [e for e in self.pending if e < period_end]:
            del self.pending[end]
        if not usable or not math.isfinite(pv):
            return
        for a, s in due.values():
            if pv <= 0.0 and a <= 0.0 and s <= 0.0:
                continue  # night: nothing to learn
            self.pairs += 1
            self.sse_active += (a - pv) ** 2
            self.sse_shadow += (s - pv) ** 2

    @property
    def rmse_active(self) -> float:
        """[W]"""
        return math.sqrt(self.sse_active / self.pairs) if self.pairs else math.nan

    @property
    def rmse_shadow(self) -> float:
        """[W]"""
        return math.sqrt(self.sse_shadow / self.pairs) if self.pairs else math.nan


class Rollout:
    """The model lifecycle on one device.

    Parameters
    ----------
    holder : ModelHolder
        The running model (swapped on promotion and rollback).
    site : Site
        For the shadow model's forecast engine.
    public_key : str, Path or bytes
        Ed25519 public key every bundle must be signed with.
    models_dir : str or Path
        Received bundles and ``rollout.json`` (created).
    config : RolloutConfig
        Shadow period, evidence and tolerance.
    clock : Clock
        Shadow timing (simulated time in accelerated tests).
    make_predictor : callable
        ``Bundle -> Predictor``.
    allow_unblessed : bool
        Accept bundles that failed the validation gate (development only).
    device_id : str
        This gateway's id: a command must be signed for this site and gateway.
    """

    def __init__(
        self,
        *,
        holder: ModelHolder,
        site: Site,
        public_key: str | Path | bytes,
        models_dir: str | Path,
        config: RolloutConfig,
        clock: Clock,
        make_predictor: Callable[[Bundle], PredictorLike],
        allow_unblessed: bool = False,
        device_id: str = "gateway",
    ) -> None:
        self.holder = holder
        self.site = site
        self.key = load_public_key(public_key)
        self.dir = Path(models_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.clock = clock
        self.verifier = CommandVerifier(self.key, site_id=site.site.id, device_id=device_id,
                                        ledger=self.dir / _LEDGER_FILE,
                                        now=clock.now_utc().timestamp())
        self.make_predictor = make_predictor
        self.allow_unblessed = allow_unblessed
        self.report: Report = lambda *a, **k: None
        self.on_change: Callable[[], None] = lambda: None
        self.active_path = holder.bundle.source
        self.configured_sha = holder.sha256  # the bundle the config file names
        self.previous_path: str | None = None
        self.candidate: Bundle | None = None
        self.candidate_path: str | None = None
        self.shadow_since = 0.0
        # the shadow period is a duration: counted on the monotonic clock (a wall clock
        # stepped by NTP after boot must not end or stretch it), carried over restarts
        self._elapsed_base = 0.0
        self._mono_start = 0.0
        self.score = LiveScore()
        self.last_outcome = ""
        self._engine: ForecastEngine | None = None

    # ------------------------------------------------------------- wiring

    def bind(self, *, report: Report, on_change: Callable[[], None]) -> None:
        """Connect to the agent (``report(level, code, message, **data)``) and restore state."""
        self.report, self.on_change = report, on_change
        for exc in self.verifier.recoveries:
            self.report("error", "state_recovered",
                        "rollout ledger copy unreadable, moved aside"
                        + ("; commands issued before now are refused (re-issue them)"
                           if self.verifier.lost else "; the other copy was used"),
                        file=exc.path, moved_to=exc.moved_to, error=exc.error,
                        not_before=self.verifier.not_before)
        self.restore()

    def _now(self) -> float:
        return self.clock.now_utc().timestamp()

    def _load(self, path: str) -> Bundle:
        return load_bundle(path, self.key, allow_unblessed=self.allow_unblessed)

    def _save(self) -> None:
        state = {"configured_sha256": self.configured_sha,
                 "active": self.active_path, "previous": self.previous_path,
                 "candidate": self.candidate_path, "shadow_since": self.shadow_since,
                 "shadow_elapsed_s": self.shadow_elapsed(),
                 "pairs": self.score.pairs, "sse_active": self.score.sse_active,
                 "sse_shadow": self.score.sse_shadow, "last_outcome": self.last_outcome}
        write_private(self.dir / _STATE_FILE, json.dumps(state, indent=1).encode())
        keep = {self.active_path, self.previous_path, self.candidate_path}
        for old in self.dir.glob("bundle-*.tar.gz"):
            if str(old) not in keep:
                old.unlink(missing_ok=True)

    def restore(self) -> None:
        """Run the model promoted before a restart, and resume a shadow in progress."""
        path = self.dir / _STATE_FILE
        try:
            state = read_state(path)
        except CorruptStateError as exc:
            self.report("error", "state_recovered",
                        f"rollout state unreadable, moved aside; running {self.holder.version}",
                        file=exc.path, moved_to=exc.moved_to, error=exc.error)
            return
        if state is None:
            return
        try:
            if state.get("configured_sha256") != self.configured_sha:
                # a new bundle was configured (deployed) since: it wins over old rollouts
                self.report("info", "rollout_state_reset",
                            f"configured model changed; running {self.holder.version}")
                path.unlink()
                return
            active = state.get("active")
            if active and active != self.holder.bundle.source:
                self.holder.swap(self._load(active))
                self.active_path = active
            self.previous_path = state.get("previous")
            self.last_outcome = str(state.get("last_outcome", ""))
            if state.get("candidate"):
                since = float(state.get("shadow_since", self._now()))
                self._start_shadow(self._load(state["candidate"]), state["candidate"],
                                   since=since,
                                   elapsed=float(state.get("shadow_elapsed_s",
                                                           max(self._now() - since, 0.0))))
                self.score.pairs = int(state.get("pairs", 0))
                self.score.sse_active = float(state.get("sse_active", 0.0))
                self.score.sse_shadow = float(state.get("sse_shadow", 0.0))
        except (BundleError, OSError, ValueError, KeyError, TypeError) as exc:
            self.report("warning", "rollout_state_ignored",
                        f"rollout state not restored, running {self.holder.version}: {exc}")

    # ------------------------------------------------------------ commands

    def handle_payload(self, payload: bytes) -> Mapping[str, Any]:
        """Handle one ``cmd/model`` message; raises ``CommandError`` when refused.

        Cheap checks come first and nothing is inflated, decoded or written
        before the command's signature verifies (see
        :class:`edge.runtime.signed_commands.CommandVerifier`): size cap, JSON,
        schema, signature, site and gateway, issue and expiry times, a
        rollout id never accepted before.
        """
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise CommandError(f"model command of {len(payload)} bytes is over"
                               f" {MAX_PAYLOAD_BYTES}")
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"model command is not JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("schema_version") != PAYLOAD_SCHEMA:
            raise CommandError(f"model command needs schema_version {PAYLOAD_SCHEMA}")
        command = body.get("command")
        if command not in ("install", "rollback"):
            raise CommandError(f"unknown model command {str(command)[:32]!r} (install, rollback)")
        rollout_id = self.verifier.verify(body, now=self._now())
        if command == "install":
            return {"rollout_id": rollout_id, **self.install(body)}
        return {"rollout_id": rollout_id,
                **self.rollback(reason=f"forced by operator (rollout {rollout_id})")}

    def _refuse(self, why: str, **data: Any) -> CommandError:
        msg = f"bundle refused, keeping {self.holder.version}: {why}"
        self.report("error", "model_refused", msg, running=self.holder.version, **data)
        return CommandError(msg)

    def install(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Verify a bundle archive and start shadowing it (the running model stays).

        ``body`` has passed :meth:`CommandVerifier.verify`, so its
        ``archive_sha256`` is authentic: the archive is hashed before it is
        inflated (streamed, with hard caps), verified in memory, and only
        then written to the state directory. A bundle created before the
        running one is a downgrade and needs the signed ``downgrade: true``.
        """
        text = body.get("archive_b64", "")
        if not isinstance(text, str) or len(text) > 4 * MAX_ARCHIVE_BYTES // 3 + 4:
            raise self._refuse("archive_b64 missing or over the size cap")
        try:
            archive = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise self._refuse("archive_b64 is not base64") from None
        digest = sha256_hex(archive)
        if not archive or digest != body.get("archive_sha256"):
            raise self._refuse("archive SHA-256 does not match archive_sha256 (corrupted)")
        path = self.dir / f"bundle-{digest[:16]}.tar.gz"
        try:
            bundle = verify_files(read_archive_bytes(archive, str(path)), self.key, str(path),
                                  allow_unblessed=self.allow_unblessed)
        except BundleError as exc:
            raise self._refuse(str(exc)) from None
        spec, cur = bundle.manifest["features"], self.holder.spec
        if (int(bundle.manifest["step_minutes"]) != cur.step_minutes
                or int(spec.get("history_steps", -1)) != cur.history_steps):
            raise self._refuse("step or history length differs from the running model's")
        if bundle.sha256 == self.holder.sha256:
            return {"version": bundle.version, "note": "already running"}
        if _created(bundle) < _created(self.holder.bundle) and body.get("downgrade") is not True:
            raise self._refuse(f"{bundle.version} is older than the running "
                               f"{self.holder.version} (a downgrade needs a signed"
                               " downgrade: true)")
        write_private(path, archive)
        self.report("info", "model_received", f"bundle {bundle.version} verified",
                    version=bundle.version, sha256=bundle.sha256)
        self._start_shadow(bundle, str(path), since=self._now())
        self._save()
        return {"version": bundle.version, "sha256": bundle.sha256, "state": "shadow"}

    def reload_configured(self, load: Callable[[], Bundle]) -> Mapping[str, Any]:
        """``reload_model``: run the configured bundle again, unless that undoes a rollout.

        When the configured bundle is the one this device started with and a
        rollout has since promoted another, reloading would quietly undo the
        promotion: refused. While a candidate runs in shadow it is refused too:
        ``reload_model`` is not signed, so it must not end a signed rollout.
        A bundle deployed since (another SHA-256) wins, as on a restart, and
        resets the rollout state.
        """
        if self.candidate is not None:
            # reload_model is not signed: whoever can write cmd must not end a signed rollout
            raise CommandError(
                f"reload refused: rollout of {self.candidate.version} in progress (shadow); "
                "end it with a signed rollback or wait for its outcome")
        bundle = load()
        if bundle.sha256 == self.configured_sha and self.active_path != bundle.source:
            raise CommandError(
                f"reload refused: {self.holder.version} was promoted by a rollout and the "
                "configured bundle is unchanged (use a signed rollback to go back)")
        old = self.holder.version
        self.holder.swap(bundle)
        self.configured_sha, self.active_path, self.previous_path = (
            bundle.sha256, bundle.source, None)
        self._save()
        return {"old_version": old, "version": bundle.version, "sha256": bundle.sha256}

    def _start_shadow(self, bundle: Bundle, path: str, *, since: float,
                      elapsed: float = 0.0) -> None:
        holder = ModelHolder(lambda: bundle, self.make_predictor)
        self._engine = ForecastEngine(self.site, holder)
        self.candidate, self.candidate_path, self.shadow_since = bundle, path, since
        self._elapsed_base, self._mono_start = elapsed, self.clock.monotonic()
        self.score = LiveScore()
        self.report("info", "model_shadow_started",
                    f"{bundle.version} runs in shadow for {self.config.shadow_s:.0f} s",
                    version=bundle.version, sha256=bundle.sha256, shadow_s=self.config.shadow_s)

    def rollback(self, *, reason: str) -> Mapping[str, Any]:
        """Drop the candidate in shadow, or else go back to the previous model."""
        if self.candidate is not None:
            dropped = self.candidate
            self._end_shadow(f"rolled back: {reason}")
            self.report("warning", "model_rolled_back",
                        f"shadow model {dropped.version} dropped ({reason}); "
                        f"keeping {self.holder.version}", version=dropped.version,
                        kept=self.holder.version, reason=reason)
            return {"dropped": dropped.version, "running": self.holder.version}
        if not self.previous_path:
            raise CommandError(f"no previous model to roll back to; running {self.holder.version}")
        try:
            previous = self._load(self.previous_path)
        except BundleError as exc:
            raise CommandError(f"previous model unusable, keeping {self.holder.version}: {exc}"
                               ) from None
        old = self.holder.version
        self.holder.swap(previous)
        self.active_path, self.previous_path = self.previous_path, self.active_path
        self.last_outcome = f"rolled back to {previous.version}: {reason}"
        self._save()
        self.on_change()
        self.report("warning", "model_rolled_back", f"{old} -> {previous.version} ({reason})",
                    old=old, version=previous.version, reason=reason)
        return {"old_version": old, "version": previous.version}

    def _end_shadow(self, outcome: str) -> None:
        self.candidate = self.candidate_path = self._engine = None
        self.last_outcome = outcome
        self._save()

    # ---------------------------------------------------------- the shadow

    def after_forecast(
        self, active: ForecastResult, ghi: list[float], *, pv: float, curtailed: bool,
        temp_air: float = math.nan,
    ) -> ForecastResult | None:
        """Per issue time: score the period just measured, forecast in shadow, decide.

        Parameters
        ----------
        active : ForecastResult
            The running model's forecast at this issue time.
        ghi : list of float
            The input history given to the running model. [W/m²]
        pv : float
            Measured mean PV power of the period ending at the issue time. [W]
        curtailed : bool
            The charger limited PV in that period (not a fair actual).
        temp_air : float
            Air temperature, NaN if unknown. [°C]

        Returns
        -------
        ForecastResult or None
            The shadow forecast to publish with ``shadow: true``.
        """
        issue = int(active.issue_time.timestamp())
        self.score.add_actual(issue, pv, not curtailed)
        self.decide()
        if self.candidate is None or self._engine is None:
            return None
        shadow = self._engine.forecast(issue, ghi, inputs_stale=active.inputs_stale,
                                       temp_air=temp_air)
        self.score.add_forecasts(active, shadow)
        self._save()  # the time served and the score survive a restart
        return shadow

    def shadow_elapsed(self) -> float:
        """How long the candidate has been in shadow, on the monotonic clock. [s]"""
        if self.candidate is None:
            return 0.0
        return self._elapsed_base + max(self.clock.monotonic() - self._mono_start, 0.0)

    def decide(self) -> str | None:
        """Promote or roll back once the shadow period is over; returns the outcome."""
        if self.candidate is None:
            return None
        cfg, s = self.config, self.score
        elapsed = self.shadow_elapsed()
        if elapsed < cfg.shadow_s:
            return None
        if s.pairs < cfg.min_pairs:
            if elapsed < cfg.max_shadow_s:
                return None
            self.rollback(reason=f"only {s.pairs} scored periods in {elapsed:.0f} s")
            return "rolled_back"
        data = {"pairs": s.pairs, "rmse_active": s.rmse_active, "rmse_shadow": s.rmse_shadow}
        if s.rmse_shadow <= s.rmse_active * (1.0 + cfg.tolerance):
            self._promote(data)
            return "promoted"
        self.rollback(reason=f"live RMSE {s.rmse_shadow:.1f} W worse than the running "
                      f"model's {s.rmse_active:.1f} W")
        return "rolled_back"

    def _promote(self, data: Mapping[str, Any]) -> None:
        assert self.candidate is not None and self.candidate_path is not None
        new, old = self.candidate, self.holder.version
        self.holder.swap(new)
        self.previous_path, self.active_path = self.active_path, self.candidate_path
        self._end_shadow(f"promoted {new.version}")
        self.on_change()
        self.report("info", "model_promoted", f"{old} -> {new.version} after shadow",
                    old=old, version=new.version, sha256=new.sha256, **data)

    def status(self) -> dict[str, Any]:
        """Summary for the status message (``rollout`` key)."""
        out: dict[str, Any] = {"state": "shadow" if self.candidate else "idle",
                               "last": self.last_outcome}
        if self.candidate is not None:
            out.update(candidate={"version": self.candidate.version,
                                  "sha256": self.candidate.sha256},
                       shadow_for_s=round(self.shadow_elapsed(), 1),
                       pairs=self.score.pairs)
        return out


def _created(bundle: Bundle) -> str:
    """The manifest's ``created`` time (ISO 8601 UTC text sorts in time order)."""
    return str(bundle.manifest.get("created", ""))



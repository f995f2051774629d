"""A real Home Assistant for the tests: start ``hass`` from its own venv, onboard the
owner, add the MQTT integration, and read entities through the REST API.

Only the REST API is used (urllib): onboarding (``/api/onboarding/users``, then
``/auth/token``), config flows (``/api/config/config_entries/flow``), states
(``/api/states``) and templates (``/api/template``, for the device registry via
``device_attr``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "tests/homeassistant/setup_ha.sh"

CONFIGURATION = """\
homeassistant:
  name: Helio test
  latitude: 9.0765
  longitude: 7.3986
  elevation: 476
  unit_system: metric
  time_zone: Africa/Lagos
  country: NG
  currency: NGN
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
  logs:
    homeassistant.components.mqtt: info
"""


def ha_venv() -> Path | None:
    """The Home Assistant venv (made by setup_ha.sh), or None when it cannot be made."""
    env = {**os.environ}
    try:
        out = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, env=env,
                             timeout=900, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"setup_ha.sh failed: {getattr(exc, 'stderr', exc)}") from None
    venv = Path(out.stdout.strip().splitlines()[-1])
    return venv if (venv / "bin/hass").exists() else None


@dataclass
class HomeAssistant:
    """One ``hass -c <dir>`` process on a loopback port."""

    venv: Path
    config_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    token: str = ""
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.config_dir / "hass-stdout.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240.0) -> None:
        """Write the configuration, start hass and wait for its HTTP server."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(
            CONFIGURATION.format(port=self.port))
        log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [str(self.venv / "bin/hass"), "-c", str(self.config_dir), "--skip-pip",
             "--log-no-color"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hass exited {self.proc.returncode}: {self.tail()}")
            try:
                code, _ = self.request("GET", "/api/onboarding", auth=False)
                if code == 200:
                    return
            except OSError:
                pass
            time.sleep(1.0)
        raise TimeoutError(f"hass did not answer on {self.url} within {timeout} s: "
                           f"{self.tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n: int = 4000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-n:]

    # ---------------------------------------------------------------- REST

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                form: dict[str, str] | None = None) -> tuple[int, Any]:
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                code = r.status
        except urllib.error.HTTPError as e:
            raw, code = e.read(), e.code
        try:
            return code, json.loads(raw) if raw else None
        except ValueError:
            return code, raw.decode(errors="replace")

    def onboard(self) -> None:
        """Create the owner through onboarding and get an access token."""
        client_id = self.url + "/"
        code, body = self.request("POST", "/api/onboarding/users", {
            "client_id": client_id, "name": "Helio Test", "username": "helio",
            "password": "helio-test-password", "language": "en"}, auth=False)
        if code != 200:
            raise RuntimeError(f"onboarding refused: {code} {body}")
        code, tok = self.request("POST", "/auth/token", auth=False, form={
            "grant_type": "authorization_code", "code": body["auth_code"],
            "client_id": client_id})
        if code != 200:
            raise RuntimeError(f"token refused: {code} {tok}")
        self.token = tok["access_token"]

    def add_mqtt(self, host: str, port: int) -> dict[str, Any]:
        """Add the MQTT integration (config flow) pointed at ``host:port``."""
        code, flow = self.request("POST", "/api/config/config_entries/flow",
                                  {"handler": "mqtt", "show_advanced_options": False})
        if code != 200:
            raise RuntimeError(f"mqtt flow refused: {code} {flow}")
        for _ in range(4):
            if flow.get("type") == "create_entry":
                return dict(flow)
            if flow.get("type") == "menu":
                step = {"next_step_id": "broker"}
            else:
                step = {"broker": host, "port": port}
            code, flow = self.request("POST", f"/api/config/config_entries/flow/{flow['flow_id']}",
                                      step)
            if code != 200:
                raise RuntimeError(f"mqtt flow step refused: {code} {flow}")
        raise RuntimeError(f"mqtt flow did not finish: {flow}")

    def states(self) -> dict[str, dict[str, Any]]:
        code, body = self.request("GET", "/api/states")
        if code != 200:
            raise RuntimeError(f"states: {code} {body}")
        return {s["entity_id"]: s for s in body}

    def template(self, text: str) -> str:
        code, body = self.request("POST", "/api/template", {"template": text})
        if code != 200:
            raise RuntimeError(f"template: {code} {body}")
        return str(body)

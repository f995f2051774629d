#!/usr/bin/env bash
# Create (or reuse) the Python 3.13 virtualenv with Home Assistant that the opt-in
# `homeassistant` tests run (tests/homeassistant/). It lives outside the repository:
#   HELIO_HA_VENV (default: ${XDG_CACHE_HOME:-$HOME/.cache}/helio-edge/ha-<version>)
# A stamp file marks a complete install, so a second run costs nothing.
# Prints the venv's path on stdout; exit status 0 when `hass` is usable.
set -euo pipefail

HA_VERSION="${HELIO_HA_VERSION:-2025.4.4}"
# what the integrations the test loads would otherwise try to pip-install at start-up
# (mqtt pins paho-mqtt, frontend its build, auth PyQRCode and pyotp; the test starts hass with
# --skip-pip so it never reaches for the network)
EXTRA="paho-mqtt==2.1.0 home-assistant-frontend==20250411.0 PyQRCode==1.2.1 pyotp==2.8.0"
VENV="${HELIO_HA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/helio-edge/ha-${HA_VERSION}}"
STAMP="$VENV/.helio-ha-${HA_VERSION}-$(echo "$EXTRA" | tr ' =' '_-')"

if [ -f "$STAMP" ] && [ -x "$VENV/bin/hass" ]; then
  echo "$VENV"
  exit 0
fi
if [ -x "$VENV/bin/hass" ] && "$VENV/bin/python" -c "import homeassistant.const as c; \
    assert c.__version__ == '${HA_VERSION}'" 2>/dev/null; then
  # Home Assistant is there (an older stamp): add what is missing
  "$VENV/bin/python" -m pip install --quiet $EXTRA >&2
  touch "$STAMP"
  echo "$VENV"
  exit 0
fi

# Home Assistant 2025.4 needs Python 3.13: PATH first, then pyenv's versions.
PY=""
for cand in "${HELIO_HA_PYTHON:-}" python3.13 /usr/bin/python3.13 \
            "$HOME"/.pyenv/versions/3.13*/bin/python3.13; do
  [ -n "$cand" ] || continue
  if "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
    PY="$cand"
    break
  fi
done
if [ -z "$PY" ]; then
  echo "setup_ha.sh: no Python 3.13 found (set HELIO_HA_PYTHON)" >&2
  exit 1
fi

mkdir -p "$(dirname "$VENV")"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet "homeassistant==${HA_VERSION}" $EXTRA >&2
touch "$STAMP"
echo "$VENV"

# Helio Edge. Every target works on a fresh machine: it builds what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LEGACY_VENV ?= .venv-legacy
LEGACY_PY := $(LEGACY_VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
LEGACY_STAMP := $(LEGACY_VENV)/.installed-stamp
PYTEST_ARGS ?=

# deploy-to-device parameters
DEVICE ?=
SITE ?= configs/sites/abuja.toml
BUNDLE ?=
ARCH ?= aarch64
CREDENTIALS ?=
DEPLOY_ARGS ?=

.PHONY: help venv test test-unit test-fast test-edge-legacy test-aarch64 lint bench demo model deploy-to-device clean

help:
	@echo "make demo              simulated charger + inverter, local broker, agent, live view"
	@echo "make test              the whole test suite (creates $(VENV) if missing)"
	@echo "make test-unit         pure tests only: no broker, pty, TFLite, TensorFlow, sshd, browser, slow (under 1 min)"
	@echo "make test-fast         every test not marked slow (under 2 min)"
	@echo "make test-edge-legacy  edge + bridge tests on tflite-runtime 2.14 / numpy<2"
	@echo "make test-aarch64      deploy the aarch64 release into Debian arm64 under QEMU and run it (root; .ci/aarch64/README.md)"
	@echo "make lint              ruff + mypy"
	@echo "make bench             benchmarks (figures printed)"
	@echo "make model             rebuild the shipped Abuja model bundle"
	@echo "make deploy-to-device DEVICE=user@host [SITE=...] [BUNDLE=...] [ARCH=aarch64|armv7l] [CREDENTIALS=file] [DEPLOY_ARGS='--dry-run ...']"

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[edge,trainer,dev,deploy,demo]'
	touch $(STAMP)

venv: $(STAMP)

$(LEGACY_STAMP): setup.py pyproject.toml
	test -x $(LEGACY_PY) || $(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_PY) -m pip install --quiet --upgrade pip
	$(LEGACY_PY) -m pip install --quiet -e '.[edge-legacy,dev,deploy]'
	touch $(LEGACY_STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The pure tests: no real component (broker, pty, TFLite, TensorFlow, sshd, browser, Home
# Assistant) and nothing slow. tests/conftest.py marks tests by the fixtures they use.
UNIT_MARKERS := not (broker or pty or tflite or tensorflow or sshd or browser or homeassistant or slow)

test-unit: $(STAMP)
	$(PY) -m pytest -m "$(UNIT_MARKERS)" $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# What runs on the device, in a second environment: tflite-runtime 2.14 with numpy<2, no
# TensorFlow (the laptop-side deploy tooling and demo are tested by make test).
test-edge-legacy: $(LEGACY_STAMP)
	$(LEGACY_PY) -m pytest tests/firmware_bridge tests/edge --ignore=tests/edge/deploy \
	  --ignore=tests/edge/demo $(PYTEST_ARGS)

# The release on the Pi's architecture: deployed into a cached Debian bookworm arm64 root
# filesystem and run under user-mode QEMU (Pi 4 CPU). Root only; skips with a warning where
# binfmt_misc is unavailable. HELIO_AARCH64_PASSES="pi4 pi5 pi3" adds the Pi 5 and Pi 3 passes. See .ci/aarch64/README.md.
test-aarch64: $(STAMP)
	.ci/aarch64/run.sh $(PY)

lint: $(STAMP)
	$(VENV)/bin/ruff check firmware_bridge edge trainer tests bench .ci
	$(VENV)/bin/mypy firmware_bridge edge trainer

bench: $(STAMP)
	@# the comparison peers, without their dependencies: mppsolar pins paho-mqtt<2
	$(PY) -m pip install --quiet --no-deps vedirect==1.1.0 mppsolar==0.16.56 \
	  || echo "comparison peers not installed; their columns will be empty"
	$(PY) -m bench

demo: $(STAMP)
	$(PY) -m edge.demo

model: $(STAMP)
	$(PY) -m trainer.cli model-default

deploy-to-device: $(STAMP)
	@test -n "$(DEVICE)" || { echo "usage: make deploy-to-device DEVICE=user@host [SITE=...] [BUNDLE=...]" >&2; exit 2; }
	$(VENV)/bin/helio-edge deploy --device '$(DEVICE)' --site '$(SITE)' $(if $(BUNDLE),--bundle '$(BUNDLE)') --arch '$(ARCH)' $(if $(CREDENTIALS),--credentials '$(CREDENTIALS)') $(DEPLOY_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

"""Helio Edge: solar forecasting and telemetry at the edge of off-grid systems."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "helio-bridge": ("firmware_bridge", "firmware_bridge.cli:main"),
    "helio-edge": ("edge", "edge.cli:main"),
    "helio-train": ("trainer", "trainer.cli:main"),
    "helio-monitor": ("trainer", "trainer.monitor.cli:main"),
}

# What runs on the device: no pvlib, pandas or SciPy (edge.forecasting.sun and
# edge.forecasting.pvmodel are numpy; tests/test_architecture.py holds the agent to it).
EDGE = [
    "paho-mqtt>=2.1,<3",
    "cryptography>=41",
    # 64-bit Pis and x86: LiteRT. 32-bit Pis (armv7l): tflite-runtime needs numpy<2.
    "ai-edge-litert>=2.3; platform_machine!='armv7l'",
    "tflite-runtime==2.14.0; platform_machine=='armv7l'",
    "numpy<2; platform_machine=='armv7l'",
]

setup(
    name="helio-edge",
    version="0.1.0",
    description="Edge telemetry and int8 solar forecasting for off-grid and hybrid PV systems",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["firmware_bridge*", "edge*", "trainer*"]),
    package_data={
        "firmware_bridge": ["py.typed", "protocols/maps/*.toml"],  # the Modbus register maps
        "edge": ["py.typed", "data/*", "data/**/*"],
        # the dashboard's pages, scripts and styles: served as they are, nothing from a CDN
        "trainer": ["py.typed", "monitor/dashboard/static/*"],
    },
    include_package_data=True,
    install_requires=[
        "numpy>=1.24",
        "pyserial>=3.5",
        "pymodbus>=3.8,<4",
        "packaging>=23",  # helio-edge deploy evaluates the Pi's environment markers
    ],
    extras_require={
        "edge": EDGE,
        # The legacy 32-bit runtime, installable on x86 too (CI's second environment).
        "edge-legacy": [d for d in EDGE if "litert" not in d and "armv7l" not in d]
        + ["tflite-runtime==2.14.0", "numpy<2",
           "pvlib>=0.11"],  # the edge tests drive the site simulation (edge/simulation)
        "trainer": EDGE
        + [
            "tensorflow-cpu>=2.16; platform_machine=='x86_64'",
            "tensorflow>=2.16; platform_machine!='x86_64'",
            "pandas>=2",
            # weather-file readers, QC, the Linke climatology and the solar parity test
            "pvlib>=0.11",
            "scipy>=1.10",  # helio-monitor's drift check (was pulled in by pvlib)
            "matplotlib>=3.7",
            "prometheus-client>=0.20",  # helio-monitor serve: /metrics
        ],
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.2",
            "hypothesis>=6",
            "ruff>=0.6",
            "mypy>=1.10",
            "selenium>=4.20",  # dashboard tests drive Debian's chromium through chromedriver
        ],
        # helio-edge deploy (laptop side): writes the device's agent config
        "deploy": ["tomli-w>=1.0"],
        # make demo's fallback broker when mosquitto is not installed
        "demo": ["amqtt>=0.11", "pvlib>=0.11"],  # the site simulation (edge/simulation)
        # Comparison peers for `make bench`. mppsolar 0.16.56 pins paho-mqtt<2, which
        # would break the agent, so the Makefile installs it with --no-deps instead.
        "bench": ["vedirect==1.1.0"],
    },
    # the device wheel is built from a copy without trainer/ (edge.deploy.build):
    # it gets only the scripts whose package it carries
    entry_points={
        "console_scripts": [
            f"{name}={target}" for name, (pkg, target) in SCRIPTS.items() if (HERE / pkg).is_dir()
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Operating System :: POSIX :: Linux",
        "Topic :: Scientific/Engineering",
    ],
)

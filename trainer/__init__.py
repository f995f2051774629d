"""trainer: the cloud side.

Holds: weather and telemetry readers and QC (``data``, ``qc``), loading
data for a fit (``loading``), data sets and their splits (``dataset``),
training (``model``; ``blend``: the per-horizon choice between network,
ridge model and smart persistence; ``fit`` orchestrates), int8
quantization (``quantize``), scoring through the edge interpreter
(``scoring``), the validation gate (``validate``), provenance
(``provenance``), signed bundles
(``bundle``; ``bundle_signing``: Ed25519 keys and manifest signatures),
publishing bundles and signed rollout commands over MQTT (``publishing``;
``broker_options``: the broker options of its commands), synthetic data
(``synth``), the ``helio-train`` commands and the fleet monitor (``monitor``).
It imports the edge's feature, physics and contract code so training and
serving cannot drift apart.

Must not import: nothing above it; it is the top layer (it may import
``edge`` and ``firmware_bridge``).
"""

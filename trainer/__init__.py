"""trainer: the cloud side.

Holds: weather and telemetry readers and QC (``data``, ``qc``), data sets
(``dataset``), training (``model``, ``fit``), int8 quantization
(``quantize``), the validation gate (``validate``), signed bundles
(``bundle``, ``signing``), rollout commands (``rollout``), synthetic data
(``synth``), the ``helio-train`` commands and the fleet monitor (``monitor``).
It imports the edge's feature, physics and contract code so training and
serving cannot drift apart.

Must not import: nothing above it; it is the top layer (it may import
``edge`` and ``firmware_bridge``).
"""

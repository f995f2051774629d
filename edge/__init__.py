"""edge: the agent on the Pi, and the laptop-side tools around it.

Holds, one room each: ``forecasting`` (the site schema, features, PV model
chain, bundles, int8 predictor: shared with the trainer), ``runtime`` (what
runs on the Pi: agent, outbox, MQTT publisher and contract, discovery,
rollout), ``commands`` (``helio-edge``), ``deploy`` (laptop side of ``make
deploy-to-device``), ``simulation`` (the physical model of a site),
``demo`` (``make demo``) and ``testkit`` (fakes and launchers shared by
the tests, bench, demo and CI). The device wheel carries ``forecasting``,
``runtime`` and ``commands`` only.

Must not import: ``trainer``, TensorFlow (the model runs on ai-edge-litert,
or tflite-runtime on 32-bit Raspberry Pis).
"""

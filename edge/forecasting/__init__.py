"""Forecasting core shared by the device and the trainer.

Holds: the site schema (``site``), solar geometry (``solar``), the feature
code (``features``), the PV model chain and forecast post-processing
(``forecast``), the reference science every scorer shares (``reference``:
clear-sky PV, smart persistence, daytime; its numbers in ``limits``), the
energy outlook (``energy``), signed model bundles (``bundle``), the int8 interpreter
(``predictor``) and the model holder the agent uses (``engine``). The trainer
imports these so that training and serving cannot drift apart.

Must not import: ``trainer``, TensorFlow, ``edge.runtime``, ``edge.deploy``,
``edge.demo``, ``edge.simulation``. Runs on the Pi.
"""

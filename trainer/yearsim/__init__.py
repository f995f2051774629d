"""``helio-train simulate-year``: the device's planner over a simulated year.

Holds: ``scenario`` (the truth from the project's site model: sky, plant,
battery, household load, optional grid; and the measurement channel),
``policy`` (the hook a control policy acts through; only ``none``),
``naive`` (yesterday repeated, the baseline plan), ``runner`` (the 15-min
loop: measurements -> the shipped bundle and the planner -> records) and
``report`` (plan accuracy: metrics, the text table, JSON).

Must not import: ``edge.runtime``, ``edge.deploy``, ``edge.demo`` (it runs
the device's forecasting and planning code directly, not the agent), or
TensorFlow (the bundle runs through the edge interpreter).
"""

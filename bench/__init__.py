"""Benchmarks: ``make bench`` runs every ``bench/bench_*.py`` module's ``main()``.

Figures are printed, never asserted: tests check correctness, benchmarks
measure speed and memory.
"""

"""Helpers for the tests and benchmarks of tunebench and of its plugins.

Nothing in tunebench's own layers imports this package: it builds inputs with known answers (such
as a results store of synthetic trials, :mod:`tunebench.testing.synthetic_store`) so that reports,
the store and plugins can be checked and timed without running a suite.
"""

"""Runners: one adapter per HPO library algorithm behind one ask/tell interface."""

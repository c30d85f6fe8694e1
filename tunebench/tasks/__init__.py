"""Tasks: pure functions of (configuration, fidelity, seed) to a result."""

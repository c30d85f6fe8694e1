"""The harness: suite files, seeds, budgets, the study loop, executors and the results store."""

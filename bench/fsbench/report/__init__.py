"""What the benchmark makes of its measurements: derived figures, notes and the printed
report; the JSON is written by `fsbench.record`."""

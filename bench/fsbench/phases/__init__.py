"""The phases of the benchmark, each a function of a `Bench`.

Every phase pairs each gateway path with the same load sent straight to the upstream, so
that the report can subtract one from the other within the same run.
"""

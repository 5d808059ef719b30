"""The failsoft benchmark, one job per module; `bench/run.py` is the entry point.

A package rather than loose sibling modules so that generic module names (`report`,
`timer`, `pool`) cannot shadow installed ones when `bench/` is the script directory.
"""

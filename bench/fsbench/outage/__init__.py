"""The outage benchmark (`bench/outage.py`): a fixed-rate run through the gateway while the
simulator's primary model is overloaded for a while, measuring what the callers saw, what
the gateway sent upstream, and how fast it moved to the backup and back.

Modules: `plan` (timeline, load, scenario, gateway config, targets), `exchange` (one
caller's request and how a caller judges its answer), `traffic` (the open-loop load and
the reader of the simulator's request log), `analysis` (the figures), `report` (the
printed report), `session` (one run from start to finish).
"""

"""The outage benchmark (`bench/outage.py`): a fixed-rate run through the gateway while the
simulator's primary model fails for a while (529 overloaded, silent, or cutting its
streams), measuring what the callers saw, what the gateway sent upstream, and how fast it
moved to the backup and back.

Modules: `faults` (the outage kinds: fault, window, load, attempt limits), `plan` (the
plan of one run, simulator settings, scenario, gateway config, targets), `exchange` (one
caller's request, how a caller judges its answer, the text it got), `traffic` (the
open-loop load and the reader of the simulator's request log), `observed` (what a run saw,
and readings of it shared by the rest), `analysis` (the figures), `timeline` (per second,
the gateway's log, per request), `report` (the printed report), `session` (the runs from
start to finish).
"""

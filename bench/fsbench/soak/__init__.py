"""The flat-RSS soak of issue 18 (bench/soak.py): the gateway in its default config at a
fixed open-loop rate for a long run, its RSS sampled throughout and judged for growth.

Modules: `mix` (the kinds of request and the order they are sent in), `load` (the mixed
open loop with per-minute tallies), `rss` (the samples of RSS and CPU, the slope and the
verdict), `report` (the printed report), `session` (one run from start to finish).
"""

"""bench/mypyc_trial.py's pieces that can go wrong without a compile: the module list
names modules that exist, and the count it reads is the line callgrind_requests.py
prints. The trial itself (a mypyc build and callgrind runs, minutes) never runs in pytest."""

from __future__ import annotations

from pathlib import Path

from tests.bench.scripts import load

trial = load("mypyc_trial")

ROOT = Path(__file__).resolve().parents[2]


def test_every_listed_module_exists_once() -> None:
    assert len(set(trial.MODULES)) == len(trial.MODULES)
    for module in trial.MODULES:
        assert (ROOT / "src" / "failsoft" / module).is_file(), module


def test_the_modules_known_not_to_compile_are_left_out() -> None:
    # msgspec Structs lose their field types when compiled; a classmethod's cls.__new__
    # is an internal mypyc error (the module list's docstring).
    assert "dialects/openai_fast.py" not in trial.MODULES
    assert "transport/headers.py" not in trial.MODULES


def test_reads_the_count_callgrind_requests_prints() -> None:
    line = (
        "0.895 M instructions per request net of idle work (raw 0.904 M; idle 1.06 M/s; "
        "1000 requests in 8.5 s under valgrind; /tmp/x)"
    )
    found = trial._NET.match(line)
    assert found is not None and float(found.group(1)) == 0.895
    source = (ROOT / "bench" / "callgrind_requests.py").read_text()
    assert "M instructions per request net of idle work" in source

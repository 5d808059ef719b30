"""bench/profile_top.py's aggregation of py-spy's raw folded stacks: the loop thread picked,
lines folded into their function, own and inclusive time, the areas. Synthetic stacks: the
profile itself never runs inside pytest."""

from __future__ import annotations

import asyncio.base_events
import asyncio.runners
import inspect
from pathlib import Path

from failsoft.types import Target
from tests.bench.scripts import load

profile_top = load("profile_top")

SRC = str(Path(__file__).resolve().parents[2] / "src")
RUNNER = f"run ({asyncio.runners.__file__}:{inspect.getsourcelines(asyncio.Runner.run)[1] + 2})"
_LOOP_LINE = inspect.getsourcelines(asyncio.base_events.BaseEventLoop.run_until_complete)[1]
LOOP = f"run_until_complete ({asyncio.base_events.__file__}:{_LOOP_LINE + 3})"


def _raw(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "raw.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_own_inclusive_and_areas_of_the_loop_thread_only(tmp_path: Path) -> None:
    types = f"{SRC}/failsoft/types.py"
    assert Target.label.fget is not None
    first = inspect.getsourcelines(Target.label.fget)[1]  # its decorator's line
    raw = _raw(
        tmp_path,
        [
            # two lines of one method fold into it; the thread marker is dropped
            f"thread (1): MainThread;<module> (x.py:1);{RUNNER};{LOOP};label ({types}:{first + 2}) 3",
            # py-spy 0.4 names the class too
            f"thread (1): MainThread;<module> (x.py:1);{RUNNER};{LOOP};Target.label ({types}:{first + 1}) 1",
            f"thread (1): MainThread;<module> (x.py:1);{RUNNER};{LOOP} 4",
            # another thread (no asyncio runner) is left out, however busy
            "thread (2): worker;worker (/usr/lib/python3.11/threading.py:10) 50",
        ],
    )
    result = profile_top.aggregate(raw, [SRC])
    assert result.samples == 8
    own = {f.name: n for f, n in result.own.items()}
    assert own == {"Target.label": 4, "BaseEventLoop.run_until_complete": 4}
    # the loop's frames and those above them are in every sample: not ranked
    assert {f.name: n for f, n in result.inclusive.items()} == {"Target.label": 4}
    assert dict(result.areas) == {"failsoft, other": 4, "uvloop/asyncio": 4}
    label = next(f for f in result.own if f.name == "Target.label")
    assert label.where == f"failsoft/types.py:{first}"


def test_areas_by_package_folder() -> None:
    assert profile_top.area(f"{SRC}/failsoft/router/run.py") == "router"
    assert profile_top.area("failsoft/dialects/template.py") == "dialects"
    assert profile_top.area("/v/lib/python3.11/site-packages/uvloop/__init__.py") == (
        "uvloop/asyncio"
    )
    assert profile_top.area("/v/lib/python3.11/site-packages/orjson/x.py") == (
        "other (stdlib, libraries)"
    )

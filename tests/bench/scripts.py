"""The bench scripts (bench/NAME.py) loaded as modules, for the tests of their logic: they
are scripts, not a package, and each puts bench/ on sys.path itself (so `fsbench` imports
once one of them is loaded). The benchmarks themselves never run inside pytest."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    """bench/NAME.py as the module `bench_NAME` (loaded once per test session)."""
    module_name = f"bench_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module

"""What the JSON records besides the measurements, and where it is written: the
machine, package versions and pinning (numbers mean little without them), and a summary
of the gateway's own log."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import orjson

from fsbench.loadgen import precise_timer_available
from fsbench.procs import Child, Pinning
from fsbench.settings import ROOT


def machine_info(pinning: Pinning) -> dict[str, Any]:
    cpu_model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for name in ("failsoft", "uvicorn", "uvloop", "httptools", "aiohttp", "orjson", "msgspec"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    commit = None
    with contextlib.suppress(OSError):
        commit = (
            subprocess.run(
                ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or None
        )
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = None
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "packages": versions,
        "git": commit,
        "pinning": {
            "method": pinning.method,
            "gateway_core": pinning.gateway_core,
            "side_core": pinning.side_core,
            "note": pinning.note,
        },
        "precise_timer": precise_timer_available(),
        "loadavg_start": os.getloadavg(),
    }


def read_gateway_log(child: Child | None) -> dict[str, Any]:
    if child is None:
        return {}
    # line by line: at the default log level the access log writes a line per request
    # (bench/soak.py's 30 minutes: ~600 MB), so the file is never held whole
    lines = info = tracebacks = 0
    warnings: list[str] = []
    errors: list[str] = []
    try:
        with child.log.open(errors="replace") as f:
            for raw in f:
                line = raw.rstrip("\n")
                lines += 1
                if " INFO " in line:
                    info += 1
                if " WARNING " in line:
                    warnings.append(line)
                if " ERROR " in line or " CRITICAL " in line:
                    errors.append(line)
                if line.startswith("Traceback"):
                    tracebacks += 1
    except OSError:
        return {}
    samples: dict[str, str] = {}
    for line in warnings + errors:
        key = line.split(": ", 1)[-1][:60]
        samples.setdefault(key, line)
    return {
        "lines": lines,
        "info": info,
        "warnings": len(warnings),
        "errors": len(errors),
        "tracebacks": tracebacks,
        "samples": list(samples.values())[:10],
    }


def default_path(started: dt.datetime, quick: bool) -> Path:
    return ROOT / "bench" / "results" / f"{started:%Y%m%d-%H%M%S}{'-quick' if quick else ''}.json"


def write_json(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))

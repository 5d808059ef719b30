"""Style and types are part of the suite: ruff (lint + format) and mypy --strict on src/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.lint


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_check() -> None:
    result = run("ruff", "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run("ruff", "format", "--check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_merge_conflict_markers() -> None:
    """Python files would not import with them, but docs and config examples would ship."""
    markers = ("<<<<<<< ", ">>>>>>> ")
    found = []
    for folder in ("src", "tests", "docs", "bench"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".md", ".yaml", ".yml", ".toml", ".html", ".txt"):
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if line.startswith(markers):
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    for name in ("README.md", "pyproject.toml"):
        text = (ROOT / name).read_text()
        found += [
            f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if line.startswith(markers)
        ]
    assert not found, found

"""Installing the coding agents from npm, pinned, into a cache outside the repository.

Each package goes to `<cache>/<name>@<version>` (`~/.cache/failsoft-agents` unless
`FAILSOFT_AGENTS_CACHE` says otherwise) and is reused while its `.installed` marker is there,
so CI pays the install once per machine. npm runs with `--ignore-scripts`: none of the three
needs its install script (Claude Code's only copies its native binary over a stub, which is
run from its platform package directly; Codex ships its binary in an optional dependency,
Gemini CLI is bundled JavaScript), and no package code runs at install time.

On a machine without Node or npm, or where the registry cannot be reached, the tests skip
with the reason; under `CI=true` they fail instead, as tests/services.py does for services.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL_TIMEOUT = 600.0
"""Seconds one `npm install` may take (each package is a few hundred MB on a cold cache)."""


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    min_node: int
    """The Node major version the package needs to run (0: it runs without Node)."""

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


CLAUDE_CODE = Package("@anthropic-ai/claude-code", "2.1.332", 0)
"""A native binary: Node is only needed by npm (the wrapper's `engines` says Node 22 for its
install script, which is not run)."""
CODEX = Package("@openai/codex", "0.171.0", 16)
GEMINI_CLI = Package("@google/gemini-cli", "0.61.0", 20)


def cache_root() -> Path:
    configured = os.environ.get("FAILSOFT_AGENTS_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "failsoft-agents"


def unavailable(reason: str) -> None:
    """Skip locally; under CI=true the agents must run, so fail."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true requires the coding-agent tests to run")
    pytest.skip(f"{reason} (CI runs these tests)")


def node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    try:
        return int(out.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def install(package: Package) -> Path:
    """The package's `node_modules` directory, installing it first if the cache lacks it."""
    major = node_major()
    if major is None or shutil.which("npm") is None:
        unavailable(f"{package.spec} needs node and npm, which are not on PATH")
    assert major is not None
    if major < package.min_node:
        unavailable(f"{package.spec} needs Node {package.min_node}+, this is Node {major}")
    target = cache_root() / package.spec.replace("/", "+")
    if (target / ".installed").is_file():
        return target / "node_modules"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Install beside the target and rename, so a run killed half-way leaves nothing to reuse.
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=target.parent))
    started = time.monotonic()
    command = [
        "npm", "install", "--prefix", str(staging), "--no-save", "--no-audit", "--no-fund",
        "--no-package-lock", "--ignore-scripts", "--loglevel=error", package.spec,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        unavailable(f"npm install {package.spec} took over {INSTALL_TIMEOUT:.0f} s")
        raise  # not reached: unavailable() skips or fails
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        unavailable(f"npm install {package.spec} failed: {done.stderr.strip()[-500:]}")
    seconds = time.monotonic() - started
    (staging / ".installed").write_text(f"{package.spec} installed in {seconds:.1f} s\n")
    if target.exists() and not (target / ".installed").is_file():
        shutil.rmtree(target, ignore_errors=True)  # left half-done by an older layout or run
    try:
        staging.rename(target)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules"


def claude_code() -> list[str]:
    """Claude Code's native binary, from the platform package npm chose."""
    modules = install(CLAUDE_CODE)
    for found in sorted((modules / "@anthropic-ai").glob("claude-code-*/claude")):
        if os.access(found, os.X_OK):
            return [str(found)]
    unavailable(
        f"{CLAUDE_CODE.spec} has no native binary for {platform.system()} {platform.machine()}"
    )
    raise AssertionError("not reached")


def codex() -> list[str]:
    """Codex's launcher, which finds the binary in its platform package."""
    modules = install(CODEX)  # first: it skips when there is no node
    return [_node(), str(modules / "@openai" / "codex" / "bin" / "codex.js")]


def gemini_cli() -> list[str]:
    modules = install(GEMINI_CLI)
    return [_node(), str(modules / "@google" / "gemini-cli" / "bundle" / "gemini.js")]


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not on PATH")
    return str(node)

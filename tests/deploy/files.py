"""What the deployment tests read: the repository's deployment files and a small
Dockerfile parser."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def config_text(raw: dict[str, Any]) -> str:
    """YAML for failsoft's loader (which then interpolates `${VAR}` itself)."""
    return yaml.safe_dump(raw, sort_keys=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def seconds(value: str | int | float) -> float:
    """`310s`, `5m`, `40s`, `1h30m`, `250ms` or a bare number (seconds) → seconds."""
    if isinstance(value, int | float):
        return float(value)
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|)", value.strip())
    if not parts or "".join(n + u for n, u in parts) != value.strip():
        raise ValueError(f"not a duration: {value!r}")
    return sum(float(n) * units[u] for n, u in parts)


# --- Dockerfile -------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    """Upper case: `FROM`, `RUN`, `HEALTHCHECK`..."""
    value: str
    """The rest of the (joined) line, as written."""
    line: int

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array form (`CMD ["a", "b"]`), else None (shell form)."""
        text = self.value
        if self.keyword == "HEALTHCHECK":
            text = healthcheck_command(self.value)
        text = text.strip()
        if not text.startswith("["):
            return None
        parsed = json.loads(text)
        assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed)
        return parsed


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile: enough of the format for these tests (line continuations,
    comments, parser directives, `ARG` defaults in `FROM`); not a general parser."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        keyword, _, value = line.partition(" ")
        instruction = Instruction(keyword.upper(), value.strip(), start)
        if instruction.keyword == "ARG" and not stages:
            name, _, default = instruction.value.partition("=")
            args[name.strip()] = default.strip()
            continue
        if instruction.keyword == "FROM":
            words = _expand(instruction.value, args).split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
            continue
        assert stages, f"line {start}: {instruction.keyword} before FROM"
        stages[-1].instructions.append(instruction)
    assert not pending, "the Dockerfile ends inside a continued line"
    return stages


def _expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], ""), value)


def healthcheck_command(value: str) -> str:
    """What a `HEALTHCHECK [--options] CMD ...` runs (the part after CMD)."""
    words = value.split(None, 1)
    while words and words[0].startswith("--"):
        words = words[1].split(None, 1) if len(words) > 1 else []
    assert words and words[0].upper() == "CMD", f"HEALTHCHECK without CMD: {value!r}"
    return words[1] if len(words) > 1 else ""


def healthcheck_options(value: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for word in shlex.split(value.split(" CMD ", 1)[0]):
        if word.startswith("--"):
            name, _, setting = word[2:].partition("=")
            options[name] = setting
    return options

"""YAML loading that remembers line numbers and expands `${VAR}` / `${VAR:-default}`.

Config errors are only useful when they point at the line to fix, so the document is
composed into nodes (which carry positions) and converted by hand instead of `safe_load`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

Path = tuple[str | int, ...]

_VAR = re.compile(r"\$(\$)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}|\$\{([^}]*)\}")


class Interpolated(str):
    """A string that came (wholly or partly) from the environment.

    The validator may coerce it to a number or boolean, as `port: ${PORT:-8080}` must work,
    and `check-config` prints where a secret came from instead of its value.
    """

    variables: tuple[str, ...] = ()


def dotted(path: Path) -> str:
    """`("models", "claude", 0, "provider")` → `models.claude[0].provider`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<top level>"


class Document:
    """A loaded YAML document plus what is needed to report problems precisely."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path, int] = {}
        self.problems: list[str] = []
        self._order: list[int] = []

    def line_of(self, path: Path) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def problem(self, path: Path, message: str) -> None:
        line = self.line_of(path)
        where = f"line {line}: " if line is not None else ""
        self.problems.append(f"{where}{dotted(path)}: {message}")
        self._order.append(line if line is not None else 0)

    def sorted_problems(self) -> list[str]:
        """Problems in file order (stable), the order a person fixes them in."""
        order = self._order + [0] * (len(self.problems) - len(self._order))
        return [p for _, _, p in sorted(zip(order, range(len(order)), self.problems, strict=True))]


def load_text(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> tuple[Any, Document]:
    """Parse YAML text into plain Python values, interpolating the environment."""
    doc = Document(source)
    environ = os.environ if env is None else env
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        doc.problems.append(f"{where}invalid YAML: {problem}")
        return None, doc
    if node is None:
        doc.problems.append("the config is empty: it needs at least a 'providers' section")
        return None, doc
    loader = yaml.SafeLoader("")
    return _convert(node, (), doc, loader, environ), doc


def _convert(
    node: yaml.Node, path: Path, doc: Document, loader: yaml.SafeLoader, env: Mapping[str, str]
) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                # YAML 1.1 reads `on:`, `no:` or `1:` as non-strings; a config key is the
                # text as written.
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key)
            child = (*path, key)
            if key in out:
                doc.lines[child] = key_node.start_mark.line + 1
                doc.problem(child, "duplicate key")
                continue
            doc.lines[child] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, child, doc, loader, env)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), doc, loader, env) for i, item in enumerate(node.value)]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str) and "$" in value:
        return interpolate(value, path, doc, env)
    return value


def interpolate(value: str, path: Path, doc: Document, env: Mapping[str, str]) -> str:
    """Expand `${VAR}`, `${VAR:-default}` (unset or empty) and `${VAR-default}` (unset).

    `$$` is a literal `$`. A variable that is unset and has no default is a problem, so a
    forgotten API key is reported at load time rather than as a 401 at request time.
    """
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        if match.group(5) is not None:
            doc.problem(path, f"invalid variable reference ${{{match.group(5)}}}")
            return ""
        name, colon, default = match.group(2), match.group(3), match.group(4)
        used.append(name)
        found = env.get(name)
        if found is not None and not (found == "" and colon and default is not None):
            return found
        if default is not None:
            return default
        doc.problem(
            path,
            f"environment variable {name} is not set "
            f"(use ${{{name}:-default}} to make it optional)",
        )
        return ""

    expanded = _VAR.sub(replace, value)
    if not used:
        return expanded
    result = Interpolated(expanded)
    result.variables = tuple(used)
    return result

"""The Prometheus text format, written quickly for failsoft's own metric families.

`prometheus_client.generate_latest` validates and escapes every label name of every sample:
with a few hundred health components (thousands of series) that took longer than the
rest of a scrape together, on the event loop. failsoft's counter and gauge families carry
fixed, valid label names, so only label values need escaping; any other family (a
histogram, one with `_created` samples) is written by prometheus_client as before. The
output is what `generate_latest` writes for the same families.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_SIMPLE = frozenset({"counter", "gauge"})


def _escape(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _number(value: float) -> str:
    if type(value) is int and -1_000_000 < value < 1_000_000:
        return f"{value}.0"  # what floatToGoString writes for these, sooner
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


class _One(Collector):
    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterable[Metric]:
        yield self.metric


def _fallback(metric: Metric) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_One(metric))
    return generate_latest(registry).decode()


def render(metrics: Iterable[Metric]) -> bytes:
    """The text of `metrics`, in order (the families a collector yielded)."""
    out: list[str] = []
    for metric in metrics:
        kind = metric.type
        name = metric.name + "_total" if kind == "counter" else metric.name
        expected = {name}
        if kind not in _SIMPLE or any(
            s.name not in expected or s.timestamp for s in metric.samples
        ):
            out.append(_fallback(metric))
            continue
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")
        for sample in metric.samples:
            labels = sample.labels
            if labels:
                text = ",".join(f'{k}="{_escape(labels[k])}"' for k in sorted(labels))
                out.append(f"{name}{{{text}}} {_number(sample.value)}\n")
            else:
                out.append(f"{name} {_number(sample.value)}\n")
    return "".join(out).encode()

"""The HTML page: shows the states in words, escapes whatever incidents and providers say,
loads nothing from elsewhere, and stays small."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from importlib import resources

import pytest

from failsoft.health.types import DeclaredIncident
from failsoft.status import content_security_policy, render_html
from failsoft.status.html import safe_url
from failsoft.status.model import StatusSnapshot
from failsoft.status.statuspage_json import component_code
from tests.status.fixtures import (
    GPT4O,
    LOCAL,
    MINI,
    NOW,
    OPUS,
    SONNET,
    big_snapshot,
    build_snapshot,
    empty_snapshot,
    history,
)

VOID = {"meta", "link", "br", "img", "input", "hr", "wbr", "source", "col", "area", "base"}


class Page(HTMLParser):
    """Just enough of a DOM: elements by attribute, their text, and a nesting check."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.open: list[list[str]] = []
        self.errors: list[str] = []
        self.feed(text)
        self.close()
        assert not self.stack, f"unclosed: {[t for t, _ in self.stack]}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_data(" ")  # tags separate words, roughly as the browser lays them out
        text: list[str] = []
        self.elements.append((tag, dict(attrs), text))
        if tag not in VOID:
            self.stack.append((tag, dict(attrs)))
            self.open.append(text)

    def handle_endtag(self, tag: str) -> None:
        top, _ = self.stack.pop()
        assert top == tag, f"</{tag}> closes <{top}>"
        self.open.pop()
        self.handle_data(" ")

    def handle_data(self, data: str) -> None:
        for text in self.open:
            text.append(data)

    def by(self, name: str, value: str) -> list[str]:
        """The text of every element whose attribute `name` is `value`."""
        return ["".join(t) for _, attrs, t in self.elements if attrs.get(name) == value]

    def one(self, name: str, value: str) -> str:
        """The one such element's text, whitespace collapsed."""
        (found,) = self.by(name, value)
        return " ".join(found.split())

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a, _ in self.elements if t == tag]


def render(snap: StatusSnapshot) -> tuple[str, Page]:
    text = render_html(snap).decode()
    return text, Page(text)


@pytest.fixture(scope="module")
def page() -> tuple[str, Page]:
    return render(build_snapshot())


def test_overall_status_banner(page: tuple[str, Page]) -> None:
    _, doc = page
    banner = doc.one("data-testid", "overall-status")
    assert "Major System Outage" in banner
    assert "Updated 14:30:00 UTC" in banner
    (attrs,) = [a for a in doc.attrs("section") if a.get("id") == "overall-status"]
    assert attrs["data-indicator"] == "critical"


@pytest.mark.parametrize(
    ("component", "word"),
    [
        (OPUS, "Major outage"),
        (SONNET, "Operational"),
        (GPT4O, "Degraded performance"),
        (MINI, "Operational"),
        (LOCAL, "Under maintenance"),
    ],
)
def test_each_component_shows_its_state_in_words(
    page: tuple[str, Page], component: str, word: str
) -> None:
    text, doc = page
    card = doc.one("data-testid", f"component-{component_code(component)}")
    assert card.startswith(component.split("/", 1)[1])
    assert word in card
    assert f'data-component="{component}"' in text
    assert "uptime" in card
    assert len(doc.by("data-testid", "component-state")) == 5


def test_component_details(page: tuple[str, Page]) -> None:
    _, doc = page
    opus = doc.one("data-testid", f"component-{component_code(OPUS)}")
    for fact in (
        "Since 14:00 UTC (30 min)",
        "Breaker Open",
        "Errors 1m / 5m 93% / 71%",
        "Traffic 118 req/min",
        "Latency p50 / p95 2.3 s / 14.8 s",
        "TTFT p50 / p95 940 ms / 5.2 s",
        "Provider says Partial outage",
        "99.95% uptime",
    ):
        assert fact in opus
    local = doc.one("data-testid", f"component-{component_code(LOCAL)}")
    assert "Latency" not in local  # unknown: left out rather than shown as 0
    assert "Breaker Closed" in local


def test_uptime_bars_have_tooltips(page: tuple[str, Page]) -> None:
    text, _ = page
    card = text[text.index(f'id="component-{component_code(OPUS)}"') :]
    bars = re.findall(r'<i class="([a-z ]+)" title="([^"]*)"></i>', card.split("</article>")[0])
    assert len(bars) == 90
    assert sum(" x" in cls for cls, _ in bars) == 60  # hidden on narrow screens
    assert bars[-1][0] == "maj"
    assert bars[-1][1].startswith("3 Jun 2026: ")
    assert "Elevated errors on anthropic / claude-opus-4-7 (42 min)" in bars[-1][1]
    assert bars[0][1] == "6 Mar 2026: 100% uptime, no incidents"  # 89 days before today
    # three days ago: a 30-minute major outage → (1440 - 30) / 1440
    assert bars[-4][1].startswith("31 May 2026: 97.91% uptime")
    local = text[text.index(f'id="component-{component_code(LOCAL)}"') :]
    assert 'title="6 Mar 2026: no data"' in local.split("</article>")[0]


def test_provider_says(page: tuple[str, Page]) -> None:
    _, doc = page
    group = doc.one("data-testid", "group-3btbngaje37k")
    assert (
        "Provider says: Partial System Outage , see their incident ‘ Elevated errors on Claude Opus 4.7 ’"
        in group
    )
    links = [a["href"] for a in doc.attrs("a")]
    assert "https://status.claude.com/incidents/thp2kyjx60qn" in links
    assert "https://status.openai.com" in links


def test_incidents_maintenance_and_history(page: tuple[str, Page]) -> None:
    _, doc = page
    opus = doc.one("data-testid", "incident-inc-opus-0603")
    assert "Identified · started 13:48 UTC" in opus
    assert "ongoing for 42 min" in opus
    assert "1,843 requests failed over · 12 lost" in opus
    assert opus.index("Identified 14:00 UTC") < opus.index("Investigating 13:48 UTC")
    assert "In progress" in doc.one("data-testid", "incident-mnt-local-0603")
    keys = doc.one("data-testid", "incident-mnt-openai-keys")
    assert "Scheduled · 5 Jun 06:00 UTC – 5 Jun 06:30 UTC" in keys
    past = doc.one("data-testid", "incident-inc-opus-0531")
    assert "Resolved" in past
    assert "lasted 30 min" in past
    assert "Peak error rate 99%" in past
    assert "Timeline · 3 updates" in past
    assert "Completed" in doc.one("data-testid", "incident-mnt-local-0522")


def test_history_shows_only_the_uptime_window() -> None:
    old = replace(
        history()[0],
        id="ancient",
        started_at=NOW - timedelta(days=120),
        resolved_at=NOW - timedelta(days=119),
    )
    snap = build_snapshot()
    text, _ = render(replace(snap, history=(*snap.history, old)))
    assert 'id="incident-ancient"' not in text


def test_escapes_incident_and_provider_text() -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    snap = build_snapshot()
    opus = snap.active[0]
    hacked = replace(
        opus,
        title=evil,
        updates=(replace(opus.updates[0], body=evil), *opus.updates[1:]),
    )
    anthropic = snap.providers[0]
    declared = DeclaredIncident(
        id="x",
        name=evil,
        status="investigating",
        impact="major",
        started_at=NOW,
        updated_at=NOW,
        url="javascript:alert(1)",
    )
    snap = replace(
        snap,
        title=evil,
        description=evil,
        active=(hacked, *snap.active[1:]),
        components=(replace(snap.components[0], model=evil), *snap.components[1:]),
        providers=(
            replace(anthropic, description=evil, incidents=(declared,)),
            *snap.providers[1:],
        ),
    )
    text, doc = render(snap)
    assert "<script>alert" not in text
    assert "<img" not in text
    assert "javascript:" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    assert len(re.findall("<script>", text)) == 1  # only the refresh script
    assert evil in doc.one("data-testid", "incident-inc-opus-0603")


def test_empty_snapshot() -> None:
    text, doc = render(empty_snapshot())
    assert "All Systems Operational" in doc.one("data-testid", "overall-status")
    assert "No components are being watched yet." in text
    assert "No incidents in the last 90 days." in text
    assert doc.by("data-testid", "component-state") == []


def test_no_external_resources(page: tuple[str, Page]) -> None:
    text, doc = page
    assert not re.search(r"\bsrc=", text)
    assert "@import" not in text
    assert "url(" not in text
    assert "http-equiv" not in text  # no meta refresh: the script refreshes, or the reader does
    for link in doc.attrs("link"):
        assert not str(link["href"]).startswith(("http:", "https:", "//")), link
    # http(s) only as link targets, and only to the providers' own pages
    for match in re.finditer(r"https?://[^\"'\s<]*", text):
        assert text[: match.start()].endswith('<a href="'), match.group()
        assert match.group().startswith(("https://status.claude.com", "https://status.openai.com"))
    assert (
        '<link rel="alternate" type="application/json" href="/status/api/v2/summary.json">' in text
    )


def test_test_ids_and_anchors(page: tuple[str, Page]) -> None:
    text, doc = page
    assert doc.by("data-testid", "overall-status")
    for snap_component in build_snapshot().components:
        assert doc.by("id", f"component-{component_code(snap_component.id)}")
    for incident_id in ("inc-opus-0603", "inc-gpt4o-0603", "mnt-openai-keys", "inc-mini-0524"):
        assert doc.by("data-testid", f"incident-{incident_id}")
        assert doc.by("id", f"incident-{incident_id}")
    assert len(re.findall(r'<main id="main"', text)) == 1
    assert '<html lang="en" data-refresh="15">' in text


def test_inline_assets_are_small_and_match_the_csp(page: tuple[str, Page]) -> None:
    text, _ = page
    (script,) = re.findall(r"<script>(.*?)</script>", text, re.S)
    (style,) = re.findall(r"<style>(.*?)</style>", text, re.S)
    assert len(script.encode()) < 2048
    assert len(style.encode()) < 6 * 1024
    csp = content_security_policy()
    for source in (script, style):
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "connect-src 'self'" in csp
    assert 'style="' not in text  # inline style attributes would need 'unsafe-inline'
    templates = resources.files("failsoft.status").joinpath("templates")
    assert script == templates.joinpath("page.js").read_text()


def test_ten_components_and_twenty_incidents_stay_small() -> None:
    snap = big_snapshot(10, 20)
    body = render_html(snap)
    assert len(body) < 150_000
    doc = Page(body.decode())
    assert len(doc.by("data-testid", "component-state")) == 10
    past = [a for a in doc.attrs("article") if re.match(r"incident-inc-\d+$", str(a.get("id")))]
    assert len(past) == 20


def test_safe_url() -> None:
    assert safe_url("https://status.claude.com/x") == "https://status.claude.com/x"
    assert safe_url(" http://a.example ") == "http://a.example"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example", "", None, "https://"):
        assert safe_url(bad) is None

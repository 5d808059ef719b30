"""The human status page: one server-rendered HTML document from a `StatusSnapshot`.

The view records come from `views.page_context`; this module only holds the Jinja
environment and renders them. The page needs no JavaScript and loads nothing else: CSS and
a small refresh script are inlined, the script re-fetches the page every `refresh_seconds`
and swaps `<main>` (pausing while the tab is hidden). Both are fixed text, so
`content_security_policy()` can allow exactly them by hash.

Component elements carry `data-testid="component-<code>"` with the JSON component id
(`statuspage_json.component_code`), so browser tests can find them.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

from failsoft.status.model import StatusSnapshot
from failsoft.status.views import (
    STATE_WORD,
    Group,
    IncidentView,
    Row,
    Says,
    Stamp,
    Update,
    duration,
    page_context,
    safe_url,
)

__all__ = [
    "STATE_WORD",
    "Group",
    "IncidentView",
    "Row",
    "Says",
    "Stamp",
    "Update",
    "content_security_policy",
    "duration",
    "render_html",
    "safe_url",
]


def _asset(name: str) -> str:
    return resources.files("failsoft.status").joinpath(f"templates/{name}").read_text("utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@cache
def _environment() -> tuple[jinja2.Template, Markup, Markup]:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("failsoft.status", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("page.html.j2"), Markup(_asset("page.css")), Markup(_asset("page.js"))


def content_security_policy() -> str:
    """A CSP for the page: its own inline style and script only, fetches to itself only."""
    _, css, js = _environment()
    return (
        f"default-src 'none'; style-src 'sha256-{_sha256(css)}'; "
        f"script-src 'sha256-{_sha256(js)}'; connect-src 'self'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def render_html(snapshot: StatusSnapshot) -> bytes:
    """The whole page, UTF-8."""
    template, css, js = _environment()
    text = template.render(**page_context(snapshot), css=css, js=js)
    return text.encode()

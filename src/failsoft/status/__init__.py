"""failsoft's public status page: renderers over one immutable `StatusSnapshot`.

The health side builds the snapshot; this package only turns it into the HTML page
(`render_html`) and Statuspage v2-compatible JSON (`statuspage_json`), and computes the
uptime bars (`uptime`). Nothing here does I/O, so any snapshot (a fixture, a cached one)
renders the same way.
"""

from failsoft.status.html import content_security_policy, render_html
from failsoft.status.model import StatusSnapshot
from failsoft.status.statuspage_json import ENDPOINTS, component_code, group_code

__all__ = [
    "ENDPOINTS",
    "StatusSnapshot",
    "component_code",
    "content_security_policy",
    "group_code",
    "render_html",
]

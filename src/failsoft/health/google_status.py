"""Google Cloud's status page (`incidents.json`), read into `ProviderStatus`: parsing only.

The document is the whole incident history as a flat array; fields are normalised as in
`page_fields`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from failsoft.health.page_fields import (
    LEVEL_STATE,
    Slot,
    StatusPageError,
    as_dict,
    derive_indicator,
    dicts_of,
    first_time,
    flatten_rich_text,
    norm_key,
    parse_time,
    provider_status,
    raise_state,
    shape_of,
    slot_for,
    text_of,
    to_level,
    unique,
    update_status,
)
from failsoft.health.types import (
    DeclaredComponent,
    DeclaredIncident,
    DeclaredUpdate,
    Indicator,
    ProviderStatus,
)

_SEVERITY_LEVEL: dict[str, Indicator] = {"high": "critical", "medium": "major", "low": "minor"}


def parse_google_cloud(
    obj: Any,
    provider: str,
    page_url: str,
    fetched_at: datetime,
    *,
    products: Collection[str] = (),
) -> ProviderStatus:
    """Google Cloud's `incidents.json`: a flat array, each incident open while `end` is empty.
    It lists no components, so the products the open incidents name stand in for them;
    `products` (titles or ids, any case) keeps only the incidents touching one of them."""
    if not isinstance(obj, list):
        raise StatusPageError(
            f"{provider}: not a Google Cloud incidents array (got {shape_of(obj)})"
        )
    wanted = {p.lower() for p in products}
    slots: dict[str, Slot] = {}
    incidents: list[DeclaredIncident] = []
    for raw in dicts_of(obj):
        affected = dicts_of(raw.get("affected_products"))
        keys = {text_of(p.get(k)).lower() for p in affected for k in ("id", "title")}
        if raw.get("end") or (wanted and not wanted & keys):
            continue
        severity = _SEVERITY_LEVEL.get(norm_key(raw.get("severity")), "minor")
        impact = to_level(raw.get("status_impact")) or severity
        for product in affected:
            raise_state(slot_for(slots, product), LEVEL_STATE[impact])
        latest = as_dict(raw.get("most_recent_update"))
        updates = [
            DeclaredUpdate(
                update_status(u.get("status")),
                flatten_rich_text(u.get("text")),
                parse_time(u.get("when")) or fetched_at,
            )
            for u in dicts_of(raw.get("updates")) or ([latest] if latest else [])
        ]
        updates.sort(key=lambda u: u.at, reverse=True)
        iid = text_of(raw.get("id")) or text_of(raw.get("number")) or "unknown"
        started = first_time(raw.get("begin"), raw.get("created")) or fetched_at
        uri = text_of(raw.get("uri")).lstrip("/")
        incidents.append(
            DeclaredIncident(
                id=iid,
                name=text_of(raw.get("external_desc")).split("\n")[0][:200] or f"Incident {iid}",
                # Google has no investigating/identified; AVAILABLE means it has recovered.
                status="monitoring"
                if norm_key(latest.get("status")) == "available"
                else "identified",
                impact=impact,
                started_at=started,
                updated_at=first_time(raw.get("modified"), latest.get("when")) or started,
                url=f"{page_url.rstrip('/')}/{uri}" if uri else None,
                components=unique(
                    [text_of(p.get("title")) or text_of(p.get("id")) for p in affected]
                ),
                updates=tuple(updates),
            )
        )
    components = [DeclaredComponent(cid, s.name, s.state) for cid, s in slots.items()]
    indicator = derive_indicator(components, incidents)
    return provider_status(provider, page_url, indicator, components, incidents, fetched_at)

"""Events as Authgear sends them (pkg/api/event): names, the envelope and its `context`.

`{"id", "seq", "type", "payload", "context"}`. `seq` increases with every event of the process
and across processes (microseconds since the epoch, made strictly increasing here; Authgear takes
a database sequence); `id` is `seq` as 16 hex digits, as Authgear's. Receivers order events by
`seq` and recognise a redelivery by `id`.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from app.context import RequestContext

# Blocking events a handler may be configured for (pkg/lib/config/hook.go, its enum and order).
BLOCKING_EVENTS = (
    "user.pre_create",
    "user.profile.pre_update",
    "user.pre_schedule_deletion",
    "user.pre_schedule_anonymization",
    "oidc.jwt.pre_create",
    "oidc.id_token.pre_create",
    "authentication.pre_initialize",
    "authentication.post_identified",
    "authentication.pre_authenticated",
)

# Non-blocking events a handler may subscribe to by name; "*" takes every non-blocking event,
# including those not in this list (user.signed_out, authentication.*.failed, admin_api.*, ...).
NON_BLOCKING_EVENTS = (
    "user.created",
    "user.authenticated",
    "user.reauthenticated",
    "user.profile.updated",
    "user.disabled",
    "user.reenabled",
    "user.anonymous.promoted",
    "user.deletion_scheduled",
    "user.deletion_unscheduled",
    "user.deleted",
    "user.anonymization_scheduled",
    "user.anonymization_unscheduled",
    "user.anonymized",
    "identity.email.added",
    "identity.email.removed",
    "identity.email.updated",
    "identity.phone.added",
    "identity.phone.removed",
    "identity.phone.updated",
    "identity.username.added",
    "identity.username.removed",
    "identity.username.updated",
    "identity.oauth.connected",
    "identity.oauth.disconnected",
    "identity.biometric.enabled",
    "identity.biometric.disabled",
    "usage.alert.triggered",
)

TRIGGERED_BY = ("user", "admin_api", "system", "portal", "site_admin")

_seq_lock = threading.Lock()
_last_seq = 0


def next_seq() -> int:
    global _last_seq
    with _seq_lock:
        _last_seq = max(_last_seq + 1, time.time_ns() // 1000)
        return _last_seq


def context(
    ctx: RequestContext | None,
    now: datetime,
    user_id: str | None,
    app_id: str,
    triggered_by: str | None = None,
) -> dict[str, Any]:
    """event.Context: who and where. `triggered_by` comes from the transport (`RequestContext.extra`:
    the Admin API marks its requests `admin_api`, jobs `system`), else `user`."""
    ctx = ctx or RequestContext()
    out: dict[str, Any] = {
        "timestamp": int(now.timestamp()),
        "user_id": user_id,
        "triggered_by": triggered_by or ctx.extra.get("triggered_by") or "user",
        "audit_context": {"http_url": ctx.extra["http_url"]} if ctx.extra.get("http_url") else {},
        "preferred_languages": [ctx.locale] if ctx.locale else [],
        "language": ctx.locale or "en",
        "geo_location_code": None,
    }
    oauth = {k: v for k, v in (("state", ctx.extra.get("state")), ("x_state", ctx.extra.get("x_state"))) if v}
    if oauth:
        out["oauth"] = oauth
    for key, value in (("ip_address", ctx.ip), ("user_agent", ctx.user_agent), ("app_id", app_id)):
        if value:
            out[key] = value
    if ctx.client_id:
        out["client_id"] = ctx.client_id
    return out


def envelope(event_type: str, payload: dict[str, Any], event_context: dict[str, Any]) -> dict[str, Any]:
    seq = next_seq()
    # Authgear's ID is the sequence number as 16 hex digits.
    return {"id": f"{seq:016x}", "seq": seq, "type": event_type, "payload": payload, "context": event_context}


def subscribed(events: list[str], event_type: str) -> bool:
    return any(e == "*" or e == event_type for e in events)


__all__ = ["BLOCKING_EVENTS", "NON_BLOCKING_EVENTS", "context", "envelope", "next_seq", "subscribed"]

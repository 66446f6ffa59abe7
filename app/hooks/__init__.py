"""Hooks: Authgear's blocking and non-blocking events, delivered to webhooks and Deno scripts.

Services raise events through two calls, never transports:

- `blocking(type, payload, ctx, user_id)` delivers a blocking event now, inside the caller's
  transaction, and returns what the handlers decided (refusals and failures raise);
- `emit(type, ctx, user_id, ...)` notes a non-blocking event; it is resolved, stored and queued
  when the transaction commits (sink.py), and delivered with retries (delivery.py).

Most non-blocking events need no call of their own: the audit rows services already write name
the same facts, and `audited` (called by the audit writer) turns the user events among them into
Authgear's events. Both cost one dictionary lookup when no handler listens.
"""

from __future__ import annotations

from typing import Any

from app.context import RequestContext
from app.extensions import db
from app.hooks import payloads
from app.hooks.sink import BlockingResult, HookSink, PendingEvent, current_sink

__all__ = ["BlockingResult", "HookSink", "audited", "blocking", "emit", "will_deliver"]

# Gatehouse's audit activity -> Authgear's event, for the events whose payload is the user (and
# what else is read at commit).
_AUDITED = {
    "user.created": ("user.created", {"identities": True}),
    "user.authenticated": ("user.authenticated", {"session": True}),
    "user.reauthenticated": ("user.reauthenticated", {"session": True}),
    "user.profile.updated": ("user.profile.updated", {}),
    "user.disabled": ("user.disabled", {}),
    "user.reenabled": ("user.reenabled", {}),
    "user.deletion.scheduled": ("user.deletion_scheduled", {}),
    "user.deletion.unscheduled": ("user.deletion_unscheduled", {}),
    "user.anonymization.scheduled": ("user.anonymization_scheduled", {}),
    "user.anonymization.unscheduled": ("user.anonymization_unscheduled", {}),
    "user.anonymized": ("user.anonymized", {}),
    # The promoted user keeps the anonymous user's ID: `anonymous_user` is that user as anonymous.
    "user.anonymous.promoted": ("user.anonymous.promoted", {"identities": True, "anonymous_user": True}),
}
# The IdP session of this transaction's sign-in (its `session.created` audit row comes first).
_LAST_SESSION = "gatehouse.hooks.last_session"


def will_deliver(event_type: str) -> bool:
    sink = current_sink()
    return sink is not None and (sink.will_deliver_blocking(event_type) or bool(sink.non_blocking_urls(event_type)))


def blocking(
    event_type: str, payload: dict[str, Any], ctx: RequestContext | None, user_id: str | None
) -> BlockingResult:
    sink = current_sink()
    if sink is None or not sink.will_deliver_blocking(event_type):
        return BlockingResult(payload)
    return sink.blocking(event_type, payload, ctx, user_id)


def user_payload(user: Any) -> dict[str, Any]:
    """model.User of `user` as it is now (for blocking payloads and snapshots)."""
    sink = current_sink()
    assert sink is not None
    return payloads.user(user, sink.project)


def emit(
    event_type: str,
    ctx: RequestContext | None,
    user_id: str | None,
    *,
    payload: dict[str, Any] | None = None,
    identity_id: str | None = None,
    snapshot: Any = None,
    removed_identity: Any = None,
) -> None:
    """Notes a non-blocking event of the current transaction. `snapshot`: a user about to be
    deleted, and `removed_identity`, read now; `payload`: parts known now (a reason)."""
    sink = current_sink()
    if sink is None or not sink.non_blocking_urls(event_type):
        return
    known = dict(payload or {})
    if snapshot is not None:
        known["user"] = payloads.user(snapshot, sink.project)
    if removed_identity is not None:
        known["identity"] = payloads.identity(removed_identity)
    refs = {"identity_id": identity_id} if identity_id else {}
    sink.note(PendingEvent(event_type, ctx, user_id, known, refs), db.session())


def identity_event(identity: Any, change: str) -> str:
    """identity.{email,phone,username}.<change>, or identity.oauth.connected/disconnected."""
    if identity.type == "oauth":
        return "identity.oauth." + ("connected" if change == "added" else "disconnected")
    return f"identity.{identity.login_id_type or identity.type}.{change}"


def identity_snapshot(identity: Any, change: str) -> dict[str, Any] | None:
    """`{"old_identity": ...}` of an identity about to change, read only when someone listens."""
    sink = current_sink()
    if sink is None or not sink.non_blocking_urls(identity_event(identity, change)):
        return None
    return {"old_identity": payloads.identity(identity)}


def audited(activity_type: str, ctx: RequestContext | None, user_id: str | None, data: dict[str, Any]) -> None:
    """Called for every audit row: the rows that are Authgear user events become hook events."""
    if activity_type == "session.created":
        db.session().info[_LAST_SESSION] = data.get("session_id")
        return
    mapped = _AUDITED.get(activity_type)
    if mapped is None:
        return
    event_type, wants = mapped
    sink = current_sink()
    if sink is None or not sink.non_blocking_urls(event_type):
        return
    session = db.session()
    refs: dict[str, Any] = {}
    known: dict[str, Any] = {}
    if wants.get("identities"):
        refs["identities"] = True
    if wants.get("anonymous_user"):
        refs["anonymous_user"] = True
    if wants.get("session"):
        continued = (data.get("continue_from_session") or {}).get("id")
        refs["session_id"] = continued or session.info.pop(_LAST_SESSION, None) or (ctx.session_id if ctx else None)
        if continued:
            known["continue_from_session"] = {"id": continued}
    sink.note(PendingEvent(event_type, ctx, user_id, known, refs), session)

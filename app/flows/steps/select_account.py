"""`identification: select_account` of the identify step (login and signup_login flows): continue as the
user of the caller's IdP session, without entering a credential again (Authgear's session continuation).

The option is offered only when the caller holds an IdP session that the authorization request lets
be used: not when it asks for a fresh login (`prompt=login`, or a `max_age` the session is older
than) nor when it keeps the IdP session out of the browser (`x_sso_enabled=false`,
`x_suppress_idp_session_cookie=true`). A `login_hint` or `id_token_hint` does not hide it: as in
Authgear, the option carries `user_id` so that a UI can compare it with the hint itself.
"""

from __future__ import annotations

import json
from typing import Any

from app.errors import AppError, Unauthorized
from app.extensions import db
from app.flows.run import FlowRun
from app.flows.steps.common import branches

SELECT_ACCOUNT_FLOW_TYPES = ("login", "signup_login")
# Which identity names the account on the "continue as" option (Authgear's order: a login ID first).
DISPLAY_PRIORITY = {"login_id": 2, "oauth": 1}


def session_changed() -> Unauthorized:
    return Unauthorized("SelectAccountSessionChanged", "session no longer matches the selected account")


def oauth_request(run: FlowRun) -> dict[str, Any] | None:
    """The pending authorization request named by the flow's `x_ref` (stored by the OIDC provider as
    JSON under `oauth_session:<x_ref>`, see app/oidc/authz_request.py), or None."""
    x_ref = run.query.get("x_ref")
    if not x_ref or len(x_ref) > 64:
        return None
    raw = run.svc.store.get(f"oauth_session:{x_ref}")
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def suppresses_idp_session(request: dict[str, Any]) -> bool:
    """`x_sso_enabled` decides first; `x_suppress_idp_session_cookie` is its older name (Authgear)."""
    sso = request.get("x_sso_enabled")
    if sso:
        return sso != "true"
    return request.get("x_suppress_idp_session_cookie") == "true"


def _usable_session(run: FlowRun) -> Any:
    """The caller's IdP session when the authorization request lets it be continued, else None."""
    from app.oidc import app_sessions
    from app.sessions.models import IdPSession

    if not run.ctx.session_id or not run.ctx.session_user_id:
        return None
    session = db.session.get(IdPSession, run.ctx.session_id)
    if session is None or not app_sessions.stands_for_login(session):
        return None
    request = oauth_request(run) or {}
    if suppresses_idp_session(request):
        return None
    prompt = request.get("prompt") or []
    max_age = request.get("max_age")
    authenticated_at = session.authenticated_at.timestamp()
    if authenticated_at < float(request.get("requested_at") or 0):
        # OIDC Core 3.1.2.1: an older login does not answer prompt=login or an exceeded max_age.
        if "login" in prompt or max_age == 0:
            return None
        if isinstance(max_age, int) and run.svc.clock().timestamp() - authenticated_at > max_age:
            return None
    return session


def display_name(run: FlowRun, user_id: str) -> str:
    best, level = None, 0
    for identity in run.svc.users.identities_of(user_id):
        rank = DISPLAY_PRIORITY.get(identity.type, 0)
        if rank >= level:
            best, level = identity, rank
    if best is None:
        return ""
    if best.type == "login_id":
        return best.original_login_id or best.login_id or ""
    if best.type == "oauth":
        shown = (best.claims or {}).get("email")
        return f"{best.provider_type}:{shown}" if shown else str(best.provider_type or "")
    return best.type


def offer(run: FlowRun) -> None:
    """Settles, as the identify step starts, whether it offers "continue as" and for which user."""
    if run.state.type not in SELECT_ACCOUNT_FLOW_TYPES:
        return
    if not any(b.get("identification") == "select_account" for b in branches(run)):
        return
    session = _usable_session(run)
    if session is not None:
        run.local["select_account"] = {"user_id": session.user_id, "display_name": display_name(run, session.user_id)}


def options(run: FlowRun) -> list[dict[str, Any]]:
    """The identify step's options: one per branch, the select_account one only when offered."""
    out: list[dict[str, Any]] = []
    offered = run.local.get("select_account")
    for b in branches(run):
        if b.get("identification") != "select_account":
            out.append({"identification": b["identification"]})
        elif offered and run.state.type in SELECT_ACCOUNT_FLOW_TYPES:
            out.append({"identification": "select_account", **offered})
    return out


def check_session(run: FlowRun) -> str:
    """The offered user, when the caller's session still belongs to them and may still be used."""
    offered = run.local.get("select_account") or {}
    session = _usable_session(run)
    if session is None or session.user_id != offered.get("user_id"):
        raise session_changed()
    return session.user_id


def hints_allow(svc: Any, request: Any, user_id: str) -> bool:
    """Whether the authorization request's hints let the hosted pages offer `user_id`: a login ID
    `login_hint` of another account, or an `id_token_hint` of another user, means a fresh login
    (Authgear's built-in UI applies this on top of the flow's option; the flow itself does not)."""
    hint = getattr(request, "login_hint_login_id", None)
    if hint:
        try:
            identity = svc.users.find_identity(hint["key"], hint["value"])
        except AppError:  # a hint that is no valid login ID names no account
            identity = None
        if identity is None or identity.user_id != user_id:
            return False
    sub = getattr(request, "id_token_hint_sub", None)
    return sub is None or sub == user_id

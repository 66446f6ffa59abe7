"""`/_resolver/resolve` (and `/resolve`) for nginx `auth_request` and similar gateways (contract 2).

Always 200 with no body; the gateway reads the `X-Authgear-*` headers. Credentials are tried in the
order Authgear's code uses: `Authorization: Bearer` > `app_session` cookie > `app_access_token` cookie >
IdP session cookie. The first that resolves wins; when some were present and none resolved, the
session is invalid. Last access is written at most once a minute per session.

Cost per request (it runs before every request behind the gateway): one statement finds the token or
session with its user (and grant), one statement computes the user facts, both in autocommit mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, Response, request

from app.extensions import db
from app.identities.models import User
from app.oidc.provider import OIDCProvider, oidc_provider
from app.services import services
from app.transport import clear_session_cookie, request_context, session_cookie_name

bp = Blueprint("resolver", __name__)

TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Resolved:
    user: User
    amr: list[str]
    authenticated_at: datetime | None


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _by_access_token(provider: OIDCProvider, token: str) -> Resolved | None:
    access = provider.resolve_access_token(token)
    if access is None:
        return None
    source = access.offline_grant or access.idp_session
    if source is not None and provider.clock() - source.last_access_at >= TOUCH_INTERVAL:
        if access.offline_grant is not None:
            provider.offline_grants.touch(access.offline_grant, request_context())
        else:
            provider.svc.sessions.touch(access.idp_session, request_context())  # type: ignore[arg-type]
    return Resolved(access.user, access.amr, access.auth_time)


def _by_idp_session(provider: OIDCProvider, token: str) -> Resolved | None:
    live = provider.live_session(token)
    if live is None:
        return None
    session, user = live
    if provider.svc.sessions.touch_due(session):
        provider.svc.sessions.touch(session, request_context())
    return Resolved(user, list(session.amr or []), session.authenticated_at)


def _headers(provider: OIDCProvider, resolved: Resolved) -> dict[str, str]:
    facts = provider.claims.user_facts(resolved.user)
    headers = {
        "X-Authgear-Session-Valid": "true",
        "X-Authgear-User-Id": resolved.user.id,
        "X-Authgear-User-Anonymous": str(facts.is_anonymous).lower(),
        "X-Authgear-User-Verified": str(facts.is_verified).lower(),
        "X-Authgear-User-Can-Reauthenticate": str(facts.can_reauthenticate).lower(),
        # Space-joined, as Authgear's code does (contract 11.2).
        "X-Authgear-Session-Amr": " ".join(resolved.amr),
    }
    if facts.roles:
        headers["X-Authgear-User-Roles"] = ",".join(facts.roles)
    if resolved.authenticated_at is not None:
        headers["X-Authgear-Session-Authenticated-At"] = str(int(resolved.authenticated_at.timestamp()))
    return headers


@bp.route("/_resolver/resolve", methods=["GET", "HEAD"])
@bp.route("/resolve", methods=["GET", "HEAD"])
def resolve() -> Response:
    provider = oidc_provider()
    config = services().config
    cookies = request.cookies
    idp_cookie = cookies.get(session_cookie_name(config))
    # The app_session cookie carries an app session token, which Gatehouse does not issue yet, so it
    # counts as a credential that does not resolve.
    candidates = [
        ("bearer", _bearer()),
        ("app_session", cookies.get(config.cookie_prefix + "app_session")),
        ("app_access_token", cookies.get(config.cookie_prefix + "app_access_token")),
        ("idp_session", idp_cookie),
    ]
    present = [(kind, value) for kind, value in candidates if value]
    resp = Response(status=200)
    if not present:
        return resp
    if db.engine.dialect.name == "postgresql":
        # The hot path of every request behind the gateway reads outside a transaction: no BEGIN and
        # COMMIT round trips; the throttled last-access write is then a single UPDATE of its own.
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    resolved = None
    for kind, value in present:
        if kind in ("bearer", "app_access_token"):
            resolved = _by_access_token(provider, value)
        elif kind == "idp_session":
            resolved = _by_idp_session(provider, value)
        if resolved is not None:
            break
    if resolved is None:
        resp.headers["X-Authgear-Session-Valid"] = "false"
        if idp_cookie:
            clear_session_cookie(resp, config)
    else:
        resp.headers.update(_headers(provider, resolved))
    db.session.commit()
    return resp

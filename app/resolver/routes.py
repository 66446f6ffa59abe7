"""`/_resolver/resolve` (and `/resolve`) for nginx `auth_request` and similar gateways (contract 2).

Always 200 with no body; the gateway reads the `X-Authgear-*` headers. Credentials are tried in the
order Authgear's code uses: `Authorization: Bearer` > `app_session` cookie > `app_access_token` cookie >
IdP session cookie. The first that resolves wins; when some were present and none resolved, the
session is invalid. Last access is written at most once a minute per session.

Cost per request (it runs before every request behind the gateway): a resolution seen before is
served from the process's cache after one key-value round trip that proves nothing about its user
changed since (app/resolver/cache.py), answered in front of Flask (app/resolver/fast.py). Otherwise
one statement finds the token or session with its user (and grant) and one computes the user facts,
both in autocommit mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, Response, current_app, request

from app.extensions import db
from app.identities.models import User
from app.oidc import app_sessions
from app.oidc.provider import OIDCProvider, oidc_provider
from app.resolver.cache import ResolutionCache
from app.resolver.fast import STORE_ERROR_KEY, bearer_token
from app.resolver.invalidation import EXTENSION_KEY
from app.services import services
from app.transport import clear_session_cookie, request_context, session_cookie_name

bp = Blueprint("resolver", __name__)

TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Resolved:
    user: User
    amr: list[str]
    authenticated_at: datetime | None
    # When this resolution may stop holding without any write: expiries, idle timeouts, the next
    # last-access write.
    deadlines: tuple[datetime | None, ...]


def _bearer() -> str | None:
    return bearer_token(request.headers.get("Authorization", ""))


def _plus(moment: datetime, seconds: float | timedelta | None) -> datetime | None:
    if seconds is None:
        return None
    return moment + (seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds))


def _by_access_token(provider: OIDCProvider, token: str) -> Resolved | None:
    access = provider.resolve_access_token(token)
    if access is None:
        return None
    grant, session = access.offline_grant, access.idp_session
    source = grant or session
    assert source is not None
    if provider.clock() - source.last_access_at >= TOUCH_INTERVAL:
        if grant is not None:
            provider.offline_grants.touch(grant, request_context())
        else:
            provider.svc.sessions.touch(session, request_context())  # type: ignore[arg-type]
    idle = access.client.refresh_token_idle_timeout if grant else provider.svc.sessions.idle_timeout
    deadlines = (
        access.token.expires_at,
        source.expires_at,
        _plus(source.last_access_at, idle),
        source.last_access_at + TOUCH_INTERVAL,
        access.user.account_valid_until,
    )
    return Resolved(access.user, access.amr, access.auth_time, deadlines)


def _by_idp_session(provider: OIDCProvider, token: str) -> Resolved | None:
    live = provider.live_session(token)
    if live is None:
        return None
    session, user = live
    sessions = provider.svc.sessions
    if sessions.touch_due(session):
        sessions.touch(session, request_context())
    deadlines = (
        session.expires_at,
        _plus(session.last_access_at, sessions.idle_timeout),
        session.last_access_at + TOUCH_INTERVAL,
        user.account_valid_until,
    )
    return Resolved(user, list(session.amr or []), session.authenticated_at, deadlines)


def _by_app_session(provider: OIDCProvider, token: str) -> Resolved | None:
    """An app session (app/oidc/app_sessions.py): its grant's life, its own authentication."""
    found = app_sessions.resolve(provider, token)
    if found is None:
        return None
    session, user, grant = found
    if provider.clock() - grant.last_access_at >= TOUCH_INTERVAL:
        provider.offline_grants.touch(grant, request_context())
    client = provider.clients.get(grant.client_id)
    deadlines = (
        session.expires_at,
        grant.expires_at,
        _plus(grant.last_access_at, client.refresh_token_idle_timeout if client else None),
        grant.last_access_at + TOUCH_INTERVAL,
        user.account_valid_until,
    )
    return Resolved(user, list(session.amr or []), session.authenticated_at, deadlines)


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


# What every resolver response carries besides the X-Authgear-* headers: no body (`Content-Length`
# set here spares werkzeug measuring the empty body and scanning the headers to add it).
_EMPTY = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")]
_INVALID = [*_EMPTY, ("X-Authgear-Session-Valid", "false")]


@bp.route("/_resolver/resolve", methods=["GET", "HEAD"])
@bp.route("/resolve", methods=["GET", "HEAD"])
def resolve() -> Response:
    failed = request.environ.pop(STORE_ERROR_KEY, None)
    if failed is not None:  # the cached path in front (app/resolver/fast.py) could not reach the store
        raise failed
    provider = oidc_provider()
    config = services().config
    cookies = request.cookies
    idp_cookie = cookies.get(session_cookie_name(config))
    candidates = [
        ("bearer", _bearer()),
        ("app_session", cookies.get(config.cookie_prefix + "app_session")),
        ("app_access_token", cookies.get(config.cookie_prefix + "app_access_token")),
        ("idp_session", idp_cookie),
    ]
    present = [(kind, value) for kind, value in candidates if value]
    if not present:
        return Response(status=200, headers=_EMPTY)
    headers = _resolve_first(provider, current_app.extensions[EXTENSION_KEY], present)
    if headers is None:
        resp = Response(status=200, headers=_INVALID)
        if idp_cookie:
            clear_session_cookie(resp, config)
    else:
        # The headers in one list: `Headers.update` would scan the list once per header.
        resp = Response(status=200, headers=[*_EMPTY, *headers.items()])
    if db.session.registry.has():  # a cached resolution touched no database session
        db.session.commit()
    return resp


# The cache key's kind of each credential (app/resolver/fast.py looks cookies up by the same kinds).
_CACHE_KINDS = {"bearer": "token", "app_session": "app_session", "app_access_token": "token", "idp_session": "session"}


def _resolve_first(
    provider: OIDCProvider, cache: ResolutionCache, present: list[tuple[str, str]]
) -> dict[str, str] | None:
    """The headers of the first credential that resolves, from the cache or from the database."""
    autocommit = False
    for kind, value in present:
        key = cache.key(_CACHE_KINDS[kind], value)
        cached = cache.lookup(key)
        if cached is not None:
            return cached
        known_user = cache.known_user(key)
        changes = cache.change_tokens(known_user) if known_user else None
        if not autocommit and db.engine.dialect.name == "postgresql":
            # Reads outside a transaction: no BEGIN and COMMIT round trips; the throttled
            # last-access write is then a single UPDATE of its own.
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            autocommit = True
        if kind == "idp_session":
            resolved = _by_idp_session(provider, value)
        elif kind == "app_session":
            resolved = _by_app_session(provider, value)
        else:
            resolved = _by_access_token(provider, value)
        if resolved is not None:
            headers = _headers(provider, resolved)
            same_user = resolved.user.id == known_user
            cache.remember(key, resolved.user.id, headers, changes if same_user else None, resolved.deadlines)
            return headers
    return None

"""App sessions: the browser session an app opens for its signed-in user, bound to the app's offline
grant (Authgear's `app_session` cookie, pkg/lib/oauth/app_session_token.go and resolver.go
resolveAppSessionCookie).

Opened by an app session token at `/oauth2/authorize` (app/oidc/app_session_tokens.py) and by a
pre-authenticated URL (app/oidc/pre_authenticated_urls.py). It is an `idp_sessions` row naming its
grant (`offline_grant_id`), so the pages that need a session (settings, reauthentication) use it as
they use an IdP session, but:

- its cookie is `app_session` (HttpOnly, SameSite=Lax, no Max-Age, as Authgear's
  AppSessionTokenCookieDef), read before the IdP session cookie by the settings pages, the flows,
  userinfo and the resolver, as Authgear's session middleware tries it first;
- it lives only while its grant does: revoking the grant (sign out in the app, `/oauth2/revoke`,
  the Admin API, removing the authorization) deletes the row (foreign key cascade), and the grant's
  expiry or idle timeout ends it; the IdP session idle timeout does not apply;
- it stands for a login (`prompt=none`, "continue as") only when its grant holds the
  pre-authenticated-url scope, as Authgear's `oauth.SessionScopes` check in handler_authz.go and
  NewIdentificationOptionsSelectAccount: an app session is an offline-grant session, whose scopes are
  the grant's, while an IdP session implicitly has that scope;
- the session cookie never resolves to it, and it is neither listed nor revoked with the IdP
  sessions (app/sessions/service.py): in Authgear it is no session of its own, only a way into the
  grant, which the settings page lists as the app;
- signing out in the browser (`/logout`, `/oauth2/end_session`) ends it with its grant and clears its
  cookie, as Authgear's session.Manager.Logout invalidates the session the request resolved to; an
  IdP session the browser also holds ends too (`sign_out`).

Unlike Authgear, where a pre-authenticated URL sets an `app_access_token` cookie (an access token of
the grant), the pre-authenticated URL's session is an app session too, ending with the web client's
access token lifetime: the same life, under this one cookie name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from flask import Response, current_app
from sqlalchemy import bindparam, select

from app.config import AppConfig
from app.context import RequestContext
from app.crypto import sha256_hex
from app.extensions import db
from app.identities.models import User
from app.oidc.provider import EXTENSION_KEY, OIDCProvider
from app.oidc.scopes import PRE_AUTHENTICATED_URL
from app.sessions.models import IdPSession, OfflineGrant
from app.transport import clear_session_cookie, session_cookie_name

COOKIE = "app_session"
_APP_SESSION = (
    select(IdPSession, User, OfflineGrant)
    .join(User, User.id == IdPSession.user_id)
    .join(OfflineGrant, OfflineGrant.id == IdPSession.offline_grant_id)
    .where(IdPSession.token_hash == bindparam("token_hash"))
)


class AppSession(NamedTuple):
    session: IdPSession
    user: User
    grant: OfflineGrant


def cookie_name(config: AppConfig) -> str:
    return config.cookie_prefix + COOKIE


def _cookie_options(config: AppConfig) -> dict[str, Any]:
    domain = config.project["http"].get("cookie_domain") or None
    return {"domain": domain, "path": "/", "secure": config.secure_cookies, "httponly": True, "samesite": "Lax"}


def set_cookie(resp: Response, token: str, config: AppConfig) -> None:
    resp.set_cookie(cookie_name(config), token, **_cookie_options(config))


def clear_cookies(resp: Response, config: AppConfig) -> None:
    """Clears the app session cookie and the IdP session's cookies."""
    resp.delete_cookie(cookie_name(config), **_cookie_options(config))
    clear_session_cookie(resp, config)


def open_session(
    provider: OIDCProvider, grant: OfflineGrant, ctx: RequestContext, expires_at: datetime | None = None
) -> tuple[IdPSession, str]:
    """A new app session of the grant, carrying its authentication; the row and the cookie value."""
    session, token = provider.svc.sessions.create(grant.user_id, list(grant.amr or []), ctx, acr=grant.acr)
    session.offline_grant_id = grant.id
    session.authenticated_at = grant.authenticated_at
    session.expires_at = min(grant.expires_at, expires_at or grant.expires_at)
    db.session.flush()
    return session, token


def resolve(provider: OIDCProvider, token: str | None) -> AppSession | None:
    """The app session of a cookie value while it, its grant and its user are live."""
    if not token or len(token) > 200:
        return None
    found = db.session.execute(_APP_SESSION, {"token_hash": sha256_hex(token)}).first()
    if found is None:
        return None
    app_session = AppSession(*found)
    now = provider.clock()
    if (
        app_session.session.expires_at <= now
        or not provider.offline_grants.is_live(app_session.grant, provider.clients.get(app_session.grant.client_id))
        or not provider.claims.is_active(app_session.user, now)
    ):
        return None
    return app_session


def from_cookies(cookies: Mapping[str, str]) -> AppSession | None:
    """The app session of the request's `app_session` cookie, if it resolves."""
    provider: OIDCProvider | None = current_app.extensions.get(EXTENSION_KEY)
    if provider is None:
        return None
    return resolve(provider, cookies.get(cookie_name(provider.config)))


def browser_session(provider: OIDCProvider, cookies: Mapping[str, str]) -> tuple[IdPSession, User] | None:
    """Who the browser is signed in as, for the pages of the signed-in user (settings, userinfo):
    the app session first, then the IdP session."""
    app_session = from_cookies(cookies)
    if app_session is not None:
        return app_session.session, app_session.user
    return provider.live_session(cookies.get(session_cookie_name(provider.config)))


def signed_in_sessions(provider: OIDCProvider, cookies: Mapping[str, str]) -> list[tuple[IdPSession, User]]:
    """Every session the browser holds: its app session and its IdP session, those that resolve."""
    app_session = resolve(provider, cookies.get(cookie_name(provider.config)))
    idp_session = provider.live_session(cookies.get(session_cookie_name(provider.config)))
    found = [(app_session.session, app_session.user)] if app_session is not None else []
    return found + ([idp_session] if idp_session is not None else [])


def sign_out(provider: OIDCProvider, sessions: list[tuple[IdPSession, User]], ctx: RequestContext) -> None:
    """Ends the browser's sessions: an IdP session with its SSO group, an app session with the
    offline grant it stands for (the row goes with it)."""
    for session, _user in sessions:
        if session.offline_grant_id is None:
            provider.svc.sessions.sign_out(session, ctx)
            continue
        grant = db.session.get(OfflineGrant, session.offline_grant_id)
        if grant is not None:
            provider.offline_grants.revoke(grant, ctx)
            provider.svc.audit.write("user.signed_out", ctx, session.user_id)


def login_session(provider: OIDCProvider, cookies: Mapping[str, str]) -> tuple[IdPSession, User] | None:
    """The session `/oauth2/authorize` may answer a login with: the app session when it may stand for
    a login, else the IdP session."""
    app_session = from_cookies(cookies)
    if app_session is not None and stands_for_login(app_session.session):
        return app_session.session, app_session.user
    return provider.live_session(cookies.get(session_cookie_name(provider.config)))


def stands_for_login(session: IdPSession) -> bool:
    """Whether a session may answer `prompt=none` or be offered as "continue as": an IdP session
    always, an app session when its grant holds the pre-authenticated-url scope."""
    if session.offline_grant_id is None:
        return True
    grant = db.session.get(OfflineGrant, session.offline_grant_id)
    return grant is not None and PRE_AUTHENTICATED_URL in (grant.scopes or [])

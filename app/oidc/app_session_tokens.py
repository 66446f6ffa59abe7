"""App session tokens (contract 1.8): how a native or refresh-token app opens a web page of
Gatehouse (settings, a settings action) as its signed-in user without asking them to sign in again.

1. The app trades its refresh token at `POST /oauth2/app_session_token` for an app session token:
   one use, five minutes (Authgear's `duration.Short`), only for an authorization that holds the
   full-access scope (first-party apps), as Authgear's `IssueAppSessionToken`.
2. It opens `/oauth2/authorize?login_hint=https://authgear.com/login_hint?type=app_session_token&
   app_session_token=...`; authorize takes the token and signs the browser in as the grant's user.

The browser then gets an app session (`app_session` cookie, app/oidc/app_sessions.py) bound to the
grant: it carries the grant's authentication (`authenticated_at`, `amr`, so a settings change needing
a recent login asks for it as it would in the app) and ends with the grant.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from app.context import RequestContext
from app.errors import Forbidden
from app.extensions import db
from app.identities.models import User
from app.oidc.app_sessions import open_session
from app.oidc.offline_grants import RefreshCheck
from app.oidc.provider import OIDCProvider
from app.oidc.scopes import FULL_ACCESS
from app.one_time import OneTimeSecrets
from app.sessions.models import IdPSession, OfflineGrant

APP_SESSION_TOKEN_LIFETIME = timedelta(minutes=5)
_GRANT_ID = re.compile(r"^([0-9a-fA-F-]{36})\.")


class InvalidGrant(Forbidden):
    """Authgear's `Forbidden/InvalidGrant` of the app session token endpoint."""

    def __init__(self, message: str = "invalid refresh token") -> None:
        super().__init__("InvalidGrant", message)


class AppSessionTokenInvalid(Exception):
    """The login hint's token is unknown, used or expired, or its grant or user is no longer valid;
    authorize answers `invalid_request`."""


def check_refresh_token(provider: OIDCProvider, refresh_token: str) -> RefreshCheck:
    """The refresh token checked against its own grant's client (the SDK endpoints do not
    authenticate a client); a rotated-out token revokes its grant on the way, as at /oauth2/token."""
    match = _GRANT_ID.match(refresh_token or "")
    grant = db.session.get(OfflineGrant, match.group(1).lower()) if match else None
    client = provider.clients.get(grant.client_id) if grant else None
    return provider.offline_grants.check(refresh_token, client)


class AppSessionTokens:
    def __init__(self, provider: OIDCProvider) -> None:
        self.p = provider
        store, clock = provider.svc.store, provider.clock
        self.secrets = OneTimeSecrets(store, "app_session_token", APP_SESSION_TOKEN_LIFETIME, clock)

    def issue(self, refresh_token: str) -> tuple[str, datetime]:
        """A new app session token for the grant of a valid refresh token."""
        p = self.p
        check = check_refresh_token(p, refresh_token)
        client = p.clients.get(check.grant.client_id) if check.grant else None
        if check.grant is None or client is None or not p.claims.is_active(check.user, p.clock()):
            raise InvalidGrant()
        if not p.authorizations.covers(check.grant.user_id, client.client_id, [FULL_ACCESS]):
            # Authgear turns this OAuth error into a plain Forbidden with the error's text.
            raise Forbidden("Forbidden", "access_denied: the client is not authorized to have full user access")
        return self.secrets.issue({"offline_grant_id": check.grant.id})

    def exchange(self, token: str, ctx: RequestContext) -> tuple[IdPSession, str]:
        """Uses the token up; a new app session of the grant and its cookie value."""
        p = self.p
        payload = self.secrets.take(token)
        grant = db.session.get(OfflineGrant, payload["offline_grant_id"]) if payload else None
        client = p.clients.get(grant.client_id) if grant else None
        if grant is None or not p.offline_grants.is_live(grant, client):
            raise AppSessionTokenInvalid()
        user = db.session.get(User, grant.user_id)
        if not p.claims.is_active(user, p.clock()):
            raise AppSessionTokenInvalid()
        session, cookie = open_session(p, grant, ctx)
        p.svc.audit.write("app_session_token.exchanged", ctx, grant.user_id, {"offline_grant_id": grant.id})
        return session, cookie

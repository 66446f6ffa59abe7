"""The OIDC provider of one app: its clients, keys and token services, built once from the config.

The transports reach it with `oidc_provider()`; the resolver can build one from the same `Services`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import bindparam, select

from app.extensions import db
from app.identities.models import User
from app.oidc.access_tokens import AccessTokenService
from app.oidc.authorizations import AuthorizationService
from app.oidc.authz_request import PendingStore
from app.oidc.claims import ClaimsService
from app.oidc.clients import ClientRegistry, OAuthClient
from app.oidc.codes import CodeService
from app.oidc.id_token import SID_IDP, SID_OFFLINE_GRANT, IdTokenIssuer, encode_sid
from app.oidc.keys import SigningKeys
from app.oidc.offline_grants import OfflineGrantService
from app.services import Services
from app.sessions.models import AccessToken, IdPSession, OfflineGrant

EXTENSION_KEY = "gatehouse_oidc"
# Built once: building a statement costs more than running it on the resolver's path.
_TOKEN_WITH_CONTEXT = (
    select(AccessToken, User, OfflineGrant, IdPSession)
    .join(User, User.id == AccessToken.user_id)
    .outerjoin(OfflineGrant, OfflineGrant.id == AccessToken.offline_grant_id)
    .outerjoin(IdPSession, IdPSession.id == AccessToken.idp_session_id)
    .where(AccessToken.token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True)
class AccessContext:
    """What a valid user access token stands for."""

    token: AccessToken
    user: User
    client: OAuthClient
    offline_grant: OfflineGrant | None
    idp_session: IdPSession | None

    @property
    def scopes(self) -> list[str]:
        return list(self.token.scopes or [])

    @property
    def sid(self) -> str:
        if self.offline_grant is not None:
            return encode_sid(SID_OFFLINE_GRANT, self.offline_grant.id)
        assert self.idp_session is not None
        return encode_sid(SID_IDP, self.idp_session.id)

    @property
    def auth_time(self) -> datetime:
        source = self.offline_grant or self.idp_session
        assert source is not None
        return source.authenticated_at

    @property
    def amr(self) -> list[str]:
        source = self.offline_grant or self.idp_session
        return list((source.amr if source else None) or [])


class OIDCProvider:
    def __init__(self, svc: Services) -> None:
        config = svc.config
        self.svc = svc
        self.config = config
        self.clock = svc.clock
        self.issuer = config.public_origin
        self.clients = ClientRegistry(config)
        self.keys = SigningKeys.from_config(config)
        self.claims = ClaimsService(config.project)
        self.id_tokens = IdTokenIssuer(self.keys, self.claims, self.issuer, self.clock)
        self.access_tokens = AccessTokenService(self.keys, self.issuer, self.clock)
        self.offline_grants = OfflineGrantService(svc.audit, self.clock, self.claims)
        self.codes = CodeService(self.clock)
        self.authorizations = AuthorizationService(self.clock)
        self.pending = PendingStore(svc.store)

    # -- sessions ---------------------------------------------------------------------------------
    def live_session(self, cookie_value: str | None) -> tuple[IdPSession, User] | None:
        """The IdP session of a cookie when it is live and its user may sign in."""
        found = self.svc.sessions.resolve_with_user(cookie_value)
        if found is None or not self.claims.is_active(found[1], self.clock()):
            return None
        return found

    def resolve_access_token(self, token: str | None) -> AccessContext | None:
        """A user access token that is unexpired, whose session lives and whose user is active.

        One statement: the token row with its user and its offline grant or IdP session."""
        token_hash = self.access_tokens.hash_of(token or "")
        if token_hash is None:
            return None
        found = db.session.execute(_TOKEN_WITH_CONTEXT, {"token_hash": token_hash}).first()
        if found is None:
            return None
        row, user, grant, session = found
        client = self.clients.get(row.client_id)
        if client is None or row.expires_at <= self.clock():
            return None
        if row.offline_grant_id:
            if grant is None or not self.offline_grants.is_live(grant, client):
                return None
            session = None
        elif row.idp_session_id:
            if session is None or not self.svc.sessions.is_live(session):
                return None
        else:
            return None
        if not self.claims.is_active(user, self.clock()):
            return None
        return AccessContext(row, user, client, grant, session)


def oidc_provider() -> OIDCProvider:
    """The provider of the current app (for the OIDC transport)."""
    return current_app.extensions[EXTENSION_KEY]

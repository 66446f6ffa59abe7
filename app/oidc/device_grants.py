"""Sessions that an SDK starts without a browser (contract 1.4, 1.9): anonymous users, with a
device key (`urn:authgear:params:oauth:grant-type:anonymous-request`) or without one (the Web SDK's
`/api/anonymous_user/signup`).

What they issue is Authgear's: scopes `openid offline_access full-access`, a new offline grant
authenticated now, an access token, its refresh token and an ID token; first-party public clients
only (the full-access scope). Errors follow Authgear's token handler: a bad JWT, a replayed or
unknown challenge or a wrong key is `invalid_grant` "InvalidCredentials"; anonymous users turned off
`unauthorized_client` "AnonymousUserDisallowed".
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin

from app.context import RequestContext
from app.identities.anonymous import AnonymousIdentityService, AnonymousUserDisallowed
from app.identities.models import User
from app.oidc import token_rate_limits
from app.oidc.challenges import Challenges
from app.oidc.clients import OAuthClient
from app.oidc.device_keys import InvalidDeviceRequest, parse_unverified, public_jwk, verify
from app.oidc.id_token import SID_OFFLINE_GRANT, encode_sid
from app.oidc.provider import OIDCProvider
from app.oidc.scopes import FULL_ACCESS, OFFLINE_ACCESS, OPENID
from app.services import Services

ANONYMOUS_REQUEST_GRANT = "urn:authgear:params:oauth:grant-type:anonymous-request"
ANONYMOUS_REQUEST_TYP = "vnd.authgear.anonymous-request"
DEVICE_SESSION_SCOPES = [OPENID, OFFLINE_ACCESS, FULL_ACCESS]
UNSUPPORTED_CLIENT = (
    "Anonymous user is not supported by the client application type. Try using SPA, Traditional Web App, "
    "or Native App client types if applicable."
)


def anonymous_identities(svc: Services) -> AnonymousIdentityService:
    return AnonymousIdentityService(svc.config.project, svc.audit, svc.clock)


def issue_device_session(
    provider: OIDCProvider,
    client: OAuthClient,
    user: User,
    amr: list[str],
    ctx: RequestContext,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    """A new offline grant of `user` in `client`, authenticated now, and its first tokens (the
    refresh token is `<grant id>.<secret>`)."""
    p = provider
    scopes = list(scopes or DEVICE_SESSION_SCOPES)
    p.authorizations.grant(user.id, client.client_id, scopes)
    now = p.clock()
    grant, refresh_token = p.offline_grants.create(
        client=client, user_id=user.id, scopes=scopes, idp_session_id=None, auth_time=now, amr=amr, ctx=ctx
    )
    sid = encode_sid(SID_OFFLINE_GRANT, grant.id)
    custom = p.claims.user_facts(user).custom_claims() if client.issues_jwt_access_tokens else None
    access = p.access_tokens.issue_for_user(
        client=client,
        user_id=user.id,
        scopes=scopes,
        offline_grant_id=grant.id,
        idp_session_id=None,
        sid=sid,
        auth_time=now,
        amr=amr,
        user_claims=custom,
    )
    p.svc.users.record_login(user)
    p.svc.audit.write("oauth.token.issued", ctx, user.id, {"client_id": client.client_id, "grant": "device"})
    return {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "scope": " ".join(scopes),
        "refresh_token": refresh_token,
        "id_token": p.id_tokens.issue(
            client=client, user=user, sid=sid, auth_time=now, amr=amr, scopes=scopes, nonce=None
        ),
    }


def authenticate_anonymous(svc: Services, jwt: object, ctx: RequestContext, action: str = "auth") -> User:
    """The anonymous user of a device-key request, created on the key's first use (action `auth`).
    Raises `InvalidDeviceRequest` or `AnonymousUserDisallowed`."""
    request = parse_unverified(jwt, ANONYMOUS_REQUEST_TYP, svc.clock())
    # The challenge goes whatever happens next: a JWT is good for one request only.
    if not Challenges(svc.store, svc.clock).consume(request.challenge, "anonymous_request"):
        raise InvalidDeviceRequest("invalid challenge")
    if request.action != action:
        raise InvalidDeviceRequest("invalid action")
    identities = anonymous_identities(svc)
    identity = identities.by_key_id(request.key_id)
    if identity is not None:
        try:
            verify(request, identities.jwk_of(identity))
        except InvalidDeviceRequest:
            svc.audit.write("authentication.identity.anonymous.failed", ctx, identity.user_id, {})
            raise
        return identity.user
    if action != "auth" or request.jwk is None:
        raise InvalidDeviceRequest("unknown key")
    verify(request, None)
    user, _ = identities.create_user(ctx, request.key_id, public_jwk(request))
    return user


class AnonymousRequestGrant(BaseGrant, TokenEndpointMixin):
    """`urn:authgear:params:oauth:grant-type:anonymous-request` with `jwt` (and `client_id`)."""

    GRANT_TYPE = ANONYMOUS_REQUEST_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def validate_token_request(self) -> None:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.full_access_allowed:
            raise UnauthorizedClientError(UNSUPPORTED_CLIENT)
        if not self.request.form.get("jwt"):
            raise InvalidRequestError("jwt is required")
        self.request.client = client

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        server: Any = self.server
        provider: OIDCProvider = server.provider
        ctx = server.request_context()
        try:
            user = authenticate_anonymous(provider.svc, self.request.form["jwt"], ctx)
        except AnonymousUserDisallowed:
            raise UnauthorizedClientError("AnonymousUserDisallowed") from None
        except InvalidDeviceRequest:
            raise InvalidGrantError("InvalidCredentials") from None
        if not provider.claims.is_active(user, provider.clock()):
            raise InvalidGrantError("InvalidCredentials")
        token_rate_limits.per_user(provider, user.id)
        body = issue_device_session(provider, self.request.client, user, [], ctx)
        return 200, body, self.TOKEN_RESPONSE_HEADER

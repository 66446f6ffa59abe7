"""`urn:authgear:params:oauth:grant-type:biometric-request` (contract 1.4, 1.9): biometric sign-in
for Authgear's mobile SDKs, with a device key JWT (`typ: vnd.authgear.biometric-request`) over a
challenge of purpose `biometric_request`.

- `action: setup` (header `jwk`, payload `device_info`) adds the key as a biometric identity of the
  user whose access token (with the full-access scope) is the request's bearer token; the answer is
  `{}`. Without one: `401 invalid_grant` "biometric setup requires authenticated user".
- `action: authenticate` (header `kid`) signs in with a key set up before: a new offline grant, with
  the scopes asked for (they must hold `offline_access` and full-access; by default `openid
  offline_access full-access`), `amr: ["x_biometric"]`, replacing the grant the key's last sign-in
  made.

Errors as Authgear's token handler answers them: biometric turned off `unauthorized_client`
"BiometricDisallowed"; a bad, expired or replayed JWT, a used challenge, an unknown or wrong key
`invalid_grant` "InvalidCredentials"; an anonymous user's setup `unauthorized_client`
"AnonymousUserAddIdentity"; a client without the full-access scope `unauthorized_client`.
"""

from __future__ import annotations

import json
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin

from app.context import RequestContext
from app.crypto import b64url_decode
from app.errors import InvariantViolated
from app.extensions import db
from app.identities.biometric import (
    AMR_BIOMETRIC,
    AnonymousUserAddIdentity,
    BiometricDisallowed,
    BiometricIdentityService,
    device_model,
)
from app.identities.models import User
from app.oidc import token_rate_limits
from app.oidc.challenges import Challenges
from app.oidc.clients import OAuthClient
from app.oidc.device_grants import DEVICE_SESSION_SCOPES, issue_device_session
from app.oidc.device_keys import DeviceRequest, InvalidDeviceRequest, parse_unverified, public_jwk, verify
from app.oidc.provider import OIDCProvider
from app.oidc.scopes import FULL_ACCESS, OFFLINE_ACCESS, ScopeError, parse_scope, validate_user_scopes
from app.services import Services
from app.sessions.models import OfflineGrant

BIOMETRIC_REQUEST_GRANT = "urn:authgear:params:oauth:grant-type:biometric-request"
BIOMETRIC_REQUEST_TYP = "vnd.authgear.biometric-request"


def biometric_identities(svc: Services) -> BiometricIdentityService:
    return BiometricIdentityService(svc.config.project, svc.audit, svc.clock)


def _read_request(svc: Services, jwt: object) -> DeviceRequest:
    """The request, its challenge used up (whatever happens next, a JWT is good for one request)."""
    request = parse_unverified(jwt, BIOMETRIC_REQUEST_TYP, svc.clock())
    if not Challenges(svc.store, svc.clock).consume(request.challenge, "biometric_request"):
        raise InvalidDeviceRequest("invalid challenge")
    return request


def set_up(svc: Services, user: User, jwt: object, ctx: RequestContext) -> None:
    """Adds the request's key as a biometric identity of `user` (not committed)."""
    identities = biometric_identities(svc)
    identities.check_enabled()
    request = _read_request(svc, jwt)
    device_info = request.payload.get("device_info")
    if request.action != "setup" or request.jwk is None or not device_model(device_info):
        raise InvalidDeviceRequest("invalid setup request")
    verify(request, None)
    assert isinstance(device_info, dict)
    identities.create(user, request.key_id, public_jwk(request), device_info, ctx)


def authenticate(svc: Services, jwt: object, ctx: RequestContext) -> tuple[User, Any]:
    """The user and identity of a key set up before, its signature checked."""
    identities = biometric_identities(svc)
    identities.check_enabled()
    request = _read_request(svc, jwt)
    if request.action != "authenticate":
        raise InvalidDeviceRequest("invalid action")
    identity = identities.by_key_id(request.key_id)
    if identity is None:
        raise InvalidDeviceRequest("unknown key")
    try:
        verify(request, identities.jwk_of(identity))
    except InvalidDeviceRequest:
        svc.audit.write("authentication.identity.biometric.failed", ctx, identity.user_id, {})
        raise
    return identity.user, identity


def _action_of(jwt: str) -> str:
    """The payload's `action`, read before anything is checked (Authgear dispatches on it)."""
    parts = jwt.split(".")
    try:
        payload = json.loads(b64url_decode(parts[1])) if len(parts) == 3 else None
    except (ValueError, TypeError):
        payload = None
    if not isinstance(payload, dict):
        raise InvalidRequestError("invalid JWT")
    action = payload.get("action")
    if action not in ("setup", "authenticate"):
        raise InvalidRequestError(f"invalid action: {action}")
    return str(action)


class BiometricRequestGrant(BaseGrant, TokenEndpointMixin):
    """`urn:authgear:params:oauth:grant-type:biometric-request` with `jwt` (and `client_id`, `scope`)."""

    GRANT_TYPE = BIOMETRIC_REQUEST_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def validate_token_request(self) -> None:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.full_access_allowed:
            raise UnauthorizedClientError("this client may not use biometric authentication")
        jwt = self.request.form.get("jwt")
        if not jwt:
            raise InvalidRequestError("jwt is required")
        self.request.client = client
        self.request.biometric_action = _action_of(jwt)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        server: Any = self.server
        provider: OIDCProvider = server.provider
        ctx = server.request_context()
        client: OAuthClient = self.request.client
        try:
            if self.request.biometric_action == "setup":
                return self._setup(provider, ctx)
            return self._authenticate(provider, client, ctx)
        except BiometricDisallowed:
            raise UnauthorizedClientError("BiometricDisallowed") from None
        except AnonymousUserAddIdentity:
            raise UnauthorizedClientError("AnonymousUserAddIdentity") from None
        except InvalidDeviceRequest:
            raise InvalidGrantError("InvalidCredentials") from None
        except InvariantViolated as error:  # a key set up already: DuplicatedIdentity
            raise InvalidRequestError(error.reason) from None

    def _setup(self, provider: OIDCProvider, ctx: RequestContext) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        scheme, _, token = (self.request.headers.get("Authorization") or "").partition(" ")
        access = provider.resolve_access_token(token.strip()) if scheme.lower() == "bearer" else None
        # The user's own app session: a token with the full-access scope (what the SDK holds).
        if access is None or FULL_ACCESS not in access.scopes:
            raise InvalidGrantError("biometric setup requires authenticated user", status_code=401)
        set_up(provider.svc, access.user, self.request.form["jwt"], ctx)
        db.session.commit()
        return 200, {}, self.TOKEN_RESPONSE_HEADER

    def _authenticate(
        self, provider: OIDCProvider, client: OAuthClient, ctx: RequestContext
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        svc = provider.svc
        try:
            user, identity = authenticate(svc, self.request.form["jwt"], ctx)
        finally:
            db.session.commit()  # the used challenge and a failed attempt's audit row stay
        if not provider.claims.is_active(user, provider.clock()):
            raise InvalidGrantError("InvalidCredentials")
        token_rate_limits.per_user(provider, user.id)
        scopes = parse_scope(self.request.form.get("scope")) or list(DEVICE_SESSION_SCOPES)
        try:
            validate_user_scopes(client, scopes)
        except ScopeError as error:
            raise error.as_oauth_error() from None
        if OFFLINE_ACCESS not in scopes or FULL_ACCESS not in scopes:
            raise InvalidScopeError("offline_access and full-access must be requested")
        identities = biometric_identities(svc)
        previous = identities.last_grant_id(identity)
        if previous:
            grant = db.session.get(OfflineGrant, previous)
            if grant is not None and grant.user_id == user.id:
                provider.offline_grants.revoke(grant, ctx)
        amr = [AMR_BIOMETRIC]
        body = issue_device_session(provider, client, user, amr, ctx, scopes=scopes)
        identities.remember_grant(identity, body["refresh_token"].partition(".")[0])
        svc.audit.write("user.authenticated", ctx, user.id, {"amr": amr})
        return 200, body, self.TOKEN_RESPONSE_HEADER

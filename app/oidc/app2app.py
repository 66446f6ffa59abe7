"""App2app (Authgear's app-to-app authorization): an app already signed in (A) authorizes another app
of the same project (B) on the same device, without a browser.

1. A signs in with the authorization code flow and sends, with the code, `x_app2app_device_key_jwt`:
   a JWT (`typ: vnd.authgear.app2app-request`, header `jwk`) signed by a key A keeps on the device,
   over a challenge of purpose `app2app_request`. When A's client has `x_app2app_enabled`, the key is
   bound to the new offline grant.
2. B opens A (a universal link) with its own client ID, redirect URI and PKCE challenge; A calls
   `urn:authgear:params:oauth:grant-type:app2app-request` with B's `client_id`, `redirect_uri`,
   `code_challenge`, its own `refresh_token` and a new device-key `jwt`. The answer is `{"code"}`,
   an authorization code of B for A's user, with the scopes of A's grant; B exchanges it as usual.

Client keys (`oauth.clients[]`): `x_app2app_enabled` (B, and A for its key to be bound) and
`x_app2app_insecure_device_key_binding_enabled` (A: a grant without a bound key takes the key of its
first app2app request). The project needs `oauth.client.app2app_enabled: true` in
authgear.features.yaml, as in Authgear (off by default).

Errors are Authgear's token handler's: a JWT that cannot be read (type, times, no `jwk`, key ID)
`invalid_request` "invalid app2app jwt payload"; an unknown, used or other-purpose challenge "invalid
app2app jwt challenge"; a signature not made by the bound key "invalid app2app jwt signature"; a grant
without a bound key `invalid_grant` "app2app is not allowed in current session".
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin

from app.extensions import db
from app.oidc import token_rate_limits
from app.oidc.challenges import Challenges
from app.oidc.clients import OAuthClient
from app.oidc.codes import SessionlessLogin
from app.oidc.device_keys import DeviceRequest, InvalidDeviceRequest, parse_unverified, public_jwk, verify
from app.oidc.offline_grants import OfflineGrantService, RefreshStatus
from app.oidc.provider import OIDCProvider
from app.oidc.scopes import ScopeError, validate_user_scopes
from app.services import Services
from app.sessions.models import OfflineGrant

APP2APP_REQUEST_GRANT = "urn:authgear:params:oauth:grant-type:app2app-request"
APP2APP_REQUEST_TYP = "vnd.authgear.app2app-request"
DEVICE_KEY_JWT_PARAM = "x_app2app_device_key_jwt"
_PKCE_CHALLENGE_MAX = 128


def client_enabled(client: OAuthClient | None) -> bool:
    return client is not None and bool(client.config.get("x_app2app_enabled", False))


def insecure_binding_enabled(client: OAuthClient | None) -> bool:
    return client is not None and bool(client.config.get("x_app2app_insecure_device_key_binding_enabled", False))


def feature_enabled(svc: Services) -> bool:
    """`oauth.client.app2app_enabled` of authgear.features.yaml (Authgear's default: false)."""
    oauth = (svc.config.features or {}).get("oauth") or {}
    return bool((oauth.get("client") or {}).get("app2app_enabled", False))


def _read(svc: Services, jwt: object) -> DeviceRequest:
    """The request, unverified, its challenge used up (whatever happens next)."""
    try:
        request = parse_unverified(jwt, APP2APP_REQUEST_TYP, svc.clock())
    except InvalidDeviceRequest:
        raise InvalidRequestError("invalid app2app jwt payload") from None
    if request.jwk is None:  # Authgear: "no app2app key provided"
        raise InvalidRequestError("invalid app2app jwt payload")
    if not Challenges(svc.store, svc.clock).consume(request.challenge, "app2app_request"):
        raise InvalidRequestError("invalid app2app jwt challenge")
    return request


def _check_signature(request: DeviceRequest, jwk: dict[str, Any] | None) -> None:
    try:
        verify(request, jwk)
    except InvalidDeviceRequest:
        raise InvalidRequestError("invalid app2app jwt signature") from None


def _header_key(request: DeviceRequest) -> dict[str, Any]:
    try:
        return public_jwk(request)
    except InvalidDeviceRequest:
        raise InvalidRequestError("invalid app2app jwt payload") from None


def verified_device_key(svc: Services, jwt: object) -> dict[str, Any]:
    """The public key of an `x_app2app_device_key_jwt`, its challenge used and its signature checked
    with the header's own key (the key proves it holds itself)."""
    request = _read(svc, jwt)
    _check_signature(request, None)
    return _header_key(request)


def _same_key(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    if not a:
        return False
    dump = json.dumps(a, sort_keys=True).encode()
    return hmac.compare_digest(dump, json.dumps(b, sort_keys=True).encode())


def bind_device_key(client: OAuthClient, grant: OfflineGrant, key: dict[str, Any]) -> None:
    """Authgear's app2appUpdateDeviceKeyIfNeeded: a grant keeps the first key bound to it."""
    if _same_key(grant.app2app_device_key, key):
        return
    if grant.app2app_device_key:
        raise InvalidGrantError("app2app device key cannot be changed")
    grant.app2app_device_key = key
    db.session.flush()


def device_key_of_code_request(provider: OIDCProvider, client: OAuthClient, form: Any) -> dict[str, Any] | None:
    """The key an authorization code exchange asks to bind (`x_app2app_device_key_jwt`), checked;
    None without one or when the client has no app2app."""
    jwt = form.get(DEVICE_KEY_JWT_PARAM)
    if not jwt or not client_enabled(client):
        return None
    try:
        return verified_device_key(provider.svc, jwt)
    finally:
        db.session.commit()  # the used challenge stays used


def bind_after_code(code_row: Any, key: dict[str, Any] | None) -> None:
    """Binds `key` to the offline grant an authorization code has just issued (a new grant: set as it
    is, as Authgear's IssueOfflineGrant does)."""
    if key is None:
        return
    grant_id = ((code_row.extra or {}).get("issued") or {}).get("offline_grant_id")
    grant = db.session.get(OfflineGrant, grant_id) if grant_id else None
    if grant is not None:
        grant.app2app_device_key = key
        db.session.flush()


class App2AppRequestGrant(BaseGrant, TokenEndpointMixin):
    """`urn:authgear:params:oauth:grant-type:app2app-request` with `client_id` (the app asking),
    `redirect_uri`, `refresh_token` (the signed-in app's), `jwt` and optionally `code_challenge`."""

    GRANT_TYPE = APP2APP_REQUEST_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def validate_token_request(self) -> None:
        form = self.request.form
        # Authgear's validateRequestWithoutTx, in its order.
        if not form.get("jwt"):
            raise InvalidRequestError("jwt is required")
        if not form.get("refresh_token"):
            raise InvalidRequestError("refresh token is required")
        if not form.get("client_id") and not self.request.headers.get("Authorization"):
            raise InvalidRequestError("client id is required")
        if not form.get("redirect_uri"):
            raise InvalidRequestError("redirect uri is required")
        challenge = form.get("code_challenge")
        if challenge and form.get("code_challenge_method") != "S256":
            raise InvalidRequestError("only 'S256' PKCE transform is supported")
        if challenge and len(challenge) > _PKCE_CHALLENGE_MAX:
            raise InvalidRequestError("invalid code_challenge")
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client_enabled(client):
            raise UnauthorizedClientError("this client may not use app2app authentication")
        if not feature_enabled(self.server.provider.svc):
            raise InvalidRequestError("app2app disabled")
        if not client.check_redirect_uri(form["redirect_uri"]):
            raise InvalidRequestError("redirect URI is not allowed")
        self.request.client = client

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        server: Any = self.server
        provider: OIDCProvider = server.provider
        svc = provider.svc
        client: OAuthClient = self.request.client
        form = self.request.form

        found = OfflineGrantService.grant_to_revoke(form["refresh_token"])
        original_client = provider.clients.get(found.client_id) if found is not None else None
        check = provider.offline_grants.check(form["refresh_token"], original_client)
        if check.status is not RefreshStatus.OK or check.grant is None or check.user is None:
            raise InvalidGrantError("invalid refresh token")
        grant, user = check.grant, check.user
        if not provider.claims.is_active(user, provider.clock()):
            raise InvalidGrantError("invalid refresh token")
        token_rate_limits.per_user(provider, user.id)

        try:
            request = _read(svc, form["jwt"])
        finally:
            db.session.commit()  # the used challenge stays used
        if not grant.app2app_device_key:
            if not insecure_binding_enabled(original_client) or not client_enabled(original_client):
                raise InvalidGrantError("app2app is not allowed in current session")
            assert original_client is not None
            bind_device_key(original_client, grant, _header_key(request))
        _check_signature(request, grant.app2app_device_key)

        scopes = list(grant.scopes or [])
        try:
            validate_user_scopes(client, scopes)
        except ScopeError as error:
            raise error.as_oauth_error() from None
        provider.authorizations.grant(user.id, client.client_id, scopes)
        challenge = form.get("code_challenge") or None
        code = provider.codes.create(
            client_id=client.client_id,
            session=SessionlessLogin(user_id=user.id, authenticated_at=provider.clock(), amr=[]),
            redirect_uri=form["redirect_uri"],
            scopes=scopes,
            nonce=None,
            code_challenge=challenge,
            code_challenge_method="S256" if challenge else None,
            extra={"sessionless": True, "app2app": True},
        )
        svc.audit.write(
            "oauth.app2app.code_issued",
            server.request_context(),
            user.id,
            {"client_id": client.client_id, "original_client_id": grant.client_id},
        )
        return 200, {"code": code}, self.TOKEN_RESPONSE_HEADER

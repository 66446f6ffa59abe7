"""Pre-authenticated URLs (Authgear's docs/specs/pre-authenticated-url.md): a native app signed in
with `device_sso` and the pre-authenticated-url scope opens a web app in the browser as its user.

1. The app (client A, `x_pre_authenticated_url_enabled`) signs in with
   `scope=openid offline_access device_sso https://authgear.com/scopes/pre-authenticated-url`; the code
   exchange answers a `device_secret` and an ID token with `ds_hash` (app/oidc/device_secrets.py).
2. It calls the token exchange grant `urn:ietf:params:oauth:grant-type:token-exchange` with the web
   app's `client_id` (client B), `subject_token` (the ID token), `subject_token_type`
   `urn:ietf:params:oauth:token-type:id_token`, `actor_token` (the device secret), `actor_token_type`
   `urn:x-oath:params:oauth:token-type:device-secret`, `requested_token_type`
   `urn:authgear:params:oauth:token-type:pre-authenticated-url-token`, `audience` (the issuer) and
   optionally `scope` (within the grant's). The answer: `access_token` (the pre-authenticated URL
   token: one use, five minutes), `issued_token_type`, `token_type: Bearer`, `expires_in`, a new
   `device_secret` and a new `id_token` (for B, with the new `ds_hash`).
3. The browser opens `/oauth2/authorize` with B's `client_id`, `response_type=urn:authgear:params:oauth:
   response-type:pre-authenticated-url token`, `response_mode=cookie`, `prompt=none`, `id_token_hint`
   (that new ID token), `x_pre_authenticated_url_token`, a `redirect_uri` whose origin is one of B's
   `x_pre_authenticated_url_allowed_origins` (or a registered URI) and `state`. The token is used up
   and the browser is redirected to the URI with `state`, signed in as the app's user.

Errors are Authgear's (pkg/lib/oauth/handler/handler_token.go handlePreAuthenticatedURLToken,
handler_authz.go). Authgear's browser gets an `app_access_token` cookie (an access token of a
short-lived refresh token of A's offline grant); Gatehouse's gets an app session of A's grant
(app/oidc/app_sessions.py) with the same life: it carries the grant's authentication, ends when B's
access token would (`access_token_lifetime_seconds`) or with the grant, and, the grant holding the
pre-authenticated-url scope, answers B's `prompt=none` as Authgear's cookie does.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Error, UnauthorizedClientError
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin
from flask import Response
from werkzeug.datastructures import MultiDict

from app.context import RequestContext
from app.crypto import sha256_hex
from app.extensions import db
from app.identities.models import User
from app.oidc import device_secrets, token_rate_limits
from app.oidc.app_sessions import open_session
from app.oidc.authz_request import AuthorizeError, redirect_allowed
from app.oidc.clients import OAuthClient
from app.oidc.id_token import SID_IDP, SID_OFFLINE_GRANT, decode_sid, encode_sid
from app.oidc.provider import OIDCProvider
from app.oidc.responses import authorization_response
from app.oidc.scopes import PRE_AUTHENTICATED_URL, ScopeError, parse_scope, validate_user_scopes
from app.one_time import OneTimeSecrets
from app.sessions.models import OfflineGrant

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a grant type)
PRE_AUTHENTICATED_URL_TOKEN_TYPE = "urn:authgear:params:oauth:token-type:pre-authenticated-url-token"  # noqa: S105
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 (a token type)
DEVICE_SECRET_TYPE = "urn:x-oath:params:oauth:token-type:device-secret"  # noqa: S105 (a token type)
RESPONSE_TYPE = "urn:authgear:params:oauth:response-type:pre-authenticated-url token"
TOKEN_PARAM = "x_pre_authenticated_url_token"  # noqa: S105 (a parameter name)
TOKEN_LIFETIME = timedelta(minutes=5)  # Authgear's duration.Short


class InsufficientScopeError(OAuth2Error):
    error = "insufficient_scope"


def _oauth_error(error: str, description: str) -> OAuth2Error:
    out = OAuth2Error(description)
    out.error = error
    return out


def is_pre_authenticated_url_request(params: MultiDict) -> bool:
    """Authgear compares response types as sets of space-separated words."""
    values = params.getlist("response_type")
    return len(values) == 1 and sorted(values[0].split()) == sorted(RESPONSE_TYPE.split())


def allowed_origins(client: OAuthClient) -> list[str]:
    return [o for o in client.config.get("x_pre_authenticated_url_allowed_origins") or [] if isinstance(o, str)]


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


class PreAuthenticatedURLTokens:
    """The one-use tokens of step 2, kept in the key-value store as Authgear keeps them in Redis."""

    def __init__(self, provider: OIDCProvider) -> None:
        self.secrets = OneTimeSecrets(provider.svc.store, "pre_authenticated_url_token", TOKEN_LIFETIME, provider.clock)

    def issue(self, client_id: str, offline_grant_id: str, scopes: list[str]) -> str:
        token, _ = self.secrets.issue({"client_id": client_id, "offline_grant_id": offline_grant_id, "scopes": scopes})
        return token

    def take(self, token: str) -> dict[str, Any] | None:
        return self.secrets.take(token)


# -- step 2: the token exchange grant -------------------------------------------------------------


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):
    """`urn:ietf:params:oauth:grant-type:token-exchange` for a pre-authenticated URL token (the only
    token type Authgear exchanges), checked in Authgear's order."""

    GRANT_TYPE = TOKEN_EXCHANGE_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def validate_token_request(self) -> None:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if client.application_type == "m2m":
            raise UnauthorizedClientError("grant type is not allowed for this client")
        form = self.request.form
        if form.get("requested_token_type") != PRE_AUTHENTICATED_URL_TOKEN_TYPE:
            raise InvalidRequestError("requested_token_type not supported")
        if form.get("actor_token_type") != DEVICE_SECRET_TYPE:
            raise InvalidRequestError(f"expected actor_token_type = {DEVICE_SECRET_TYPE}")
        if form.get("subject_token_type") != ID_TOKEN_TYPE:
            raise InvalidRequestError(f"expected subject_token_type = {ID_TOKEN_TYPE}")
        if not form.get("actor_token"):
            raise InvalidRequestError("actor_token is required")
        if not form.get("subject_token"):
            raise InvalidRequestError("subject_token is required")
        self.request.client = client

    def _grant_of(self, claims: dict[str, Any]) -> OfflineGrant | None:
        """The session named by the ID token's `sid`: an offline grant; an IdP session is refused."""
        provider: OIDCProvider = self.server.provider  # type: ignore[attr-defined]
        sid = decode_sid(claims.get("sid"))
        if sid is None:
            raise InvalidGrantError("sid in id token (subject_token) is invalid")
        if sid[0] == SID_IDP:
            raise InvalidGrantError("invalid session type")
        grant = db.session.get(OfflineGrant, sid[1])
        if grant is None or not provider.offline_grants.is_live(grant, provider.clients.get(grant.client_id)):
            return None
        return grant

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        server: Any = self.server
        provider: OIDCProvider = server.provider
        client: OAuthClient = self.request.client
        form = self.request.form

        verified = provider.keys.verify(form["subject_token"])
        if verified is None:
            raise InvalidRequestError("subject_token is not a valid id token")
        claims = verified[1]
        if form.get("audience") != provider.issuer:
            raise InvalidRequestError(f"expected audience to be {provider.issuer}")
        grant = self._grant_of(claims)
        if grant is None or PRE_AUTHENTICATED_URL not in (grant.scopes or []):
            raise InsufficientScopeError("pre-authenticated url is not allowed for this session")
        user = db.session.get(User, grant.user_id)
        if not provider.claims.is_active(user, provider.clock()):
            raise InsufficientScopeError("pre-authenticated url is not allowed for this session")
        token_rate_limits.per_user(provider, grant.user_id)
        _check_device_secret(grant, claims, form["actor_token"])

        scopes = list(grant.scopes or [])
        requested = parse_scope(form.get("scope"))
        if requested:
            if not set(requested) <= set(scopes):
                raise _oauth_error("invalid_scope", "requesting extra scopes is not allowed")
            try:
                validate_user_scopes(client, requested)
            except ScopeError as error:
                raise error.as_oauth_error() from None
            scopes = requested
        provider.authorizations.grant(grant.user_id, client.client_id, scopes)

        token = PreAuthenticatedURLTokens(provider).issue(client.client_id, grant.id, scopes)
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "issued_token_type": PRE_AUTHENTICATED_URL_TOKEN_TYPE,
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
        }
        ds_hash = device_secrets.issue(grant, body)
        # For use as the authorize request's id_token_hint: no scope-released attributes.
        body["id_token"] = provider.id_tokens.issue(
            client=client,
            user=user,
            sid=encode_sid(SID_OFFLINE_GRANT, grant.id),
            auth_time=grant.authenticated_at,
            amr=list(grant.amr or []),
            scopes=[],
            ds_hash=ds_hash,
        )
        provider.svc.audit.write(
            "oauth.pre_authenticated_url_token.issued",
            server.request_context(),
            grant.user_id,
            {"client_id": client.client_id, "offline_grant_id": grant.id},
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER


def _check_device_secret(grant: OfflineGrant, claims: dict[str, Any], device_secret: str) -> None:
    """Authgear's verifyIDTokenDeviceSecretHash: every check is made; the last failing one answers."""
    secret_hash = sha256_hex(device_secret)
    error = None
    ds_hash = claims.get("ds_hash")
    if "ds_hash" not in claims:
        error = "expected ds_hash to be present in id token (subject_token)"
    if not isinstance(ds_hash, str):
        error = "expected ds_hash to be a string"
        ds_hash = ""
    if not hmac.compare_digest(ds_hash.encode(), secret_hash.encode()):
        error = "the hash of device_secret (actor_token) does not match ds_hash in id token (subject_token)"
    if not hmac.compare_digest((grant.device_secret_hash or "").encode(), secret_hash.encode()):
        error = "the device_secret (actor_token) does not bind to the session"
    if error:
        raise InvalidGrantError(error)


# -- step 3: the authorization endpoint ---------------------------------------------------------


def _redirect_uri(provider: OIDCProvider, client: OAuthClient, params: MultiDict) -> str:
    """Authgear's parseRedirectURI with the client's allowed origins whitelisted; errors are shown on
    a page (no redirect URI to trust yet)."""
    values = params.getlist("redirect_uri")
    if len(values) > 1:
        raise AuthorizeError("invalid_request", "invalid redirect URI")
    uri = values[0] if values else ""
    if not uri and len(client.redirect_uris) == 1:
        uri = client.redirect_uris[0]
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc:
        raise AuthorizeError("invalid_request", "redirect URI is not allowed")
    if redirect_allowed(client, uri, provider.issuer) or _origin(uri) in {_origin(o) for o in allowed_origins(client)}:
        return uri
    raise AuthorizeError("invalid_request", "redirect URI is not allowed")


def handle_authorize(provider: OIDCProvider, params: MultiDict, ctx: RequestContext) -> tuple[Response, str | None]:
    """Step 3. Returns the response and, when the browser was signed in, the new app session's cookie
    value (the route sets it). Raises `AuthorizeError`."""
    client = provider.clients.get(params.get("client_id"))
    if client is None:
        raise AuthorizeError("unauthorized_client", "invalid client ID")
    if client.application_type == "m2m":
        raise AuthorizeError("unauthorized_client", "m2m clients are not allowed to use the authorize endpoint")
    redirect_uri = _redirect_uri(provider, client, params)
    state = params.get("state") or None

    def fail(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri, "query", state)

    prompt = (params.get("prompt") or "").split()
    if "none" in prompt and len(prompt) != 1:
        raise fail("invalid_request", "prompt cannot have other values when none is set")
    if "none" in prompt and params.get("max_age"):
        raise fail("invalid_request", "max_age could imply prompt=login so max_age cannot be present when prompt=none")
    if prompt != ["none"]:
        raise fail("invalid_request", "only 'prompt=none' is supported when using pre-authenticated url")
    if not params.get("id_token_hint"):
        raise fail("invalid_request", "id_token_hint is required when using pre-authenticated url")
    if not params.get(TOKEN_PARAM):
        raise fail("invalid_request", "x_pre_authenticated_url_token is required when using pre-authenticated url")
    if params.get("response_mode") != "cookie":
        raise fail("invalid_request", "only 'response_mode=cookie' is supported when using pre-authenticated url")

    verified = provider.keys.verify(params["id_token_hint"])
    if verified is None:
        raise fail("invalid_request", "invalid id_token_hint")
    claims = verified[1]
    if "sid" not in claims:
        raise fail("invalid_request", "required sid in id_token_hint")
    if not isinstance(claims["sid"], str):
        raise fail("invalid_request", "sid is not a string in id_token_hint")
    sid = decode_sid(claims["sid"])
    if sid is None:
        raise fail("invalid_request", "invalid sid format id_token_hint")

    # The token is used up whatever happens next, as Authgear's ConsumePreAuthenticatedURLToken.
    payload = PreAuthenticatedURLTokens(provider).take(params[TOKEN_PARAM])
    if payload is None:
        raise fail("invalid_request", "invalid x_pre_authenticated_url_token")
    if payload.get("client_id") != client.client_id:
        raise fail("invalid_request", "incorrect client_id")
    if payload.get("offline_grant_id") != sid[1]:
        raise fail("invalid_request", "incorrect sid in id_token_hint")
    grant = db.session.get(OfflineGrant, sid[1])
    user = db.session.get(User, grant.user_id) if grant is not None else None
    if (
        grant is None
        or not provider.offline_grants.is_live(grant, provider.clients.get(grant.client_id))
        or not provider.claims.is_active(user, provider.clock())
    ):
        raise fail("invalid_request", "invalid x_pre_authenticated_url_token")

    short_lived = provider.clock() + timedelta(seconds=client.access_token_lifetime)
    session, cookie = open_session(provider, grant, ctx, short_lived)
    provider.svc.audit.write(
        "oauth.pre_authenticated_url_token.exchanged",
        ctx,
        grant.user_id,
        {"client_id": client.client_id, "offline_grant_id": grant.id, "session_id": session.id},
    )
    return authorization_response(redirect_uri, "query", {"state": state} if state else {}), cookie

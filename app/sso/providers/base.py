"""The provider protocol, and the pieces the OpenID Connect providers share.

A provider type is a module with one object that builds the authorization URL and turns the
authorization response (the callback's query or form) into a `UserProfile`. Nothing here knows about
flows or pages (Authgear's oauthrelyingparty.Provider).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode

from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.sso.errors import OAuthError, OAuthProtocolError
from app.sso.http import HTTPClient, guarded
from app.sso.stdattrs import extract

# Authgear's duration.ClockSkew for the ID token's exp/iat/nbf.
CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True)
class ProviderContext:
    config: dict[str, Any]  # the provider's entry of identity.oauth.providers (or the demo item's)
    client_secret: str
    http: HTTPClient
    clock: Callable[[], datetime]

    @property
    def type(self) -> str:
        return str(self.config["type"])

    @property
    def client_id(self) -> str:
        return str(self.config.get("client_id") or "")

    @property
    def email_required(self) -> bool:
        return bool(self.config.get("claims", {}).get("email", {}).get("required", True))


@dataclass(frozen=True)
class AuthorizationParams:
    redirect_uri: str
    response_mode: str = ""
    state: str = ""
    nonce: str = ""
    code_challenge: str = ""
    prompt: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ResponseParams:
    query: str  # the authorization response: the callback's query, or Apple's posted form, urlencoded
    redirect_uri: str
    nonce: str = ""
    code_verifier: str = ""


@dataclass
class UserProfile:
    subject: str
    raw_profile: dict[str, Any]
    standard_attributes: dict[str, Any]


class Provider(Protocol):
    type: str
    uses_nonce: bool  # the ID token carries the nonce sent in the authorization URL
    uses_pkce: bool  # RFC 7636 code challenge

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]: ...
    def authorization_url(self, ctx: ProviderContext, params: AuthorizationParams) -> str: ...
    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile: ...


def make_url(endpoint: str, params: dict[str, Any]) -> str:
    """Go's url.Values.Encode: keys sorted, empty values left out (Authgear's MakeAuthorizationURL)."""
    pairs = sorted((k, v) for k, v in params.items() if v not in ("", None, []))
    sep = "&" if "?" in endpoint else "?"
    return endpoint + sep + urlencode(pairs)


def auth_params(
    ctx: ProviderContext, params: AuthorizationParams, scope: list[str], prompt: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "client_id": ctx.client_id,
        "redirect_uri": params.redirect_uri,
        "scope": " ".join(scope),
        "response_type": "code",
        "response_mode": params.response_mode,
        "state": params.state,
        "prompt": " ".join(prompt or []),
        "nonce": params.nonce,
    }
    if params.code_challenge:
        out.update(code_challenge=params.code_challenge, code_challenge_method="S256")
    out.update(extra)
    return out


def parse_response(query: str) -> dict[str, str]:
    form = parse_qs(query.lstrip("?"), keep_blank_values=True)
    return {k: v[0] for k, v in form.items()}


def get_code(ctx: ProviderContext, query: str) -> str:
    """The `code` of an authorization response, or the provider's error (RFC 6749 section 4.1.2.1):
    `access_denied` when the user cancelled."""
    form = parse_response(query)
    if form.get("error"):
        category = "cancelled" if form["error"] == "access_denied" else ""
        raise OAuthError(
            form["error"], form.get("error_description", ""), form.get("error_uri", ""), ctx.type, category
        )
    code = form.get("code", "")
    if not code:
        raise OAuthProtocolError("code not found in the authorization response")
    return code


def exchange_code(
    ctx: ProviderContext,
    token_endpoint: str,
    code: str,
    params: ResponseParams,
    client_secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The token request (RFC 6749 section 4.1.3) with authlib's client; client_secret_post as Authgear
    sends it, the PKCE verifier when one was sent. A refused code is Authgear's OAuthError."""
    secret = ctx.client_secret if client_secret is None else client_secret
    session = ctx.http.oauth2_session(
        client_id=ctx.client_id,
        client_secret=secret,
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
        redirect_uri=params.redirect_uri,
    )
    kwargs: dict[str, Any] = {
        "code": code,
        "timeout": ctx.http.timeout,
        "headers": {"Accept": "application/json", **(headers or {})},
    }
    if params.code_verifier:
        kwargs["code_verifier"] = params.code_verifier
    try:
        with session:
            token = guarded(ctx.type, lambda: session.fetch_token(token_endpoint, **kwargs))
    except AuthlibOAuthError as exc:
        raise OAuthError(exc.error or "server_error", exc.description or "", "", ctx.type) from None
    except ValueError:
        raise OAuthProtocolError("failed to parse the token response") from None
    return dict(token)


def bearer_get(ctx: ProviderContext, url: str, token: dict[str, Any], what: str = "user profile") -> Any:
    """A resource request with the access token (RFC 6750 section 2.1)."""
    token_type = str(token.get("token_type") or "Bearer")
    token_type = {"bearer": "Bearer", "basic": "Basic", "digest": "Digest"}.get(token_type.lower(), token_type)
    headers = {"Authorization": f"{token_type} {token.get('access_token', '')}", "Accept": "application/json"}
    return ctx.http.get_json(ctx.type, url, what, headers=headers)


def hmac_sha256_hex(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


# -- OpenID Connect --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    code_challenge_methods: tuple[str, ...] = ()


def fetch_discovery(ctx: ProviderContext, url: str) -> Discovery:
    """OpenID Connect Discovery 1.0 section 4; a 404 is the provider's misconfiguration."""
    resp = ctx.http.request(ctx.type, "GET", url)
    if resp.status_code == 404:
        from app.sso.errors import InvalidConfiguration

        raise InvalidConfiguration(f"failed to fetch OIDC discovery document with HTTP status code 404: {url}")
    if resp.status_code != 200:
        raise OAuthProtocolError(f"failed to fetch OIDC discovery document: unexpected status code: {resp.status_code}")
    try:
        doc = resp.json()
    except ValueError:
        raise OAuthProtocolError("failed to parse OIDC discovery document") from None
    if not isinstance(doc, dict):
        raise OAuthProtocolError("failed to parse OIDC discovery document")
    return Discovery(
        issuer=str(doc.get("issuer") or ""),
        authorization_endpoint=str(doc.get("authorization_endpoint") or ""),
        token_endpoint=str(doc.get("token_endpoint") or ""),
        userinfo_endpoint=str(doc.get("userinfo_endpoint") or ""),
        jwks_uri=str(doc.get("jwks_uri") or ""),
        code_challenge_methods=tuple(doc.get("code_challenge_methods_supported") or ()),
    )


def fetch_jwks(ctx: ProviderContext, jwks_uri: str) -> KeySet:
    data = ctx.http.get_json(ctx.type, jwks_uri, "OIDC JWKs")
    try:
        return KeySet.import_key_set(data)
    except (JoseError, ValueError, TypeError, KeyError):
        raise OAuthProtocolError("failed to parse OIDC JWKs") from None


def verify_id_token(ctx: ProviderContext, token: dict[str, Any], keys: KeySet, nonce: str) -> dict[str, Any]:
    """OIDC Core 3.1.3.7: the signature against the provider's JWKS, `aud` our client ID, the times
    within the clock skew, and the nonce sent in the authorization URL."""
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OAuthProtocolError("id_token not found in the token response")
    try:
        decoded = jwt.decode(id_token, keys, algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"])
    except (JoseError, ValueError) as exc:
        raise OAuthProtocolError(f"failed to verify ID token signature: {exc.__class__.__name__}") from None
    claims = dict(decoded.claims)
    now = ctx.clock().timestamp()
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if ctx.client_id not in audiences:
        raise OAuthProtocolError("failed to validate JWT claims: aud not satisfied")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp + CLOCK_SKEW_SECONDS < now:
        raise OAuthProtocolError("failed to validate JWT claims: exp not satisfied")
    for key in ("iat", "nbf"):
        value = claims.get(key)
        if isinstance(value, int | float) and value - CLOCK_SKEW_SECONDS > now:
            raise OAuthProtocolError(f"failed to validate JWT claims: {key} not satisfied")
    if nonce:
        got = claims.get("nonce")
        if not isinstance(got, str):
            raise OAuthProtocolError("nonce not found in ID token")
        if not hmac.compare_digest(got, nonce):
            raise OAuthProtocolError("invalid nonce")
    return claims


class OIDCProvider:
    """An OpenID Provider found by its discovery document; subclasses say where that is and how
    its ID token names the user."""

    type = "oidc"
    uses_nonce = True
    uses_pkce = True  # only when the discovery document lists S256
    scope: tuple[str, ...] = ("openid", "profile", "email")

    def discovery_url(self, config: dict[str, Any]) -> str:
        return str(config["discovery_document_endpoint"])

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {}

    def scopes(self, config: dict[str, Any]) -> list[str]:
        return list(self.scope)

    def prompt(self, prompt: list[str]) -> list[str]:
        return [p for p in prompt if p in ("login", "consent", "select_account")][:1]

    def extra_params(self, config: dict[str, Any]) -> dict[str, Any]:
        return {}

    def discovery(self, ctx: ProviderContext) -> Discovery:
        return fetch_discovery(ctx, self.discovery_url(ctx.config))

    def pkce_supported(self, d: Discovery) -> bool:
        return self.uses_pkce and "S256" in d.code_challenge_methods

    def authorization_url(self, ctx: ProviderContext, params: AuthorizationParams) -> str:
        d = self.discovery(ctx)
        if not self.pkce_supported(d):
            params = dataclasses.replace(params, code_challenge="")
        query = auth_params(
            ctx, params, self.scopes(ctx.config), self.prompt(params.prompt), **self.extra_params(ctx.config)
        )
        return make_url(d.authorization_endpoint, query)

    def id_token_claims(
        self, ctx: ProviderContext, params: ResponseParams
    ) -> tuple[Discovery, dict[str, Any], dict[str, Any]]:
        code = get_code(ctx, params.query)
        d = self.discovery(ctx)
        keys = fetch_jwks(ctx, d.jwks_uri)
        verifier = params.code_verifier if self.pkce_supported(d) else ""
        token = exchange_code(ctx, d.token_endpoint, code, dataclasses.replace(params, code_verifier=verifier))
        return d, token, verify_id_token(ctx, token, keys, params.nonce)

    def check_issuer(self, d: Discovery, claims: dict[str, Any]) -> None:
        iss = claims.get("iss")
        if not isinstance(iss, str):
            raise OAuthProtocolError("iss not found in ID token")
        if iss != d.issuer:
            raise OAuthProtocolError(f"iss: {iss} != {d.issuer}")

    def subject(self, claims: dict[str, Any]) -> str:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise OAuthProtocolError("sub not found in ID token")
        return sub

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        d, token, claims = self.id_token_claims(ctx, params)
        self.check_issuer(d, claims)
        sub = self.subject(claims)
        profile = claims
        if d.userinfo_endpoint:
            # The generic provider reads UserInfo too (OIDC Core 5.3): some providers keep the
            # profile out of the ID token. Its `sub` must be the ID token's (5.3.2).
            info = bearer_get(ctx, d.userinfo_endpoint, token)
            if isinstance(info, dict) and info.get("sub") == sub:
                profile = {**claims, **info}
        return UserProfile(sub, profile, extract(profile, ctx.email_required, ctx.type))

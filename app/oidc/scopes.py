"""Scopes Gatehouse knows, the rules for who may ask for them, and which claims each one releases."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error

from app.identities.account import PROFILE_ATTRIBUTES
from app.oidc.clients import OAuthClient

OPENID = "openid"
OFFLINE_ACCESS = "offline_access"
FULL_ACCESS = "https://authgear.com/scopes/full-access"
FULL_USERINFO = "https://authgear.com/scopes/full-userinfo"
# Device SSO and pre-authenticated URLs (app/oidc/device_secrets.py, app/oidc/pre_authenticated_urls.py).
DEVICE_SSO = "device_sso"
PRE_AUTHENTICATED_URL = "https://authgear.com/scopes/pre-authenticated-url"

# Contract 1.2, in Authgear's order (pkg/lib/oauth/scope.go AllowedScopes).
SUPPORTED_SCOPES = (
    OFFLINE_ACCESS,
    DEVICE_SSO,
    OPENID,
    "profile",
    "email",
    "address",
    "phone",
    FULL_ACCESS,
    FULL_USERINFO,
    PRE_AUTHENTICATED_URL,
)

# OIDC Core 5.4: the standard claims released by each scope (contract 1.6).
CLAIMS_BY_SCOPE: dict[str, tuple[str, ...]] = {
    "profile": (*PROFILE_ATTRIBUTES, "preferred_username", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
}
STANDARD_CLAIMS = tuple(c for claims in CLAIMS_BY_SCOPE.values() for c in claims)

MAX_SCOPE_TOKENS = 50


class ScopeError(Exception):
    """The requested scopes break a rule; `error` is the OAuth error code to answer with."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def as_oauth_error(self) -> OAuth2Error:
        """The same rule broken, as the token endpoint answers it (`error`, `error_description`)."""
        out = OAuth2Error(self.description)
        out.error = self.error
        return out


def parse_scope(raw: str | None) -> list[str]:
    """Space-separated scope tokens, de-duplicated in order (RFC 6749 section 3.3)."""
    seen: list[str] = []
    for token in (raw or "").split(" "):
        if token and token not in seen:
            seen.append(token)
    return seen


def validate_user_scopes(client: OAuthClient, scopes: list[str]) -> None:
    """Authorization request scopes (contract 1.4, scope validation)."""
    if not scopes:
        raise ScopeError("invalid_request", "scope is required")
    if len(scopes) > MAX_SCOPE_TOKENS:
        raise ScopeError("invalid_scope", "too many scopes")
    for scope in scopes:
        if scope not in SUPPORTED_SCOPES:
            raise ScopeError("invalid_scope", "unknown scope")
    if OPENID not in scopes:
        raise ScopeError("invalid_scope", "openid scope is required")
    if OFFLINE_ACCESS in scopes and not client.check_grant_type("refresh_token"):
        raise ScopeError("invalid_scope", "offline_access requires the refresh_token grant")
    if FULL_ACCESS in scopes and not client.full_access_allowed:
        raise ScopeError("invalid_scope", "full-access scope is not allowed for this client")
    check_pre_authenticated_url_scopes(client, scopes)


def check_pre_authenticated_url_scopes(client: OAuthClient, scopes: list[str]) -> None:
    """Authgear's rules (ValidateScopesByClientConfig), in its order: `device_sso` and the
    pre-authenticated-url scope need `x_pre_authenticated_url_enabled`, and the latter needs
    `device_sso` before it."""
    enabled = bool(client.config.get("x_pre_authenticated_url_enabled", False))
    has_device_sso = False
    for scope in scopes:
        if scope == DEVICE_SSO:
            has_device_sso = True
            if not enabled:
                raise ScopeError("invalid_scope", "device_sso is not allowed for this client")
        if scope == PRE_AUTHENTICATED_URL and not has_device_sso:
            raise ScopeError("invalid_scope", "device_sso must be requested when using pre-authenticated url")
        if scope == PRE_AUTHENTICATED_URL and not enabled:
            raise ScopeError("invalid_scope", "pre-authenticated url is not allowed for this client")


def claims_for_scopes(scopes: list[str]) -> set[str] | None:
    """Standard claims released by these scopes; None means all of them (full-userinfo)."""
    if FULL_USERINFO in scopes:
        return None
    out: set[str] = set()
    for scope in scopes:
        out.update(CLAIMS_BY_SCOPE.get(scope, ()))
    return out


def userinfo_claims(client: OAuthClient, scopes: list[str]) -> set[str] | None:
    """Standard claims in the UserInfo response: all for first-party clients, by scope otherwise."""
    if client.is_first_party:
        return None
    return claims_for_scopes(scopes)

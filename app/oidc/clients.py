"""OAuth clients from `oauth.clients` (contract 1.10), as authlib `ClientMixin` objects.

Application types decide the party, whether the client is confidential, whether ID tokens may
carry personal data, and which grants it may use:

| type                              | party | secret | PII in ID token | full-access | client_credentials |
|-----------------------------------|-------|--------|-----------------|-------------|--------------------|
| spa / traditional_webapp / native | 1st   | no     | no              | yes         | no                 |
| confidential                      | 1st   | yes    | yes             | no          | yes                |
| third_party_app                   | 3rd   | yes    | yes             | no          | no                 |
| m2m                               | -     | yes    | no              | no          | the only grant     |

Client secrets live in `authgear.secrets.yaml` under `oauth.client_secrets` as `kty: oct` JWKs. Authgear
compares the secret with the key's octets (base64url-decoded `k`); Gatehouse's own project files
write a random `k` that is meant to be used as it is. Both forms are accepted: they carry the same
secret, one merely encoded.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin

from app.config import AppConfig
from app.crypto import b64url_decode

PUBLIC_TYPES = frozenset({"spa", "traditional_webapp", "native"})
CONFIDENTIAL_TYPES = frozenset({"confidential", "third_party_app", "m2m"})
PII_TYPES = frozenset({"confidential", "third_party_app"})
SECRET_METHODS = ("client_secret_basic", "client_secret_post")

# Grants every client may use besides its configured `grant_types` (Authgear's always-allowed list,
# restricted to what Gatehouse implements).
ID_TOKEN_GRANT = "urn:authgear:params:oauth:grant-type:id-token"  # noqa: S105 (a grant type, not a secret)
SETTINGS_ACTION_GRANT = "urn:authgear:params:oauth:grant-type:settings-action"  # noqa: S105 (a grant type)
ALWAYS_ALLOWED_GRANTS = frozenset({ID_TOKEN_GRANT, SETTINGS_ACTION_GRANT})
# Contract 1.3/1.8: an app sends its user to a settings page; first-party clients only.
SETTINGS_ACTION_RESPONSE_TYPE = "urn:authgear:params:oauth:response-type:settings-action"


@dataclass(frozen=True, eq=False)
class OAuthClient(ClientMixin):
    """One entry of `oauth.clients` plus its secrets."""

    config: dict[str, Any]
    secrets: tuple[str, ...] = ()

    # -- what the application type implies (contract 1.10) ----------------------------------
    @property
    def client_id(self) -> str:
        return self.config["client_id"]

    @property
    def application_type(self) -> str:
        return self.config.get("x_application_type") or "spa"

    @property
    def name(self) -> str:
        return self.config.get("client_name") or self.config.get("name") or self.client_id

    @property
    def is_public(self) -> bool:
        return self.application_type in PUBLIC_TYPES

    @property
    def is_first_party(self) -> bool:
        return self.application_type != "third_party_app"

    @property
    def is_third_party(self) -> bool:
        return self.application_type == "third_party_app"

    @property
    def pii_allowed(self) -> bool:
        """Standard attributes may appear in this client's ID tokens."""
        return self.application_type in PII_TYPES

    @property
    def full_access_allowed(self) -> bool:
        """`https://authgear.com/scopes/full-access` is for first-party public clients only."""
        return self.is_public

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.config.get("redirect_uris") or [])

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return list(self.config.get("post_logout_redirect_uris") or [])

    @property
    def access_token_lifetime(self) -> int:
        return int(self.config.get("access_token_lifetime_seconds") or 1800)

    @property
    def refresh_token_lifetime(self) -> int:
        # Authgear never lets a refresh token die before an access token it issued.
        return max(int(self.config.get("refresh_token_lifetime_seconds") or 31449600), self.access_token_lifetime)

    @property
    def refresh_token_idle_timeout(self) -> int | None:
        if not self.config.get("refresh_token_idle_timeout_enabled", True):
            return None
        return int(self.config.get("refresh_token_idle_timeout_seconds") or 2592000)

    @property
    def rotates_refresh_tokens(self) -> bool:
        return bool(self.config.get("refresh_token_rotation_enabled", False))

    @property
    def issues_jwt_access_tokens(self) -> bool:
        return bool(self.config.get("issue_jwt_access_token", False))

    @property
    def custom_ui_uri(self) -> str | None:
        return self.config.get("x_custom_ui_uri") or None

    def allowed_grant_types(self) -> frozenset[str]:
        if self.application_type == "m2m":
            return frozenset({"client_credentials"})
        allowed = set(self.config.get("grant_types") or ["authorization_code"]) | ALWAYS_ALLOWED_GRANTS
        if self.application_type == "confidential":
            allowed.add("client_credentials")
        elif "client_credentials" in allowed:
            allowed.discard("client_credentials")
        return frozenset(allowed)

    def allowed_response_types(self) -> frozenset[str]:
        if self.application_type == "m2m":
            return frozenset()
        # `none` (cookie-based web apps) only when configured, like Authgear.
        configured = frozenset(self.config.get("response_types") or ["code"])
        return configured | {SETTINGS_ACTION_RESPONSE_TYPE} if self.is_first_party else configured

    # -- authlib ClientMixin ---------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # No default: Authgear requires `redirect_uri` on every authorization request.
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match against a registered URI (RFC 6749 section 3.1.2, RFC 9700 4.1.3)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if not client_secret or not self.secrets:
            return False
        candidate = client_secret.encode("utf-8", "surrogatepass")
        ok = False
        for secret in self.secrets:
            # Compare against every key so the time taken does not say which one matched.
            ok |= hmac.compare_digest(candidate, secret.encode())
            ok |= hmac.compare_digest(candidate, _octets(secret))
        return ok

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            # A public client that was nevertheless given a secret may use it.
            return method == "none" or (method in SECRET_METHODS and bool(self.secrets))
        return method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.allowed_response_types()

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.allowed_grant_types()


def _octets(k: str) -> bytes:
    try:
        return b64url_decode(k)
    except ValueError:
        return b""


class ClientRegistry:
    """Looks clients up by ID; built once from the config."""

    def __init__(self, config: AppConfig) -> None:
        self._clients: dict[str, OAuthClient] = {}
        for entry in config.project["oauth"]["clients"]:
            keys = config.client_secret_keys(entry["client_id"])
            secrets = tuple(str(k["k"]) for k in keys if isinstance(k, dict) and k.get("k"))
            self._clients[entry["client_id"]] = OAuthClient(entry, secrets)

    def get(self, client_id: str | None) -> OAuthClient | None:
        if not client_id or not isinstance(client_id, str):
            return None
        return self._clients.get(client_id)

    def all(self) -> list[OAuthClient]:
        return list(self._clients.values())

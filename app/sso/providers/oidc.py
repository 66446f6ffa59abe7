"""Any OpenID Provider by its discovery URL (Gatehouse's `oidc` type; Authgear has no such type).

Authorization code flow with PKCE when the provider lists S256, a nonce, the ID token checked against
the provider's JWKS and issuer, and UserInfo merged into the profile. `sub` is per issuer, so the
provider ID holds the discovery URL: two OpenID Providers never share a subject namespace.
"""

from __future__ import annotations

from typing import Any

from app.sso.providers.base import OIDCProvider


class GenericOIDC(OIDCProvider):
    type = "oidc"

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"discovery_document_endpoint": config.get("discovery_document_endpoint")}

    def scopes(self, config: dict[str, Any]) -> list[str]:
        extra = config.get("scopes") or ["profile", "email"]
        return ["openid", *[s for s in extra if s != "openid"]]


PROVIDER = GenericOIDC()

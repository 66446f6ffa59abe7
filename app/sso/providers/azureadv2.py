"""Microsoft Entra ID (Azure AD v2.0 endpoints) by `tenant` (a tenant ID or domain, `common` or
`organizations`). The user is the ID token's `oid`, stable across the tenant's applications."""

from __future__ import annotations

from typing import Any

from app.sso.errors import OAuthProtocolError
from app.sso.providers.base import OIDCProvider, ProviderContext, ResponseParams, UserProfile
from app.sso.stdattrs import extract

LOGIN_HOST = "https://login.microsoftonline.com"


class AzureADv2(OIDCProvider):
    type = "azureadv2"

    def discovery_url(self, config: dict[str, Any]) -> str:
        return f"{LOGIN_HOST}/{config['tenant']}/v2.0/.well-known/openid-configuration"

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"tenant": config.get("tenant")}

    def prompt(self, prompt: list[str]) -> list[str]:
        # The first of login, consent, select_account (Entra ID takes one value).
        for p in prompt:
            if p in ("login", "consent", "select_account"):
                return [p]
        return []

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        # A multi-tenant (`common`) issuer names the user's tenant, so it is not compared here.
        _, _, claims = self.id_token_claims(ctx, params)
        oid = claims.get("oid")
        if not isinstance(oid, str) or not oid:
            raise OAuthProtocolError("oid not found in ID Token")
        return UserProfile(oid, claims, extract(claims, ctx.email_required, ctx.type))


PROVIDER = AzureADv2()

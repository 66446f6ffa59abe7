"""Azure AD B2C by `tenant` and user flow `policy` (optional `domain_hint`). B2C lists the user's
addresses in `emails`; the issuer must be the discovery document's."""

from __future__ import annotations

from typing import Any

from app.sso.providers.base import OIDCProvider, ProviderContext, ResponseParams, UserProfile
from app.sso.stdattrs import extract


class AzureADB2C(OIDCProvider):
    type = "azureadb2c"
    scope = ("openid",)

    def discovery_url(self, config: dict[str, Any]) -> str:
        tenant, policy = config["tenant"], config["policy"]
        return f"https://{tenant}.b2clogin.com/{tenant}.onmicrosoft.com/{policy}/v2.0/.well-known/openid-configuration"

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"tenant": config.get("tenant")}

    def prompt(self, prompt: list[str]) -> list[str]:
        return ["login"] if "login" in prompt else []

    def extra_params(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"domain_hint": config.get("domain_hint", "")}

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        d, _, claims = self.id_token_claims(ctx, params)
        self.check_issuer(d, claims)
        sub = self.subject(claims)
        picked = {
            k: claims[k] for k in ("name", "given_name", "family_name") if isinstance(claims.get(k), str) and claims[k]
        }
        email = ""
        for value in claims.get("emails") or []:
            if isinstance(value, str) and value:
                email = value  # the last one, as Authgear takes it
        if not email and isinstance(claims.get("signInNames.emailAddress"), str):
            email = claims["signInNames.emailAddress"]
        picked["email"] = email
        return UserProfile(sub, claims, extract(picked, ctx.email_required, ctx.type))


PROVIDER = AzureADB2C()

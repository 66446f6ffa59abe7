"""LinkedIn: OpenID Connect ("Sign In with LinkedIn using OpenID Connect"); the profile comes from
UserInfo. `sub` is scoped to the application, so the provider ID holds the client ID."""

from __future__ import annotations

from typing import Any

from app.sso.providers.base import OIDCProvider, ProviderContext, ResponseParams, UserProfile, bearer_get
from app.sso.stdattrs import extract

DISCOVERY_URL = "https://www.linkedin.com/oauth/.well-known/openid-configuration"


class LinkedIn(OIDCProvider):
    type = "linkedin"

    def discovery_url(self, config: dict[str, Any]) -> str:
        return DISCOVERY_URL

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"client_id": config.get("client_id")}

    def prompt(self, prompt: list[str]) -> list[str]:
        return []

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        d, token, claims = self.id_token_claims(ctx, params)
        self.check_issuer(d, claims)
        sub = self.subject(claims)
        raw = bearer_get(ctx, d.userinfo_endpoint, token)
        raw = raw if isinstance(raw, dict) else {}
        return UserProfile(sub, raw, extract(raw, ctx.email_required, ctx.type))


PROVIDER = LinkedIn()

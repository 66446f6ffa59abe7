"""Google: OpenID Connect (developers.google.com/identity/openid-connect). `sub` is public, so the
provider ID is the type alone; the issuer is `https://accounts.google.com` or `accounts.google.com`."""

from __future__ import annotations

from typing import Any

from app.sso.errors import OAuthProtocolError
from app.sso.providers.base import Discovery, OIDCProvider

DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"


class Google(OIDCProvider):
    type = "google"

    def discovery_url(self, config: dict[str, Any]) -> str:
        return DISCOVERY_URL

    def prompt(self, prompt: list[str]) -> list[str]:
        # Google takes consent and select_account; `none` does not fit a login page. Default: choose.
        return [p for p in prompt if p in ("consent", "select_account")] or ["select_account"]

    def check_issuer(self, d: Discovery, claims: dict[str, Any]) -> None:
        iss = claims.get("iss")
        if not isinstance(iss, str):
            raise OAuthProtocolError("iss not found in ID token")
        if iss not in ("https://accounts.google.com", "accounts.google.com"):
            raise OAuthProtocolError("iss is not from Google")

    def user_profile(self, ctx: Any, params: Any) -> Any:
        from app.sso.providers.base import UserProfile
        from app.sso.stdattrs import extract

        d, _, claims = self.id_token_claims(ctx, params)
        self.check_issuer(d, claims)
        sub = self.subject(claims)
        # Google's ID token holds the profile (given_name, family_name, email, picture, locale).
        return UserProfile(sub, claims, extract(claims, ctx.email_required, ctx.type))


PROVIDER = Google()

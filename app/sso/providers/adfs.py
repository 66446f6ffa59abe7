"""Active Directory Federation Services by its discovery document. ADFS names the user by `upn`,
which fills preferred_username and, when it looks like an address, the email."""

from __future__ import annotations

import re

from app.sso.errors import OAuthProtocolError
from app.sso.providers.base import OIDCProvider, ProviderContext, ResponseParams, UserProfile
from app.sso.stdattrs import extract

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ADFS(OIDCProvider):
    type = "adfs"

    def prompt(self, prompt: list[str]) -> list[str]:
        return ["login"] if "login" in prompt else []

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        _, _, claims = self.id_token_claims(ctx, params)
        sub = self.subject(claims)
        upn = claims.get("upn")
        if not isinstance(upn, str):
            raise OAuthProtocolError("upn not found in ID token")
        attrs = extract(claims)
        attrs.setdefault("preferred_username", upn)
        if "email" not in attrs and _EMAIL.match(upn):
            attrs["email"] = upn
        return UserProfile(sub, claims, extract(attrs, ctx.email_required, ctx.type))


PROVIDER = ADFS()

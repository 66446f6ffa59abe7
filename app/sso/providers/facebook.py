"""Facebook Login (Graph API v11.0, as Authgear pins it): the token by code, the profile from `/me`
with `appsecret_proof` (HMAC-SHA256 of the access token keyed by the app secret). The user ID is
scoped to the app, so the provider ID holds the client ID."""

from __future__ import annotations

from typing import Any

from app.sso.providers.base import (
    AuthorizationParams,
    ProviderContext,
    ResponseParams,
    UserProfile,
    bearer_get,
    exchange_code,
    get_code,
    hmac_sha256_hex,
    make_url,
)
from app.sso.stdattrs import extract

AUTHORIZATION_URL = "https://www.facebook.com/v11.0/dialog/oauth"
TOKEN_URL = "https://graph.facebook.com/v11.0/oauth/access_token"  # noqa: S105 - a public endpoint
USER_URL = "https://graph.facebook.com/v11.0/me"
FIELDS = "id,email,first_name,last_name,middle_name,name,name_format,picture,short_name"


class Facebook:
    type = "facebook"
    uses_nonce = False
    uses_pkce = False

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"client_id": config.get("client_id")}

    def authorization_url(self, ctx: ProviderContext, params: AuthorizationParams) -> str:
        query = {
            "client_id": ctx.client_id,
            "redirect_uri": params.redirect_uri,
            "scope": "email public_profile",
            "response_type": "code",
            "state": params.state,
        }
        return make_url(AUTHORIZATION_URL, query)

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        code = get_code(ctx, params.query)
        token = exchange_code(ctx, TOKEN_URL, code, params)
        proof = hmac_sha256_hex(ctx.client_secret, str(token.get("access_token", "")))
        url = make_url(USER_URL, {"fields": FIELDS, "appsecret_proof": proof})
        user = bearer_get(ctx, url, token)
        user = user if isinstance(user, dict) else {}
        picture = (
            ((user.get("picture") or {}).get("data") or {}).get("url")
            if isinstance(user.get("picture"), dict)
            else None
        )
        attrs = extract(
            {
                "email": user.get("email"),
                "given_name": user.get("first_name"),
                "family_name": user.get("last_name"),
                "name": user.get("name"),
                "nickname": user.get("short_name"),
                "picture": picture,
            },
            ctx.email_required,
            ctx.type,
        )
        return UserProfile(str(user.get("id") or ""), user, attrs)


PROVIDER = Facebook()

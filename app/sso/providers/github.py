"""GitHub: OAuth 2.0 (docs.github.com "Authorizing OAuth apps"), the user from `GET /user`.

Gatehouse goes further than Authgear: a user who keeps their address private has no `email` on
`/user`, so the primary verified address of `GET /user/emails` (scope `user:email`) is taken; an
unverified address is never used, so the email stays trustworthy. The ID is a number; it is kept as
its decimal string.
"""

from __future__ import annotations

from typing import Any

from app.sso.errors import OAuthError
from app.sso.providers.base import (
    AuthorizationParams,
    ProviderContext,
    ResponseParams,
    UserProfile,
    bearer_get,
    exchange_code,
    get_code,
    make_url,
)
from app.sso.stdattrs import extract

AUTHORIZATION_URL = "https://github.com/login/oauth/authorize"
TOKEN_URL = "https://github.com/login/oauth/access_token"  # noqa: S105 - a public endpoint
USER_URL = "https://api.github.com/user"
EMAILS_URL = "https://api.github.com/user/emails"


class GitHub:
    type = "github"
    uses_nonce = False
    uses_pkce = False

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {}

    def authorization_url(self, ctx: ProviderContext, params: AuthorizationParams) -> str:
        query = {
            "client_id": ctx.client_id,
            "redirect_uri": params.redirect_uri,
            "scope": "read:user user:email",
            "state": params.state,
        }
        return make_url(AUTHORIZATION_URL, query)

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        code = get_code(ctx, params.query)
        token = exchange_code(ctx, TOKEN_URL, code, params)
        if token.get("error"):  # GitHub answers a refused code with 200 and an error body
            raise OAuthError(str(token["error"]), str(token.get("error_description") or ""), "", ctx.type)
        user = bearer_get(ctx, USER_URL, token)
        user = user if isinstance(user, dict) else {}
        email = user.get("email") if isinstance(user.get("email"), str) else ""
        if not email:
            email = _primary_verified_email(bearer_get(ctx, EMAILS_URL, token, "user emails"))
        login = user.get("login") if isinstance(user.get("login"), str) else ""
        attrs = extract(
            {
                "email": email,
                "name": login,
                "given_name": login,
                "picture": user.get("avatar_url"),
                "profile": user.get("html_url"),
            },
            ctx.email_required,
            ctx.type,
        )
        raw = dict(user)
        if email and not user.get("email"):
            raw["email"] = email
        user_id = user.get("id")
        return UserProfile(str(user_id) if user_id is not None else "", raw, attrs)


def _primary_verified_email(emails: Any) -> str:
    if not isinstance(emails, list):
        return ""
    verified = [e for e in emails if isinstance(e, dict) and e.get("verified") and isinstance(e.get("email"), str)]
    primary = [e for e in verified if e.get("primary")]
    chosen = (primary or verified or [{}])[0]
    return str(chosen.get("email") or "")


PROVIDER = GitHub()

"""Sign in with Apple: OpenID Connect on fixed endpoints, the client secret a short-lived ES256 JWT
signed with the team's .p8 key (`team_id`, `key_id`; the key is the alias's client secret), and the
response posted back (`response_mode=form_post`, required with the name and email scopes).

Apple sends the user's name only on the first authorization, in the posted `user` form field; it
fills given_name and family_name then. `sub` is scoped to the team, so the provider ID holds it.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from app.sso.errors import InvalidConfiguration, OAuthProtocolError
from app.sso.providers.base import (
    AuthorizationParams,
    Discovery,
    OIDCProvider,
    ProviderContext,
    ResponseParams,
    UserProfile,
    auth_params,
    exchange_code,
    fetch_jwks,
    get_code,
    make_url,
    parse_response,
    verify_id_token,
)
from app.sso.stdattrs import extract, with_name_copied_to_given_name

ISSUER = "https://appleid.apple.com"
ENDPOINTS = Discovery(
    issuer=ISSUER,
    authorization_endpoint="https://appleid.apple.com/auth/authorize",
    token_endpoint="https://appleid.apple.com/auth/token",  # noqa: S106 - a public endpoint
    userinfo_endpoint="",
    jwks_uri="https://appleid.apple.com/auth/keys",
)
CLIENT_SECRET_LIFETIME = 5 * 60  # Authgear's duration.Short


class Apple(OIDCProvider):
    type = "apple"
    uses_pkce = False
    scope = ("name", "email")

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"team_id": config.get("team_id")}

    def authorization_url(self, ctx: ProviderContext, params: AuthorizationParams) -> str:
        # Apple takes no prompt.
        query = auth_params(ctx, params, list(self.scope))
        query.pop("code_challenge", None)
        query.pop("code_challenge_method", None)
        return make_url(ENDPOINTS.authorization_endpoint, query)

    def client_secret(self, ctx: ProviderContext) -> str:
        """developer.apple.com "Creating a client secret": iss team, sub client ID, aud Apple."""
        try:
            key = ECKey.import_key(ctx.client_secret)
        except (JoseError, ValueError, TypeError):
            raise InvalidConfiguration("the Apple client secret is not a P-256 private key (.p8)") from None
        now = int(ctx.clock().timestamp())
        claims = {
            "iss": ctx.config.get("team_id"),
            "iat": now,
            "exp": now + CLIENT_SECRET_LIFETIME,
            "aud": ISSUER,
            "sub": ctx.client_id,
        }
        return jwt.encode({"alg": "ES256", "kid": ctx.config.get("key_id")}, claims, key, algorithms=["ES256"])

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        keys = fetch_jwks(ctx, ENDPOINTS.jwks_uri)
        secret = self.client_secret(ctx)
        code = get_code(ctx, params.query)
        token = exchange_code(ctx, ENDPOINTS.token_endpoint, code, params, client_secret=secret)
        claims = verify_id_token(ctx, token, keys, params.nonce)
        user = _form_user(params.query)
        name = user.get("name") if isinstance(user.get("name"), dict) else {}
        if name.get("firstName"):
            claims["given_name"] = name["firstName"]
        if name.get("lastName"):
            claims["family_name"] = name["lastName"]
        iss = claims.get("iss")
        if not isinstance(iss, str):
            raise OAuthProtocolError("iss not found in ID token")
        if ISSUER not in iss:
            raise OAuthProtocolError("iss does not equal to `https://appleid.apple.com`")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise OAuthProtocolError("sub not found in ID Token")
        attrs = with_name_copied_to_given_name(extract(claims, ctx.email_required, ctx.type))
        return UserProfile(sub, claims, attrs)


def _form_user(query: str) -> dict[str, Any]:
    raw = parse_response(query).get("user", "")
    if not raw:
        return {}
    try:
        user = json.loads(raw)
    except ValueError:
        raise OAuthProtocolError(f"failed to parse user as JSON: {raw}") from None
    return user if isinstance(user, dict) else {}


PROVIDER = Apple()

"""WeChat (open.weixin.qq.com website login, snsapi_login). The authorization URL is a QR code page
ending in `#wechat_redirect`; mobile apps get `wechat_app_type: mobile` in the flow data and use the
WeChat SDK, then send the code like any other provider. The token endpoint answers errors as
`{errcode, errmsg}`; the user is the `unionid` (the `openid` for a sandbox account)."""

from __future__ import annotations

from typing import Any

from app.sso.errors import InvalidConfiguration, OAuthError
from app.sso.providers.base import AuthorizationParams, ProviderContext, ResponseParams, UserProfile, get_code, make_url
from app.sso.stdattrs import with_name_copied_to_given_name

QR_CODE_PAGE_URL = "https://open.weixin.qq.com/connect/qrconnect"
ACCESS_TOKEN_URL = "https://api.weixin.qq.com/sns/oauth2/access_token"  # noqa: S105 - a public endpoint
USER_INFO_URL = "https://api.weixin.qq.com/sns/userinfo"


class WeChat:
    type = "wechat"
    uses_nonce = False
    uses_pkce = False

    def provider_keys(self, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "account_id": config.get("account_id"),
            "is_sandbox_account": "true" if config.get("is_sandbox_account") else "false",
        }

    def authorization_url(self, ctx: ProviderContext, params: AuthorizationParams) -> str:
        query = {
            "appid": ctx.client_id,
            "redirect_uri": params.redirect_uri,
            "scope": "snsapi_login",
            "response_type": "code",
            "state": params.state,
        }
        return make_url(QR_CODE_PAGE_URL, query) + "#wechat_redirect"

    def _get(self, ctx: ProviderContext, url: str, what: str) -> dict[str, Any]:
        body = ctx.http.get_json(ctx.type, url, what)
        if not isinstance(body, dict):
            body = {}
        if body.get("errcode"):
            raise OAuthError(str(body["errcode"]), str(body.get("errmsg") or ""), "", ctx.type)
        return body

    def user_profile(self, ctx: ProviderContext, params: ResponseParams) -> UserProfile:
        code = get_code(ctx, params.query)
        token = self._get(
            ctx,
            make_url(
                ACCESS_TOKEN_URL,
                {"appid": ctx.client_id, "secret": ctx.client_secret, "code": code, "grant_type": "authorization_code"},
            ),
            "access token",
        )
        raw = self._get(
            ctx,
            make_url(USER_INFO_URL, {"access_token": token.get("access_token", ""), "openid": token.get("openid", "")}),
            "user profile",
        )
        if ctx.config.get("is_sandbox_account"):
            if token.get("unionid"):
                raise InvalidConfiguration(
                    "invalid is_sandbox_account config, WeChat sandbox account should not have union id"
                )
            user_id = str(token.get("openid") or "")
        else:
            user_id = str(token.get("unionid") or "")
        if not user_id:
            raise InvalidConfiguration("invalid is_sandbox_account config, missing user id in wechat token response")
        gender = {1: "male", 2: "female"}.get(raw.get("sex")) if isinstance(raw.get("sex"), int) else None
        attrs = with_name_copied_to_given_name(
            {"name": raw.get("nickname") or "", "locale": raw.get("language") or "", "gender": gender or ""}
        )
        return UserProfile(user_id, raw, attrs)


PROVIDER = WeChat()

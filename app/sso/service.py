"""Social and enterprise login as one service: which providers a flow offers, the authorization URL
of one, and the incoming identity its authorization response names (Authgear's OAuthProviderFactory).

The flow keeps the nonce and the PKCE verifier in its own server-side state, never in a cookie, so
both work for the Authentication Flow API as well as the hosted pages (Authgear sends neither in its
flow API; Gatehouse does, where the provider supports them).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from app.config import AppConfig
from app.db import Clock
from app.sso import config as sso_config
from app.sso.errors import OAuthProviderMissingCredentials, OAuthProviderNotFound
from app.sso.http import HTTPClient
from app.sso.providers import get as get_provider
from app.sso.providers.base import AuthorizationParams, Provider, ProviderContext, ResponseParams
from app.sso.stdattrs import normalize


@dataclass
class IncomingOAuth:
    """An identity a provider vouches for (Authgear's identity.OAuthSpec)."""

    provider_type: str
    provider_alias: str
    provider_keys: dict[str, Any]
    subject: str
    raw_profile: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)  # the standard claims
    email_assume_verified: bool = True
    do_not_store_identity_attributes: bool = False

    @property
    def dedup_key(self) -> str:
        """Unique per provider and subject: `sub` is scoped to what the provider keys name (the team
        for Apple, the client for Facebook and LinkedIn, the tenant for Azure)."""
        keys = json.dumps(self.provider_keys, sort_keys=True, separators=(",", ":"))
        return f"oauth:{self.provider_type}:{keys}:{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncomingOAuth:
        return cls(**data)


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    nonce: str
    code_verifier: str


class SSOService:
    def __init__(self, config: AppConfig, clock: Clock, http: HTTPClient | None = None) -> None:
        self.config = config
        self.clock = clock
        self.http = http or HTTPClient(config.sso_http_proxy, config.sso_tls_ca_cert_file, config.sso_http_timeout)

    # -- configuration ----------------------------------------------------------------------------
    def providers(self) -> list[dict[str, Any]]:
        """The configured providers whose type the feature config does not turn off, in order."""
        return [
            p
            for p in sso_config.providers_of(self.config.project)
            if not sso_config.type_disabled(p["type"], self.config.features)
        ]

    def enabled(self) -> bool:
        return "oauth" in self.config.project["authentication"]["identities"] and bool(self.providers())

    def provider_config(self, alias: str) -> dict[str, Any]:
        conf = sso_config.provider_config(self.config.project, alias)
        if conf is None:
            raise OAuthProviderNotFound()
        return conf

    def status(self, conf: dict[str, Any]) -> str:
        return sso_config.provider_status(conf, self.config.secrets)

    def identification_options(self) -> list[dict[str, Any]]:
        """Authgear's IdentificationOption per provider (old and new key names both)."""
        out = []
        for p in self.providers():
            option: dict[str, Any] = {
                "identification": "oauth",
                "provider_type": p["type"],
                "oauth_provider_type": p["type"],
                "alias": p["alias"],
                "oauth_provider_alias": p["alias"],
            }
            if p["type"] == "wechat":
                option["wechat_app_type"] = p.get("app_type")
            option["provider_status"] = self.status(p)
            out.append(option)
        return out

    def _context(self, alias: str) -> tuple[Provider, ProviderContext, dict[str, Any]]:
        """The provider with its credentials: the project's, or the demo ones (Authgear's
        getActiveOrDemoProvider)."""
        conf = self.provider_config(alias)
        if conf.get("credentials_behavior") == "use_demo_credentials":
            demo = sso_config.demo_credentials(self.config.secrets, conf["type"])
            if demo is None:
                raise OAuthProviderMissingCredentials(alias, conf["type"])
            used, secret = demo
        else:
            secret_or_none = sso_config.client_secret(self.config.secrets, alias)
            if secret_or_none is None:
                raise OAuthProviderNotFound()
            used, secret = conf, secret_or_none
        provider = get_provider(used["type"])
        return provider, ProviderContext(used, secret, self.http, self.clock), conf

    # -- the two legs -----------------------------------------------------------------------------
    def start(
        self,
        alias: str,
        redirect_uri: str,
        response_mode: str = "",
        prompt: list[str] | None = None,
        state: str = "",
    ) -> AuthorizationStart:
        provider, ctx, _ = self._context(alias)
        nonce = generate_token(32) if provider.uses_nonce else ""
        verifier = generate_token(48) if provider.uses_pkce else ""
        params = AuthorizationParams(
            redirect_uri=redirect_uri,
            response_mode=response_mode,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier) if verifier else "",
            prompt=list(prompt or []),
        )
        url = provider.authorization_url(ctx, params)
        # A provider that did not take the challenge (no S256 in its discovery) gets no verifier.
        if verifier and "code_challenge=" not in url:
            verifier = ""
        return AuthorizationStart(url, nonce, verifier)

    def oauth_data(self, alias: str, url: str) -> dict[str, Any]:
        """Authgear's OAuthData of the identify step."""
        conf = self.provider_config(alias)
        data: dict[str, Any] = {
            "type": "oauth_data",
            "alias": alias,
            "oauth_provider_alias": alias,
            "oauth_provider_type": conf["type"],
            "oauth_authorization_url": url,
        }
        if conf["type"] == "wechat":
            data["wechat_app_type"] = conf.get("app_type")
        data["provider_status"] = self.status(conf)
        return data

    def finish(
        self, alias: str, query: str, redirect_uri: str, nonce: str = "", code_verifier: str = ""
    ) -> IncomingOAuth:
        provider, ctx, conf = self._context(alias)
        profile = provider.user_profile(ctx, ResponseParams(query, redirect_uri, nonce, code_verifier))
        email_conf = ctx.config.get("claims", {}).get("email", {})
        return IncomingOAuth(
            provider_type=conf["type"],
            provider_alias=alias,
            provider_keys=provider.provider_keys(ctx.config),
            subject=profile.subject,
            raw_profile=profile.raw_profile,
            claims=normalize(profile.standard_attributes),
            email_assume_verified=bool(email_conf.get("assume_verified", True)),
            do_not_store_identity_attributes=bool(conf.get("do_not_store_identity_attributes")),
        )

    def callback_url(self, alias: str) -> str:
        """Where the hosted pages ask the provider to send the browser back (Authgear's path)."""
        return f"{self.config.public_origin}/sso/oauth2/callback/{alias}"

"""The provider types, one module each; `get(type)` is the registry."""

from __future__ import annotations

from app.sso.providers import adfs, apple, azureadb2c, azureadv2, facebook, github, google, linkedin, oidc, wechat
from app.sso.providers.base import Provider

REGISTRY: dict[str, Provider] = {
    m.PROVIDER.type: m.PROVIDER
    for m in (google, apple, facebook, github, linkedin, azureadv2, azureadb2c, adfs, wechat, oidc)
}


def get(provider_type: str) -> Provider:
    return REGISTRY[provider_type]

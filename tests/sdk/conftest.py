"""Fixtures of the SDK tests: the OIDC test project with anonymous users on and an SDK test page's
origin allowed. The browser tests (test_web_sdk.py) add a live server and Authgear's Web SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.oidc.helpers import oidc_overrides, oidc_secrets

SDK_ORIGIN = "http://localhost:4000"


def sdk_overrides(public_origin: str = "http://localhost:3000", **extra: Any) -> dict[str, Any]:
    from app.config import deep_merge

    base = oidc_overrides(public_origin)
    base["http"]["allowed_origins"] = [SDK_ORIGIN]
    base["authentication"] = {"identities": ["login_id", "anonymous"]}
    return deep_merge(base, extra)


@pytest.fixture
def sdk_app(make_app: Callable[..., Flask], secrets_items: list[dict[str, Any]]) -> Flask:
    return make_app(sdk_overrides(), secrets=oidc_secrets(secrets_items))


@pytest.fixture
def make_sdk_app(make_app: Callable[..., Flask], secrets_items: list[dict[str, Any]]) -> Callable[..., Flask]:
    def build(**extra: Any) -> Flask:
        return make_app(sdk_overrides(**extra), secrets=oidc_secrets(secrets_items))

    return build

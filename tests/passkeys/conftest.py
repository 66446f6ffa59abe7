from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from app.config import deep_merge

PASSKEY_PROJECT: dict[str, Any] = {
    "authentication": {"identities": ["login_id", "passkey"], "primary_authenticators": ["password", "passkey"]}
}


@pytest.fixture
def passkey_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """An app with passkeys enabled as an identity and a primary authenticator."""

    def build(overrides: dict[str, Any] | None = None) -> Flask:
        return make_app(deep_merge(PASSKEY_PROJECT, overrides or {}))

    return build

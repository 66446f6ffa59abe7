from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.botprotection.standin import Standin
from tests.web.conftest import _catalogs, browser, context_factory, page  # noqa: F401 (fixtures)


@pytest.fixture
def standin() -> Iterator[Standin]:
    server = Standin().start()
    yield server
    server.stop()


def bot_protection_config(provider: str = "cloudflare", **requirements: str) -> dict[str, Any]:
    """authgear.yaml's `bot_protection` with `requirements` as {name: mode}."""
    return {
        "bot_protection": {
            "enabled": True,
            "provider": {"type": provider, "site_key": "test-site-key"},
            "requirements": {name: {"mode": mode} for name, mode in requirements.items()},
        }
    }


@pytest.fixture
def bp_app(
    make_app: Callable[..., Flask], make_config: Any, smtp_server: Any, standin: Standin
) -> Callable[..., Flask]:
    """An app with bot protection against the stand-in; `overrides` go into authgear.yaml."""

    def build(overrides: dict[str, Any] | None = None, provider: str = "cloudflare", **fields: Any) -> Flask:
        secrets = dict(make_config().secrets)
        secrets["mail.smtp"] = {"host": smtp_server.host, "port": smtp_server.port, "mode": "normal"}
        secrets["bot_protection.provider"] = {"type": provider, "secret_key": standin.secret}
        values: dict[str, Any] = {
            "secrets": secrets,
            "bot_protection_cloudflare_endpoint": standin.cloudflare_endpoint,
            "bot_protection_recaptchav2_endpoint": standin.recaptchav2_endpoint,
            "bot_protection_script_url": standin.script_url(provider),
            "bot_protection_timeout": 1.0,
        }
        values.update(fields)
        return make_app(overrides or {}, **values)

    return build

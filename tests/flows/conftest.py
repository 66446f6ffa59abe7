from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask

from app.config import deep_merge


@pytest.fixture
def flow_app(make_app: Callable[..., Flask], make_config: Any, smtp_server: Any) -> Callable[..., Flask]:
    """An app whose mail goes to the test SMTP server; `overrides` go into authgear.yaml."""

    def build(overrides: dict[str, Any] | None = None) -> Flask:
        secrets = dict(make_config().secrets)
        secrets["mail.smtp"] = {"host": smtp_server.host, "port": smtp_server.port, "mode": "normal"}
        return make_app(deep_merge({}, overrides or {}), secrets=secrets)

    return build


@pytest.fixture
def services_of() -> Callable[[Flask], Any]:
    def factory(app: Flask) -> Any:
        @contextmanager
        def ctx() -> Iterator[Any]:
            with app.app_context():
                yield app.extensions["gatehouse"]

        return ctx

    return factory

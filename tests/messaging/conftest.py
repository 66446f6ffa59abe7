from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.config import deep_merge
from tests.messaging.standins import Standins


@pytest.fixture(scope="session")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standins]:
    s = Standins(Path(tmp_path_factory.mktemp("messaging-standins")))
    yield s
    s.close()


@pytest.fixture
def provider_app(make_app: Callable[..., Flask], make_config: Any, standins: Standins) -> Callable[..., Flask]:
    """An app whose provider requests reach the stand-ins; `secrets` are added to the test project's."""
    standins.requests.clear()
    standins.script.clear()

    def build(secrets: dict[str, Any], overrides: dict[str, Any] | None = None) -> Flask:
        return make_app(
            deep_merge({}, overrides or {}),
            secrets={**make_config().secrets, **secrets},
            sso_http_proxy=standins.proxy.url,
            sso_tls_ca_cert_file=str(standins.ca),
        )

    return build

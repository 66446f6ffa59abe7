"""Fixtures of the OIDC tests: an app with the OIDC test clients, a logged-in browser (a test client
with an IdP session cookie) and a live server for a real relying-party library."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from app.transport import session_cookie_name
from tests.oidc.helpers import new_session, oidc_overrides, oidc_secrets


@pytest.fixture
def oidc_app(make_app: Callable[..., Flask], secrets_items: list[dict[str, Any]]) -> Flask:
    return make_app(oidc_overrides(), secrets=oidc_secrets(secrets_items))


@pytest.fixture
def make_oidc_app(make_app: Callable[..., Flask], secrets_items: list[dict[str, Any]]) -> Callable[..., Flask]:
    """An OIDC test app with more authgear.yaml overrides (merged over the OIDC test project)."""
    from app.config import deep_merge

    def build(overrides: dict[str, Any] | None = None, **fields: Any) -> Flask:
        fields.setdefault("secrets", oidc_secrets(secrets_items))
        return make_app(deep_merge(oidc_overrides(), overrides or {}), **fields)

    return build


@pytest.fixture
def oidc_client(oidc_app: Flask) -> Any:
    return oidc_app.test_client()


@pytest.fixture
def login(oidc_app: Flask) -> Callable[..., Any]:
    """Simulates the hosted login: a user and an IdP session, the cookie set on a test client."""

    def do(client: Any, user: Any = None) -> Any:
        with oidc_app.app_context():
            user, token = new_session(oidc_app.extensions["gatehouse"], user)
        client.set_cookie(session_cookie_name(oidc_app.extensions["gatehouse"].config), token)
        return user

    return do


@dataclass
class LiveServer:
    app: Flask
    url: str

    def new_session(self, user: Any = None) -> tuple[Any, str]:
        with self.app.app_context():
            return new_session(self.app.extensions["gatehouse"], user)


def _placeholder(environ: Any, start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [])
    return []


@pytest.fixture
def live_server(make_app: Callable[..., Flask], secrets_items: list[dict[str, Any]]) -> Iterator[LiveServer]:
    """The app served over HTTP on a free loopback port, its issuer that very origin."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, _placeholder, threaded=True)
    origin = f"http://127.0.0.1:{server.server_port}"
    app = make_app(oidc_overrides(origin), secrets=oidc_secrets(secrets_items))
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(app, origin)
    finally:
        server.shutdown()
        thread.join(timeout=5)

"""Redis or PostgreSQL down or hung: every endpoint answers 503 `ServiceUnavailable` with a
`Retry-After` header (JSON envelope or the HTML error page), within a bound, and `/healthz` within 2 s.

The app under test reaches a Redis of its own and the test database through TCP proxies
(tests/tcp_proxy.py) that the tests switch to `refuse` (down) or `blackhole` (hung)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app import create_app
from app.dbtimeouts import CONNECT_TIMEOUT, PING_AFTER_IDLE
from app.extensions import db
from tests.oidc.helpers import SPA, SPA_CB, oidc_overrides, oidc_secrets
from tests.resolver.conftest import Issuer
from tests.tcp_proxy import TCPProxy, throwaway_redis

FLOWS = "/api/v1/authentication_flows"
# Small bounds so that the tests are quick; the defaults are 15 s (I/O) and 2 s (Redis).
IO_TIMEOUT = 1.0
REDIS_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    with throwaway_redis() as port:
        yield port


@pytest.fixture
def redis_proxy(redis_port: int) -> Iterator[TCPProxy]:
    with TCPProxy(redis_port) as proxy:
        yield proxy


@pytest.fixture
def pg_proxy(database_url: str) -> Iterator[TCPProxy]:
    with TCPProxy(make_url(database_url).port or 5432) as proxy:
        yield proxy


@pytest.fixture
def node(
    _migrated: Flask,
    make_config: Callable[..., Any],
    secrets_items: list[dict[str, Any]],
    database_url: str,
    redis_proxy: TCPProxy,
    pg_proxy: TCPProxy,
) -> Iterator[Callable[..., Flask]]:
    """Builds an app (as in production, from its URLs) whose Redis and database are behind the proxies."""
    built: list[Flask] = []

    def build(**fields: Any) -> Flask:
        url = make_url(database_url).set(host="127.0.0.1", port=pg_proxy.port)
        values: dict[str, Any] = {
            "database_url": url.render_as_string(hide_password=False),
            "redis_url": f"redis://127.0.0.1:{redis_proxy.port}/0",
            "store_prefix": f"outage:{uuid.uuid4().hex[:8]}:",
            "db_io_timeout": IO_TIMEOUT,
            "db_statement_timeout": IO_TIMEOUT / 2,
            "redis_timeout": REDIS_TIMEOUT,
            "secrets": oidc_secrets(secrets_items),
        }
        values.update(fields)
        application = create_app(make_config(oidc_overrides(), **values))
        built.append(application)
        return application

    yield build
    for application in built:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def _assert_unavailable(resp: Any, html: bool = False) -> None:
    assert resp.status_code == 503, resp.get_data(as_text=True)[:500]
    assert int(resp.headers["Retry-After"]) > 0
    if html:
        assert resp.mimetype == "text/html"
        assert "ServiceUnavailable" in resp.get_data(as_text=True)
    else:
        error = resp.get_json()["error"]
        assert error["name"] == "ServiceUnavailable" and error["code"] == 503
        assert error["reason"] == "DependencyUnavailable"
    body = resp.get_data(as_text=True)
    assert "Traceback" not in body and "OperationalError" not in body and "ConnectionError" not in body


def _code_grant(client: Any) -> Any:
    """A token request that reads the database (the code's row): 400 `invalid_grant` when it is up."""
    return client.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": "not-a-code", "client_id": SPA, "redirect_uri": SPA_CB},
    )


def _token_endpoint_works(client: Any) -> bool:
    resp = _code_grant(client)
    return resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def _signed_in(app: Flask) -> tuple[str, str]:
    """A new user's IdP session cookie and an access token (neither resolved yet)."""
    issuer = Issuer(app)
    user_id = issuer.user()
    session_id, cookie = issuer.session(user_id)
    return cookie, issuer.access_token(user_id, session_id)


def test_redis_down_answers_503_everywhere(node, redis_proxy):
    app = node()
    cookie, token = _signed_in(app)
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/_resolver/resolve", headers=bearer).status_code == 200
    assert client.post(FLOWS, json={"type": "login", "name": "default"}).status_code == 200
    redis_proxy.set_mode("refuse")

    _assert_unavailable(client.post(FLOWS, json={"type": "login", "name": "default"}))
    _assert_unavailable(client.get("/_resolver/resolve", headers=bearer))
    _assert_unavailable(client.get("/login", headers={"Accept": "text/html"}), html=True)
    # A page whose chrome reads Redis too (a pending authorization request): still the error page.
    _assert_unavailable(client.get("/login?x_ref=abc", headers={"Accept": "text/html"}), html=True)
    authorize = {
        "client_id": SPA,
        "redirect_uri": SPA_CB,
        "response_type": "code",
        "scope": "openid",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    _assert_unavailable(client.get("/oauth2/authorize", query_string=authorize))  # keeps its request in Redis
    assert _token_endpoint_works(client)  # a token request needs no Redis: it goes on working
    health = client.get("/healthz")
    _assert_unavailable(health)
    assert health.get_json()["error"]["info"] == {"database": "ok", "redis": "unavailable"}


def test_database_down_answers_503_everywhere(node, pg_proxy):
    app = node()
    cookie, token = _signed_in(app)
    client = app.test_client()
    state = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    assert _token_endpoint_works(client)  # the pool holds live connections
    pg_proxy.set_mode("refuse")

    _assert_unavailable(_code_grant(client))
    _assert_unavailable(client.get("/_resolver/resolve", headers={"Authorization": f"Bearer {token}"}))
    identify = {"identification": "email", "login_id": "someone@example.com"}
    _assert_unavailable(client.post(FLOWS + "/states/input", json={"state_token": state, "input": identify}))
    browser = app.test_client()
    browser.set_cookie("session", cookie)
    _assert_unavailable(browser.get("/settings", headers={"Accept": "text/html"}), html=True)
    health = client.get("/healthz")
    _assert_unavailable(health)
    assert health.get_json()["error"]["info"] == {"database": "unavailable", "redis": "ok"}


def _timed(call: Callable[[], Any], wait: float = 10.0) -> tuple[Any, float]:
    """The answer and how long it took; fails (rather than hangs) when there is none within `wait`."""
    done: list[Any] = []
    start = time.monotonic()
    worker = threading.Thread(target=lambda: done.append(call()), daemon=True)
    worker.start()
    worker.join(wait)
    if not done:
        pytest.fail(f"no answer within {wait} s")
    return done[0], time.monotonic() - start


def test_a_hung_database_answers_503_within_the_bounds(node, pg_proxy):
    app = node()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert _token_endpoint_works(client)  # pooled connections, as in production
    pg_proxy.set_mode("blackhole")  # the server takes every byte and never answers

    # The statement (or the check of an idle connection) times out, then one new connection does.
    token, took = _timed(lambda: _code_grant(client))
    _assert_unavailable(token)
    assert took < IO_TIMEOUT + CONNECT_TIMEOUT + 1.0

    health, took = _timed(lambda: client.get("/healthz"))
    _assert_unavailable(health)
    assert health.get_json()["error"]["info"]["database"] == "unavailable"
    assert took < 2.0

    token, took = _timed(lambda: _code_grant(client))  # on a new connection
    _assert_unavailable(token)
    assert took < CONNECT_TIMEOUT + 1.0

    pg_proxy.set_mode("forward")  # back: the next requests work again, on new connections
    assert _token_endpoint_works(client)
    deadline = time.monotonic() + 5
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_hung_redis_answers_503_within_the_bounds(node, redis_proxy):
    app = node()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.post(FLOWS, json={"type": "login", "name": "default"}).status_code == 200
    redis_proxy.set_mode("blackhole")

    resp, took = _timed(lambda: client.post(FLOWS, json={"type": "login", "name": "default"}))
    _assert_unavailable(resp)
    assert took < REDIS_TIMEOUT * 2 + 1.0

    health, took = _timed(lambda: client.get("/healthz"))
    _assert_unavailable(health)
    assert health.get_json()["error"]["info"]["redis"] == "unavailable"
    assert took < 2.0


def test_a_database_that_hangs_mid_request_answers_503_within_the_bound(node, pg_proxy):
    """The hang starts on the request's own statement, after any check of the pooled connection."""
    app = node()
    client = app.test_client()
    assert _token_endpoint_works(client)
    with app.app_context():
        engine = db.engine

    def hang(*_args: Any) -> None:
        pg_proxy.set_mode("blackhole")

    event.listen(engine, "before_cursor_execute", hang, once=True)
    resp, took = _timed(lambda: _code_grant(client))
    _assert_unavailable(resp)
    assert took < IO_TIMEOUT + 1.0
    pg_proxy.set_mode("forward")
    assert _token_endpoint_works(client)


def test_a_restarted_database_is_invisible_to_the_next_request(node, pg_proxy):
    """Pooled connections closed by the server while idle are checked when next taken and replaced,
    every pooled one at once: the request after a restart answers as usual."""
    app = node()
    clients = [app.test_client() for _ in range(3)]
    assert all(_token_endpoint_works(c) for c in clients)
    pg_proxy.set_mode("refuse")  # closes every connection, as a restarting server does
    pg_proxy.set_mode("forward")
    time.sleep(PING_AFTER_IDLE + 0.1)
    assert all(_token_endpoint_works(c) for c in clients)


def test_a_connection_lost_moments_after_use_fails_one_request_only(node, pg_proxy):
    """A connection taken within PING_AFTER_IDLE of its last use is not checked: if the server closed
    it meanwhile, that request answers 503 and the pool is renewed for the next one."""
    app = node()
    client = app.test_client()
    assert _token_endpoint_works(client)
    pg_proxy.set_mode("refuse")
    pg_proxy.set_mode("forward")
    _assert_unavailable(_code_grant(client))
    assert _token_endpoint_works(client)

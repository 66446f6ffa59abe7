"""The resolver's cached answers in front of Flask (app/resolver/fast.py) are the view's answers,
header for header; whatever the fast path does not answer reaches the view, and a store error on it
is answered by the app's error handlers, the store asked once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask

from app.resolver.invalidation import EXTENSION_KEY

RESOLVE = "/_resolver/resolve"


def _counting_view(app: Flask) -> list[int]:
    """Counts the requests that reach the Flask view."""
    calls = [0]
    view = app.view_functions["resolver.resolve"]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return view(*args, **kwargs)

    app.view_functions["resolver.resolve"] = counted
    return calls


def _headers(resp: Any) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in resp.headers.items())


@pytest.mark.embedded
@pytest.mark.parametrize("credential", ["bearer", "cookie", "app_access_token"])
def test_a_cached_answer_is_the_views_answer(resolver_app: Flask, issuer: Any, credential: str) -> None:
    user_id = issuer.user()
    session_id, cookie = issuer.session(user_id)
    client = resolver_app.test_client()
    headers: dict[str, str] = {}
    if credential == "bearer":
        headers["Authorization"] = f"Bearer {issuer.access_token(user_id, session_id)}"
    elif credential == "cookie":
        client.set_cookie("session", cookie)
    else:
        client.set_cookie("app_access_token", issuer.access_token(user_id, session_id))
    calls = _counting_view(resolver_app)
    first, second = client.get(RESOLVE, headers=headers), client.get(RESOLVE, headers=headers)
    assert calls[0] == 2  # the first learns the user, the second caches the resolution
    for method in (client.get, client.head):
        cached = method(RESOLVE, headers=headers)
        assert calls[0] == 2, "answered in front of Flask"
        assert cached.status_code == 200 and cached.data == b""
        assert _headers(cached) == _headers(second) == _headers(first)
    assert cached.headers["X-Authgear-Session-Valid"] == "true"
    assert cached.headers["X-Authgear-User-Id"] == user_id
    assert cached.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in cached.headers["Content-Security-Policy"]


@pytest.mark.embedded
@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"method": "POST"},  # not a route method: Flask's error answer, as before
        {"path": "/_resolver/resolve/"},  # not the route
        {"data": b"x" * 10, "method": "GET"},  # a body: the view (and the body limit) see it
        {"flask_session": True},
    ],
)
def test_what_the_fast_path_does_not_answer_reaches_flask(
    resolver_app: Flask, issuer: Any, request_kwargs: dict[str, Any]
) -> None:
    user_id = issuer.user()
    session_id, _ = issuer.session(user_id)
    bearer = {"Authorization": f"Bearer {issuer.access_token(user_id, session_id)}"}
    client = resolver_app.test_client()
    for _ in range(2):
        assert client.get(RESOLVE, headers=bearer).headers["X-Authgear-Session-Valid"] == "true"
    calls = _counting_view(resolver_app)
    if request_kwargs.pop("flask_session", False):
        client.set_cookie(resolver_app.config["SESSION_COOKIE_NAME"], "anything")
    path = request_kwargs.pop("path", RESOLVE)
    resp = client.open(path, headers=bearer, **request_kwargs)
    if path != RESOLVE or request_kwargs.get("method") == "POST":
        assert resp.status_code >= 400 and calls[0] == 0
    else:
        assert calls[0] == 1 and resp.headers["X-Authgear-Session-Valid"] == "true"


@pytest.mark.embedded
def test_a_store_error_on_the_fast_path_is_answered_by_the_error_handlers(
    resolver_app: Flask, issuer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = issuer.user()
    session_id, _ = issuer.session(user_id)
    bearer = {"Authorization": f"Bearer {issuer.access_token(user_id, session_id)}"}
    client = resolver_app.test_client()
    for _ in range(2):
        assert client.get(RESOLVE, headers=bearer).headers["X-Authgear-Session-Valid"] == "true"
    cache = resolver_app.extensions[EXTENSION_KEY]
    asked: list[tuple[str, ...]] = []

    def unreachable(*keys: str) -> Callable[..., Any]:
        asked.append(keys)
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(cache, "_get_many", unreachable)
    resp = client.get(RESOLVE, headers=bearer)
    assert resp.status_code == 503
    assert resp.get_json()["error"]["name"] == "ServiceUnavailable"
    assert len(asked) == 1


@pytest.mark.embedded
def test_on_https_the_cached_answer_carries_hsts_as_the_views(make_app: Callable[..., Flask]) -> None:
    from tests.factories import TEST_PROJECT
    from tests.resolver.conftest import Issuer

    app = make_app({"http": {**TEST_PROJECT.get("http", {}), "public_origin": "https://auth.example.com"}})
    issuer = Issuer(app)
    user_id = issuer.user()
    session_id, _ = issuer.session(user_id)
    bearer = {"Authorization": f"Bearer {issuer.access_token(user_id, session_id)}"}
    client = app.test_client()
    calls = _counting_view(app)
    answers = [client.get(RESOLVE, headers=bearer, base_url="https://auth.example.com") for _ in range(3)]
    assert calls[0] == 2
    assert _headers(answers[2]) == _headers(answers[1])
    assert answers[2].headers["Strict-Transport-Security"].startswith("max-age=")

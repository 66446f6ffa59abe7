"""A revocation made on a node that cannot reach Redis: never reported as failed while it took
effect, and never leaving another node trusting the revoked credential.

Two nodes share the database and a Redis of their own; node B reaches that Redis through a TCP proxy
(tests/tcp_proxy.py) that the tests switch off, as a network partition would. Node A keeps its Redis
and its cached resolutions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from app import create_app
from app.extensions import db
from app.sessions.models import AccessToken
from tests.resolver.conftest import JWT_CLIENT, Issuer
from tests.tcp_proxy import TCPProxy, throwaway_redis


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    with throwaway_redis() as port:
        yield port


@pytest.fixture
def redis_proxy(redis_port: int) -> Iterator[TCPProxy]:
    with TCPProxy(redis_port) as proxy:
        yield proxy


@pytest.fixture
def nodes(
    _migrated: Flask, make_config: Callable[..., Any], redis_port: int, redis_proxy: TCPProxy
) -> Iterator[tuple[Flask, Flask]]:
    """Node A (Redis direct) and node B (Redis behind the proxy): one database, one Redis, one prefix."""
    from tests.factories import TEST_PROJECT

    overrides = {"oauth": {"clients": [*TEST_PROJECT["oauth"]["clients"], JWT_CLIENT]}}
    prefix = f"revocation:{uuid.uuid4().hex[:8]}:"
    built = [
        create_app(make_config(overrides, redis_url=f"redis://127.0.0.1:{port}/0", store_prefix=prefix))
        for port in (redis_port, redis_proxy.port)
    ]
    yield built[0], built[1]
    for application in built:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def _valid(client: Any, token: str) -> bool:
    resp = client.get("/_resolver/resolve", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    return resp.headers["X-Authgear-Session-Valid"] == "true"


def _cached_on(node_a: Flask) -> tuple[Any, str, str]:
    """A user's access token whose resolution node A has cached; the token's owner."""
    issuer = Issuer(node_a)
    user_id = issuer.user()
    session_id, _ = issuer.session(user_id)
    token = issuer.access_token(user_id, session_id)
    client = node_a.test_client()
    for _ in range(3):  # the first resolution learns the user, the second is cached
        assert _valid(client, token)
    return client, token, user_id


def _revoke(node_b: Flask, token: str) -> Any:
    return node_b.test_client().post("/oauth2/revoke", data={"token": token, "client_id": "spa-client"})


def _stored(node: Flask, token: str) -> bool:
    with node.app_context():
        provider = node.extensions["gatehouse_oidc"]
        token_hash = provider.access_tokens.hash_of(token)
        return db.session.scalar(select(AccessToken.id).where(AccessToken.token_hash == token_hash)) is not None


def test_revoking_on_a_node_without_redis_answers_503_and_commits_nothing(nodes, redis_proxy):
    node_a, node_b = nodes
    client_a, token, _ = _cached_on(node_a)
    redis_proxy.set_mode("refuse")

    resp = _revoke(node_b, token)
    assert resp.status_code == 503
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.get_json()["error"]["name"] == "ServiceUnavailable"
    assert _stored(node_a, token)  # not revoked: node A is right to trust it
    assert _valid(client_a, token)

    redis_proxy.set_mode("forward")  # the client retries, as told
    assert _revoke(node_b, token).status_code == 200
    assert not _valid(client_a, token)


def test_redis_lost_during_the_commit_still_reports_the_revocation_and_node_a_sees_it(nodes, redis_proxy):
    """Redis answers the change-token write before the COMMIT and is gone for the one after it: the
    revocation took effect, so it answers 200, and node A has stopped trusting the token already."""
    node_a, node_b = nodes
    client_a, token, _ = _cached_on(node_a)
    with node_b.app_context():
        engine = db.engine

    def partition(*_args: Any) -> None:
        redis_proxy.set_mode("refuse")

    event.listen(engine, "commit", partition)  # just before the database's COMMIT
    try:
        resp = _revoke(node_b, token)
    finally:
        event.remove(engine, "commit", partition)
    assert resp.status_code == 200
    assert not _stored(node_a, token)
    assert not _valid(client_a, token)

"""`GET /healthz`: 200 when the database and Redis answer, 503 `ServiceUnavailable` naming what is down."""

from __future__ import annotations

import uuid

import pytest
import redis

from app import create_app
from app.extensions import db
from app.kvstore import MemoryStore, RedisStore
from tests.conftest import BACKEND

CLOSED_PORT = 1  # nothing listens on 127.0.0.1:1


@pytest.mark.embedded
def test_healthy(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    expected_redis = "disabled" if BACKEND == "embedded" else "ok"
    assert resp.get_json() == {"result": {"database": "ok", "redis": expected_redis}}


@pytest.mark.embedded
def test_embedded_mode_reports_redis_disabled(make_config, _migrated):
    application = create_app(make_config(redis_url=None), store=MemoryStore())
    try:
        resp = application.test_client().get("/healthz")
        assert resp.status_code == 200
        assert resp.get_json()["result"]["redis"] == "disabled"
    finally:
        with application.app_context():
            db.engine.dispose()


@pytest.mark.embedded
def test_database_down_is_503_naming_the_database(make_app, tmp_path):
    if BACKEND == "embedded":
        url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite'}"  # the directory does not exist
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{CLOSED_PORT}/gatehouse"
    resp = make_app(database_url=url).test_client().get("/healthz")
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert error["name"] == "ServiceUnavailable"
    assert error["code"] == 503
    assert error["info"]["database"] == "unavailable"
    text = resp.get_data(as_text=True)
    assert str(CLOSED_PORT) + "/" not in text and "OperationalError" not in text  # no driver details


def test_redis_down_is_503_naming_redis(make_config, _migrated):
    url = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    store = RedisStore(redis.Redis.from_url(url, socket_connect_timeout=1), prefix=f"t:{uuid.uuid4().hex}:")
    application = create_app(make_config(redis_url=url), store=store)
    try:
        resp = application.test_client().get("/healthz")
        assert resp.status_code == 503
        error = resp.get_json()["error"]
        assert error["name"] == "ServiceUnavailable"
        assert error["info"] == {"database": "ok", "redis": "unavailable"}
    finally:
        with application.app_context():
            db.engine.dispose()


@pytest.mark.embedded
def test_healthz_answers_json_to_every_caller(client):
    for headers in ({"Accept": "text/html"}, {"Accept": "*/*"}, {}):
        resp = client.get("/healthz?x=" + "y" * 2000, headers=headers)
        assert resp.status_code == 200
        assert resp.mimetype == "application/json"
        assert resp.get_json()["result"]["database"] == "ok"


@pytest.mark.embedded
def test_liveness_answers_without_the_database_or_redis(make_config, _migrated):
    """`/healthz/live` is 200 even when neither dependency can be reached: it must not touch them."""
    dead_redis = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    store = RedisStore(redis.Redis.from_url(dead_redis, socket_connect_timeout=1), prefix=f"t:{uuid.uuid4().hex}:")
    config = make_config(database_url=f"postgresql+psycopg://postgres@127.0.0.1:{CLOSED_PORT}/gatehouse")
    application = create_app(config, store=store)
    client = application.test_client()
    resp = client.get("/healthz/live")
    assert resp.status_code == 200
    assert resp.get_json() == {"result": {"status": "ok"}}
    assert client.get("/healthz").status_code == 503  # the same app does see that they are down
    wrong_method = client.post("/healthz/live")
    assert wrong_method.status_code == 400
    assert wrong_method.get_json()["error"]["reason"] == "MethodNotAllowed"

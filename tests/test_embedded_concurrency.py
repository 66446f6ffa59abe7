"""The embedded default (SQLite + in-process store) served for real, with threads, under concurrency.

A login reads, hashes the password, then writes. SQLite cannot turn a read transaction into a write
one once another connection has committed, so concurrent logins used to answer 500 "database is
locked". Reads must stay concurrent: a request that only reads answers while another connection
holds the write lock.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from app.extensions import db
from tests.conftest import BACKEND

pytestmark = pytest.mark.embedded

FLOWS = "/api/v1/authentication_flows"
# Eighty logins from one address: the per-IP sign-in limits would refuse most of them.
NO_SIGN_IN_LIMITS = {
    "authentication": {
        "rate_limits": {
            "general": {"per_ip": {"enabled": False}, "per_user_per_ip": {"enabled": False}},
            "account_enumeration": {"per_ip": {"enabled": False}},
        }
    },
    "authentication_flow": {"rate_limits": {"per_ip": {"enabled": False}}},
}
PASSWORD = "Concurrent-pass-1"


class Served:
    """The app on a free loopback port, one thread per request (as `flask run` serves it)."""

    def __init__(self, app: Flask) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.origin = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def served(make_app: Callable[..., Flask]) -> Iterator[Served]:
    server = Served(make_app(NO_SIGN_IN_LIMITS))
    yield server
    server.stop()


def _users(app: Flask, count: int) -> list[str]:
    names = [f"concurrent_{i}" for i in range(count)]
    with app.app_context():
        svc = app.extensions["gatehouse"]
        for name in names:
            user = svc.users.create_user([("username", name)])
            svc.passwords.create(user.id, PASSWORD)
        db.session.commit()
    return names


def _login(origin: str, username: str) -> requests.Response:
    body = {
        "type": "login",
        "name": "default",
        "batch_input": [
            {"identification": "username", "login_id": username},
            {"authentication": "primary_password", "password": PASSWORD},
        ],
    }
    return requests.post(origin + FLOWS, json=body, timeout=60)


def test_eighty_logins_eight_at_a_time_all_finish(served: Served) -> None:
    names = _users(served.app, 8)

    def login(i: int) -> tuple[int, Any]:
        resp = _login(served.origin, names[i % len(names)])
        body = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else resp.text
        return resp.status_code, body

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(login, range(80)))
    failed = [(status, body) for status, body in results if status != 200]
    assert not failed, f"{len(failed)} of 80 logins failed, e.g. {failed[:3]}"
    for _, body in results:
        assert body["result"]["action"]["type"] == "finished"
        assert body["result"]["action"]["data"]  # the finished flow's data (e.g. finish_redirect_uri)


@pytest.mark.skipif(BACKEND != "embedded", reason="holds SQLite's write lock; runs in the embedded pass")
def test_reads_answer_while_a_write_transaction_is_held(served: Served, database_url: str) -> None:
    (name,) = _users(served.app, 1)
    login = _login(served.origin, name)
    assert login.status_code == 200
    cookie = login.cookies.get("session")
    assert cookie

    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE users SET updated_at = updated_at")
        started = time.monotonic()
        # The resolver (what a gateway calls before every request): reads the session and the user.
        resolved = requests.get(served.origin + "/_resolver/resolve", cookies={"session": cookie}, timeout=10)
        assert resolved.status_code == 200
        assert resolved.headers["X-Authgear-Session-Valid"] == "true"
        # A hosted page of the signed-in user.
        page = requests.get(served.origin + "/settings", cookies={"session": cookie}, timeout=10)
        assert page.status_code == 200
        assert "text/html" in page.headers["Content-Type"]
        # Neither waited for the writer (the busy timeout is 15 s).
        assert time.monotonic() - started < 5
    finally:
        writer.execute("ROLLBACK")
        writer.close()

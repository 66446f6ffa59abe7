"""An import requested while Redis is down: the answer never leaves a job the client does not
know about (a 500 after the commit made the client's retry a second job). The job is accepted
and runs once Redis is back, queued by a worker's recovery round."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.tasks.models import BackgroundTask
from tests.bulk.conftest import BULK_OVERRIDES, IMPORT, Bulk
from tests.conftest import BACKEND
from tests.tcp_proxy import TCPProxy

REDIS_SERVER = "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def throwaway_redis(tmp_path: Path):
    if BACKEND == "embedded" or not Path(REDIS_SERVER).exists():
        pytest.skip("needs PostgreSQL and a redis-server binary")
    server = ThrowawayRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def _job_rows(app) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(BackgroundTask).where(BackgroundTask.kind == "user_import")
        )
        db.session.rollback()
        return count


@pytest.mark.usefixtures("_migrated")
def test_import_during_a_redis_outage_is_accepted_once_and_runs_when_redis_is_back(
    make_config, bulk_dir, throwaway_redis, start_worker
):
    prefix = f"gatehouse-test-{uuid.uuid4().hex[:12]}:"
    # Everything Redis holds for this app (queues, flow states, rate limits) is on the throwaway server.
    app = create_app(make_config(BULK_OVERRIDES, redis_url=throwaway_redis.url, queue_prefix=prefix))
    try:
        bulk = Bulk(app)
        before = _job_rows(app)
        throwaway_redis.stop()

        records = [{"email": f"outage-{i}@example.com", "name": f"Outage {i}"} for i in range(3)]
        resp = bulk.client.post(IMPORT, json={"identifier": "email", "records": records}, headers=bulk.headers)
        if resp.status_code == 503:  # refused: then nothing was kept, and the client may retry
            assert resp.get_json()["error"]["name"] == "ServiceUnavailable"
            assert resp.headers["Retry-After"]
            assert _job_rows(app) == before
            return
        assert resp.status_code == 200, resp.get_data(as_text=True)
        result = resp.get_json()["result"]
        assert result["status"] == "pending" and result["progress"] == {"processed": 0, "total": 3}
        assert _job_rows(app) == before + 1  # the one job the client was told about
        path = f"{IMPORT}/{result['id']}"
        assert bulk.get(path)["result"]["status"] == "pending"

        throwaway_redis.start()  # back, empty: the job is in no queue
        start_worker(bulk_dir, prefix, lease=None, maintenance=None, redis_url=throwaway_redis.url)
        done = bulk.wait(path, timeout=120)
        assert done["summary"] == {"total": 3, "inserted": 3, "updated": 0, "skipped": 0, "failed": 0}
        assert _job_rows(app) == before + 1
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.usefixtures("_migrated")
def test_an_import_while_redis_hangs_is_answered_within_the_bound(make_config, throwaway_redis):
    """A Redis that takes the connection and never answers: the enqueue gives up after the Redis
    bound (GATEHOUSE_REDIS_TIMEOUT) instead of holding the request, and the committed job is
    answered as accepted (a worker's recovery queues it later)."""
    prefix = f"gatehouse-test-{uuid.uuid4().hex[:12]}:"
    with TCPProxy(throwaway_redis.port) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        app = create_app(make_config(BULK_OVERRIDES, redis_url=url, queue_prefix=prefix, redis_timeout=0.5))
        try:
            bulk = Bulk(app)
            records = [{"email": f"hung-{i}@example.com", "name": f"Hung {i}"} for i in range(2)]
            answers: list = []
            request = threading.Thread(
                target=lambda: answers.append(
                    bulk.client.post(IMPORT, json={"identifier": "email", "records": records}, headers=bulk.headers)
                ),
                daemon=True,
            )
            proxy.set_mode("blackhole")
            started = time.monotonic()
            request.start()
            request.join(timeout=10)
            took = time.monotonic() - started
            proxy.set_mode("refuse")  # lets a request still waiting go (the code before the bound)
            request.join(timeout=10)
            assert took < 3, f"the request was still waiting after {took:.1f} s"
            resp = answers[0]
            assert resp.status_code == 200, resp.get_data(as_text=True)
            assert resp.get_json()["result"]["status"] == "pending"
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()

"""Fixtures of the User Import/Export tests.

On the PostgreSQL backend the jobs run where they run in production: in a real `python worker.py`
process on the test database and the real Redis, with a queue prefix of its own so parallel test
runs never take each other's jobs. The worker reads a project directory written here with the
same project and secrets as the test app (`bulk_app`), which also shares its `exports` directory.
Tests marked `embedded` build their app without Redis instead: the same job functions then run
in a thread of the test process (on SQLite in the embedded pass).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from app.config import deep_merge
from tests.conftest import BACKEND, REDIS_URL
from tests.factories import TEST_PROJECT

IMPORT = "/_api/admin/users/import"
EXPORT = "/_api/admin/users/export"
REPO = Path(__file__).resolve().parents[2]

# What the bulk tests need configured: custom attributes of each type and SMS as a second factor.
BULK_OVERRIDES: dict[str, Any] = {
    "authentication": {"secondary_authenticators": ["totp", "oob_otp_email", "oob_otp_sms"]},
    "user_profile": {
        "custom_attributes": {
            "attributes": [
                {"id": "c1", "pointer": "/member_no", "type": "string"},
                {"id": "c2", "pointer": "/level", "type": "integer", "minimum": 0, "maximum": 100},
                {"id": "c3", "pointer": "/tier", "type": "enum", "enum": ["gold", "silver"]},
            ]
        }
    },
}


def write_project(directory: Path, overrides: dict[str, Any], secrets_items: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    project = deep_merge(TEST_PROJECT, overrides)
    (directory / "authgear.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    (directory / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": secrets_items}), encoding="utf-8")
    return directory


class WorkerProcess:
    """`python worker.py` on the test database and Redis, logging to a file next to its project."""

    def __init__(
        self,
        config_dir: Path,
        database_url: str,
        prefix: str,
        lease: int | None = 10,
        maintenance: float | None = 1,
        redis_url: str = REDIS_URL,
    ) -> None:
        self.redis_url = redis_url
        self.config_dir = config_dir
        self.maintenance = maintenance
        self.database_url = database_url
        self.prefix = prefix
        self.lease = lease
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = config_dir / f"worker-{uuid.uuid4().hex[:8]}.log"

    def start(self) -> WorkerProcess:
        env = dict(os.environ)
        env.update(
            GATEHOUSE_CONFIG_DIR=str(self.config_dir),
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            GATEHOUSE_QUEUE_PREFIX=self.prefix,
        )
        args = [sys.executable, "worker.py"]  # None: worker.py's own default
        if self.lease is not None:
            args += ["--lease", str(self.lease)]
        if self.maintenance is not None:
            args += ["--maintenance-interval", str(self.maintenance)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def bulk_dir(tmp_path_factory: pytest.TempPathFactory, secrets_items: list[dict[str, Any]]) -> Path:
    return write_project(tmp_path_factory.mktemp("bulk-project"), BULK_OVERRIDES, secrets_items)


@pytest.fixture(scope="session")
def queue_prefix() -> str:
    return f"gatehouse-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(scope="session")
def worker(_migrated: Flask, bulk_dir: Path, queue_prefix: str, database_url: str) -> Iterator[WorkerProcess]:
    """One worker for the session (tests run one at a time in each pytest process). Its recovery
    runs only when it starts: it shares the database with tests whose jobs run in threads (or
    wait on queues nobody drains yet) and must not take those over."""
    if BACKEND == "embedded":
        pytest.skip("needs PostgreSQL and Redis")
    proc = WorkerProcess(bulk_dir, database_url, queue_prefix, maintenance=3600).start()
    yield proc
    proc.stop()


@pytest.fixture
def start_worker(database_url: str) -> Iterator[Callable[..., WorkerProcess]]:
    """More workers for one test, stopped at its end."""
    started: list[WorkerProcess] = []

    def start(
        config_dir: Path, prefix: str, lease: int | None = 10, maintenance: float | None = 1, redis_url: str = REDIS_URL
    ) -> WorkerProcess:
        proc = WorkerProcess(config_dir, database_url, prefix, lease, maintenance, redis_url).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def admin_token(app: Flask, **claims: Any) -> str:
    keys = app.extensions["gatehouse"].config.secrets["admin-api.auth"]["keys"]
    key = KeySet.import_key_set({"keys": keys}).keys[0]
    now = int(time.time())
    body = {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 300, **claims}
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, body, key)


class Bulk:
    """The import/export endpoints as an admin script uses them."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self._token, self._signed = "", 0.0

    @property
    def headers(self) -> dict[str, str]:
        """A fresh admin JWT (they live 5 minutes; some tests run longer on a busy machine)."""
        if time.monotonic() - self._signed > 60:
            self._token, self._signed = admin_token(self.app), time.monotonic()
        return {"Authorization": f"Bearer {self._token}"}

    def post(self, path: str, body: Any, status: int = 200) -> dict[str, Any]:
        resp = self.client.post(path, json=body, headers=self.headers)
        assert resp.status_code == status, resp.get_data(as_text=True)
        return resp.get_json()

    def get(self, path: str, status: int = 200) -> dict[str, Any]:
        resp = self.client.get(path, headers=self.headers)
        assert resp.status_code == status, resp.get_data(as_text=True)
        return resp.get_json()

    def start_import(self, records: list[dict[str, Any]], identifier: str = "email", upsert: bool = False) -> str:
        body = {"identifier": identifier, "upsert": upsert, "records": records}
        result = self.post(IMPORT, body)["result"]
        assert result["status"] == "pending" and result["id"].startswith("userimport_")
        return result["id"]

    def wait(self, path: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            result = self.get(path)["result"]
            if result["status"] == "completed":
                return result
            assert time.monotonic() < deadline, f"still pending after {timeout} s: {result}"
            time.sleep(0.05)

    def run_import(self, records: list[dict[str, Any]], identifier: str = "email", upsert: bool = False) -> dict:
        return self.wait(f"{IMPORT}/{self.start_import(records, identifier, upsert)}")

    def run_export(self, request: dict[str, Any]) -> dict[str, Any]:
        result = self.post(EXPORT, request)["result"]
        return self.wait(f"{EXPORT}/{result['id']}")

    def download(self, url: str) -> Any:
        return self.client.get(url)


@pytest.fixture
def bulk_app(make_app: Callable[..., Flask], bulk_dir: Path, queue_prefix: str, worker: WorkerProcess) -> Flask:
    """An app that enqueues on the session's worker and shares its project directory."""
    return make_app(BULK_OVERRIDES, queue_prefix=queue_prefix, config_dir=bulk_dir)


@pytest.fixture
def bulk(bulk_app: Flask) -> Bulk:
    return Bulk(bulk_app)


@pytest.fixture
def thread_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    """An app without Redis: jobs run in threads of this process (the embedded default)."""
    return make_app(BULK_OVERRIDES, redis_url=None, config_dir=tmp_path)


@pytest.fixture
def thread_bulk(thread_app: Flask) -> Bulk:
    return Bulk(thread_app)

"""Test harness: real PostgreSQL and Redis by default; the embedded pass uses SQLite and the
in-process store (GATEHOUSE_TEST_BACKEND=embedded, tests marked `embedded`).

Each test session gets its own PostgreSQL database and its own Redis key prefix, so parallel
workers (and parallel runs) never see each other's data. After every test the tables are
truncated and the store's keys deleted. Truncation (rather than a rolled-back transaction) lets
tests commit for real, which the concurrency tests need.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from app.config import AppConfig, deep_merge, validate_project
from app.extensions import db
from app.kvstore import KVStore, MemoryStore, RedisStore
from app.project_files import complete_secrets
from app.services import Services
from tests.factories import TEST_PROJECT

# The SMTP server fixture (`smtp_server`) the flow and messaging tests read codes from.
pytest_plugins = ["tests.smtp_server"]

BACKEND = os.environ.get("GATEHOUSE_TEST_BACKEND", "postgres")
PG_ADMIN_URL = os.environ.get("GATEHOUSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("GATEHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "embedded":
        skip = pytest.mark.skip(reason="needs PostgreSQL/Redis; the embedded pass runs tests marked `embedded`")
        for item in items:
            if "embedded" not in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "embedded":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'gatehouse.sqlite'}"
        return
    name = f"gatehouse_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def secrets_items() -> list[dict[str, Any]]:
    items, _ = complete_secrets([], ["confidential-client", "m2m-client"])
    return items


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"gatehouse-test:{uuid.uuid4().hex[:12]}:"


def make_store(prefix: str) -> KVStore:
    if BACKEND == "embedded":
        return MemoryStore()
    return RedisStore(redis.Redis.from_url(REDIS_URL), prefix=prefix)


@pytest.fixture(scope="session")
def make_config(database_url: str, secrets_items: list[dict[str, Any]]) -> Callable[..., AppConfig]:
    """An AppConfig for the test project, with `overrides` merged into authgear.yaml."""

    def build(overrides: dict[str, Any] | None = None, **fields: Any) -> AppConfig:
        project, unimplemented = validate_project(deep_merge(TEST_PROJECT, overrides or {}))
        secrets = {i["key"]: i["data"] for i in secrets_items}
        values: dict[str, Any] = {
            "project": project,
            "secrets": secrets,
            "database_url": database_url,
            "redis_url": None if BACKEND == "embedded" else REDIS_URL,
            "config_dir": None,
            "secret_key": "test-secret-key",
            "unimplemented_keys": unimplemented,
            "testing": True,
        }
        values.update(fields)
        return AppConfig(**values)

    return build


@pytest.fixture(scope="session")
def store(redis_prefix: str) -> KVStore:
    return make_store(redis_prefix)


@pytest.fixture(scope="session")
def _migrated(make_config: Callable[..., AppConfig], store: KVStore) -> Iterator[Flask]:
    """The session's base app, after migrating the test database from empty."""
    base = create_app(make_config(), store=store)
    with base.app_context():
        upgrade(directory=base.extensions["migrate"].directory)
    yield base
    with base.app_context():
        db.engine.dispose()


def _dispose(application: Flask) -> None:
    # An app's job-maintenance thread would go on recovering tasks of later tests with this app's
    # config (its receivers, its stores): stop it with the app.
    maintenance = application.extensions.get("gatehouse.jobs.maintenance")
    if maintenance is not None:
        maintenance.stopped.set()
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(_migrated: Flask, make_config: Callable[..., AppConfig], store: KVStore) -> Iterator[Callable[..., Flask]]:
    """Builds an app on the migrated test database; `overrides` go into authgear.yaml."""
    built: list[Flask] = []

    def build(overrides: dict[str, Any] | None = None, **fields: Any) -> Flask:
        application = create_app(make_config(overrides, **fields), store=store)
        built.append(application)
        return application

    yield build
    for application in built:
        _dispose(application)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


@pytest.fixture
def svc(app_ctx: Flask) -> Services:
    """The app's services, inside an app context."""
    return app_ctx.extensions["gatehouse"]


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "_migrated" not in request.fixturenames:
        return
    base: Flask = request.getfixturevalue("_migrated")
    with base.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        # Last: deleting users counts them out of the shards (migration 0009's triggers).
        tables.sort(key=lambda name: name == "user_count_shards")
        # DELETE in dependency order: on the few rows a test leaves it takes milliseconds, where
        # TRUNCATE of every table costs about 0.2 s per test on PostgreSQL.
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))  # noqa: S608 (table names from metadata)
        db.session.commit()
    request.getfixturevalue("store").clear()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Where the browser tests (tests/web) left their screenshots of the hosted pages."""
    factory = getattr(terminalreporter.config, "_tmp_path_factory", None)
    root = getattr(factory, "_basetemp", None)  # only when this run made temporary folders
    folders = sorted(str(p) for p in root.glob("**/web-screenshots") if p.is_dir()) if root else []
    if os.environ.get("GATEHOUSE_SCREENSHOTS"):
        folders.append(os.environ["GATEHOUSE_SCREENSHOTS"])
    for folder in folders:
        terminalreporter.write_line(f"screenshots of the hosted pages: {folder}")

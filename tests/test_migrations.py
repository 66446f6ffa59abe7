"""The Alembic chain builds the schema from empty on SQLite and PostgreSQL, and the result matches
the models exactly (so no model change ships without its migration)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.extensions import db
from app.identities.models import UserCountShard
from app.kvstore import MemoryStore
from tests.conftest import BACKEND, PG_ADMIN_URL

MIGRATIONS = Path(__file__).resolve().parent.parent / "app" / "migrations"


def migrated_app(make_config, url: str) -> Flask:
    app = create_app(make_config(database_url=url, redis_url=None), store=MemoryStore())
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


def schema_diff(app: Flask) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return compare_metadata(context, db.metadata)


def head() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def version(app: Flask) -> list[str]:
    with app.app_context():
        return [r[0] for r in db.session.execute(text("SELECT version_num FROM alembic_version"))]


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    name = f"gatehouse_mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_one_linear_chain():
    script = ScriptDirectory(str(MIGRATIONS))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


@pytest.mark.embedded
def test_sqlite_from_empty_matches_the_models(make_config, tmp_path):
    app = migrated_app(make_config, f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    try:
        assert version(app) == [head()]
        assert schema_diff(app) == []
    finally:
        dispose(app)


@pytest.mark.skipif(BACKEND == "embedded", reason="needs PostgreSQL")
def test_postgres_from_empty_matches_the_models(make_config, fresh_postgres):
    app = migrated_app(make_config, fresh_postgres)
    try:
        assert version(app) == [head()]
        assert schema_diff(app) == []
        with app.app_context():
            columns = {c["name"]: c for c in inspect(db.engine).get_columns("users")}
        assert str(columns["standard_attributes"]["type"]) == "JSONB"
        assert columns["created_at"]["type"].timezone is True
    finally:
        dispose(app)


@pytest.mark.embedded
def test_downgrade_to_base_and_up_again_on_sqlite(make_config, tmp_path):
    app = migrated_app(make_config, f"sqlite:///{tmp_path / 'roundtrip.sqlite'}")
    try:
        directory = app.extensions["migrate"].directory
        with app.app_context():
            downgrade(directory=directory, revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade(directory=directory)
        assert version(app) == [head()]
        assert schema_diff(app) == []
    finally:
        dispose(app)


def test_migrated_schema_enforces_login_id_uniqueness(make_config, tmp_path):
    """The uniqueness guarantee lives in the migrated schema, not only in the models."""
    app = migrated_app(make_config, f"sqlite:///{tmp_path / 'unique.sqlite'}")
    try:
        with app.app_context():
            uniques = inspect(db.engine).get_unique_constraints("identities")
            indexes = inspect(db.engine).get_indexes("identities")
        unique_columns = [u["column_names"] for u in uniques] + [i["column_names"] for i in indexes if i["unique"]]
        assert ["dedup_key"] in unique_columns
    finally:
        dispose(app)


@pytest.mark.embedded
def test_a_schema_drift_is_detected(make_config, tmp_path):
    """The comparison above can fail: an index missing from the database shows up as a difference."""
    app = migrated_app(make_config, f"sqlite:///{tmp_path / 'drift.sqlite'}")
    try:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_identities_login_id"))
        diff = schema_diff(app)
        assert [(d[0], d[1].name) for d in diff] == [("add_index", "ix_identities_login_id")]
    finally:
        dispose(app)


def _count_from_existing_users(make_config, url: str) -> None:
    app = migrated_app(make_config, url)
    try:
        directory = app.extensions["migrate"].directory
        with app.app_context():
            downgrade(directory=directory, revision="0008")
            for i in range(3):
                db.session.execute(
                    text(
                        "INSERT INTO users (id, created_at, updated_at, is_disabled, is_deactivated, is_anonymized,"
                        " opt_out_passkey_upsell, standard_attributes, custom_attributes)"
                        " VALUES (:id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false, false, false, false, '{}', '{}')"
                    ),
                    {"id": f"existing-{i}"},
                )
            db.session.commit()
            upgrade(directory=directory)
            assert UserCountShard.total() == 3
            db.session.execute(text("DELETE FROM users WHERE id = 'existing-0'"))
            db.session.commit()
            assert UserCountShard.total() == 2
    finally:
        dispose(app)


@pytest.mark.embedded
def test_the_user_count_starts_from_the_users_already_there_on_sqlite(make_config, tmp_path):
    _count_from_existing_users(make_config, f"sqlite:///{tmp_path / 'count.sqlite'}")


@pytest.mark.skipif(BACKEND == "embedded", reason="needs PostgreSQL")
def test_the_user_count_starts_from_the_users_already_there_on_postgres(make_config, fresh_postgres):
    _count_from_existing_users(make_config, fresh_postgres)

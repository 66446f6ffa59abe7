"""Gatehouse: create_app(config=None) is the one place where things are wired."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import redis
from flask import Flask, Response, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from app import models  # noqa: F401  (the whole schema, for Alembic)
from app.config import AppConfig, load_config
from app.errors import RequestEntityTooLarge, register_error_handlers
from app.extensions import csrf, db, migrate
from app.flows.engine import FlowEngine
from app.i18n import init_babel
from app.kvstore import KVStore, MemoryStore, RedisStore
from app.resolver import invalidation as resolver_invalidation
from app.resolver.cache import ResolutionCache
from app.services import Services

log = logging.getLogger("gatehouse")

MAX_BODY_BYTES = 1024 * 1024  # contract 0.3


def create_app(config: AppConfig | None = None, store: KVStore | None = None) -> Flask:
    config = config or load_config()
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.update(
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(config.database_url),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SECRET_KEY=config.secret_key or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_NAME=config.cookie_prefix + "web_session",
        WTF_CSRF_TIME_LIMIT=None,
        TESTING=config.testing,
    )
    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True, compare_type=True
    )
    csrf.init_app(app)
    init_babel(app)
    if store is None and config.redis_url:
        store = RedisStore(redis.Redis.from_url(config.redis_url), config.store_prefix)
    elif store is None:
        store = MemoryStore()
    app.extensions["gatehouse"] = Services.build(config, store)
    app.extensions["gatehouse.flows"] = FlowEngine(app.extensions["gatehouse"])
    app.extensions[resolver_invalidation.EXTENSION_KEY] = ResolutionCache(store, app.extensions["gatehouse"].clock)
    resolver_invalidation.install()

    register_error_handlers(app)
    _register_body_limit(app)
    _register_blueprints(app)
    _register_security_headers(app)

    from app.cli import cli

    app.cli.add_command(cli)
    for key in config.unimplemented_keys:
        log.warning("authgear.yaml: %r is accepted but not implemented yet; it has no effect", key)
    return app


def _engine_options(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {"connect_args": {"check_same_thread": False, "timeout": 15}}
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 3}}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """SQLite enforces foreign keys only when asked, per connection."""
    if type(dbapi_connection).__module__ == "sqlite3":
        # pysqlite BEGINs by itself, and only before DML: a SAVEPOINT (`begin_nested`, used by the
        # uniqueness guard) then opens the outermost transaction and its RELEASE commits everything,
        # so a later rollback undoes nothing. Switch that off; `_sqlite_begin` emits BEGIN instead.
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")


def _register_blueprints(app: Flask) -> None:
    from app import admin_bulk, health, oidc, web
    from app.admin import graphql_api as admin_graphql
    from app.api import flows as flows_api
    from app.resolver import routes as resolver
    from app.web import settings as web_settings

    # Bearer-token and cookie-less APIs are CSRF-exempt; the OIDC blueprint exempts its API views one
    # by one (its consent form is protected), and every hosted-page form carries its CSRF token.
    for blueprint, csrf_exempt in (
        (health.bp, True),
        (flows_api.bp, True),
        (admin_graphql.bp, True),
        (admin_bulk.bp, True),
        (resolver.bp, True),
        (oidc.bp, False),
        (web.bp, False),
        (web_settings.bp, False),
    ):
        app.register_blueprint(blueprint)
        if csrf_exempt:
            csrf.exempt(blueprint)


def _register_body_limit(app: Flask) -> None:
    """The global 1 MiB cap (contract 0.3) before any route runs, whether or not it reads the body;
    MAX_CONTENT_LENGTH still stops bodies without Content-Length when they are read."""

    @app.before_request
    def _limit() -> None:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge("JSONTooLarge", "request body too large")


def _register_security_headers(app: Flask) -> None:
    https = app.extensions["gatehouse"].config.secure_cookies

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if resp.mimetype == "text/html":
            resp.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            )
            resp.headers.setdefault("X-Frame-Options", "DENY")
        if https:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return resp

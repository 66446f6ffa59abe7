"""Gatehouse: create_app(config=None) is the one place where things are wired."""

from __future__ import annotations

import inspect
import logging
import secrets
import types
from typing import Any

import redis
from flask import Flask, Response, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from app import models  # noqa: F401  (the whole schema, for Alembic)
from app.config import AppConfig, load_config, unimplemented_report
from app.db import SQLITE_BUSY_TIMEOUT_S, sqlite_begin
from app.dbtimeouts import postgres_engine_options
from app.errors import RequestEntityTooLarge, register_error_handlers
from app.extensions import SigningCookieSessions, csrf, db
from app.flows.engine import FlowEngine
from app.hooks import sink as hook_sink
from app.i18n import init_babel
from app.kvstore import KVStore, MemoryStore, RedisStore
from app.migrations_ext import init_migrations
from app.resolver import invalidation as resolver_invalidation
from app.resolver.cache import ResolutionCache
from app.resolver.fast import CachedResolutions
from app.services import Services

log = logging.getLogger("gatehouse")

MAX_BODY_BYTES = 1024 * 1024  # contract 0.3


def create_app(config: AppConfig | None = None, store: KVStore | None = None) -> Flask:
    config = config or load_config()
    from app.project_files import private_sqlite_file

    private_sqlite_file(config.database_url)  # before SQLite creates it 0644 (password hashes, TOTP secrets)
    app = _Flask(__name__, template_folder="../templates", static_folder="../static")
    app.session_interface = SigningCookieSessions()
    app.config.update(
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(config.database_url, config),
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
    init_migrations(app)
    csrf.init_app(app)
    init_babel(app)
    if store is None and config.redis_url:
        # Bounded socket waits: an unreachable or hung Redis fails the request (503) within them.
        timeout = config.redis_timeout or None
        client = redis.Redis.from_url(config.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        store = RedisStore(client, config.store_prefix)
    elif store is None:
        store = MemoryStore()
    app.extensions["gatehouse"] = Services.build(config, store)
    app.extensions["gatehouse.flows"] = FlowEngine(app.extensions["gatehouse"])
    hook_sink.install(app)  # checks the Deno hook scripts: one that does not type-check stops the start
    app.extensions[resolver_invalidation.EXTENSION_KEY] = ResolutionCache(store, app.extensions["gatehouse"].clock)
    resolver_invalidation.install()

    register_error_handlers(app)
    _register_body_limit(app)
    _register_blueprints(app)
    _register_security_headers(app)
    # The resolver's cached answers, in front of Flask (the after-request hooks' headers included).
    app.wsgi_app = CachedResolutions(  # type: ignore[method-assign]
        app.wsgi_app,
        app.extensions[resolver_invalidation.EXTENSION_KEY],
        cookie_prefix=config.cookie_prefix,
        flask_session_cookie=app.config["SESSION_COOKIE_NAME"],
        response_headers=[(name, value) for _, name, value in security_headers(True, config.secure_cookies)],
    )
    if config.trust_proxy:
        app.wsgi_app = TrustedProxy(app.wsgi_app)  # type: ignore[method-assign]

    from app.cli import cli

    app.cli.add_command(cli)
    for line in unimplemented_report(config):
        log.warning("%s", line)
    return app


class _Flask(Flask):
    """Flask, less an `inspect.iscoroutinefunction` for each hook and view of every request: a plain
    function or method whose code is not a coroutine's is returned as it is, as Flask would."""

    def ensure_sync(self, func: Any) -> Any:
        if type(func) not in _PLAIN_CALLABLES:
            return super().ensure_sync(func)
        # The hooks and views are the same few objects on every request: their verdict is kept.
        if func in _SYNC:
            return func
        code = getattr(func, "__code__", None)
        if (
            code is not None
            and not code.co_flags & _CO_ASYNC
            and not hasattr(func, "_is_coroutine_marker")  # inspect.markcoroutinefunction (3.12)
        ):
            if len(_SYNC) < _SYNC_MAX:
                _SYNC.add(func)
            return func
        return super().ensure_sync(func)


# Plain functions and methods (hashed by identity) known not to be coroutines; bounded, in case
# something passes new closures on every request.
_SYNC: set[Any] = set()
_SYNC_MAX = 4096


_CO_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_PLAIN_CALLABLES = (types.FunctionType, types.MethodType)


def _engine_options(url: str, config: AppConfig) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {"connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}}
    return postgres_engine_options(config)  # statement, I/O, connect and pool timeouts


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """SQLite enforces foreign keys only when asked, per connection."""
    if type(dbapi_connection).__module__ == "sqlite3":
        # pysqlite BEGINs by itself, and only before DML: a SAVEPOINT (`begin_nested`, used by the
        # uniqueness guard) then opens the outermost transaction and its RELEASE commits everything,
        # so a later rollback undoes nothing. Switch that off; `_sqlite_begin` emits BEGIN instead,
        # and the first write of a transaction takes the write lock (app/db.py `sqlite_begin`).
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # A writer waits this long for another's write lock before "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        sqlite_begin(conn)


def _register_blueprints(app: Flask) -> None:
    from app import admin_bulk, demo, health, oidc, web
    from app.admin import graphql_api as admin_graphql
    from app.api import account_management as account_management_api
    from app.api import anonymous_user as anonymous_user_api
    from app.api import flows as flows_api
    from app.resolver import routes as resolver
    from app.web import settings as web_settings
    from app.web import whatsapp_webhook

    # Bearer-token and cookie-less APIs are CSRF-exempt; the OIDC blueprint exempts its API views one
    # by one (its consent form is protected), and every hosted-page form carries its CSRF token.
    for blueprint, csrf_exempt in (
        (health.bp, True),
        (flows_api.bp, True),
        (anonymous_user_api.bp, True),
        (account_management_api.bp, True),  # JSON only, other origins refused (app/api/json_api.py)
        (admin_graphql.bp, True),
        (admin_bulk.bp, True),
        (resolver.bp, True),
        (whatsapp_webhook.bp, True),  # signed by Meta, no cookies
        (oidc.bp, False),
        (web.bp, False),
        (web_settings.bp, False),
        (demo.bp, False),
    ):
        app.register_blueprint(blueprint)
        if csrf_exempt:
            csrf.exempt(blueprint)


def _register_body_limit(app: Flask) -> None:
    """The global 1 MiB cap (contract 0.3) before any route runs, whether or not it reads the body;
    MAX_CONTENT_LENGTH still stops bodies without Content-Length when they are read."""

    @app.before_request
    def _limit() -> None:
        # Most requests (every GET) carry no Content-Length: no header parsing for them.
        if "CONTENT_LENGTH" in request.environ and (request.content_length or 0) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge("JSONTooLarge", "request body too large")


class TrustedProxy(ProxyFix):
    """TRUST_PROXY: the client's address, scheme and host as one reverse proxy in front reports them
    (X-Forwarded-For / -Proto / -Host, or X-Real-IP when it sets no X-Forwarded-For), applied before
    anything reads `request.remote_addr` (rate limits, audit rows, sessions). Unlike Authgear, which
    takes the first X-Forwarded-For entry, only the last one counts: the entry the proxy appended,
    since anything before it is whatever the client sent."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, x_for=1, x_proto=1, x_host=1)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        real_ip = environ.get("HTTP_X_REAL_IP", "").strip()
        if real_ip and not environ.get("HTTP_X_FORWARDED_FOR"):
            environ["HTTP_X_FORWARDED_FOR"] = real_ip
        return super().__call__(environ, start_response)


# The headers every response gets unless it set them itself, precomputed: (lower-case name, name, value).
_EVERY_RESPONSE = (
    ("x-content-type-options", "X-Content-Type-Options", "nosniff"),
    ("referrer-policy", "Referrer-Policy", "same-origin"),
)
_HTML_RESPONSE = (
    (
        "content-security-policy",
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-frame-options", "X-Frame-Options", "DENY"),
)
_HTTPS_RESPONSE = (("strict-transport-security", "Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)


def security_headers(html: bool, https: bool) -> tuple[tuple[str, str, str], ...]:
    """The headers a response gets unless it set them: (lower-case name, name, value)."""
    return _EVERY_RESPONSE + (_HTML_RESPONSE if html else ()) + (_HTTPS_RESPONSE if https else ())


def _register_security_headers(app: Flask) -> None:
    https = app.extensions["gatehouse"].config.secure_cookies
    wanted_plain = security_headers(False, https)
    wanted_html = security_headers(True, https)

    @app.after_request
    def _headers(resp: Response) -> Response:
        # One pass over the response's headers (each `setdefault` would scan them all again).
        headers = resp.headers
        present = set()
        content_type = None
        for name, value in headers:
            name = name.lower()
            present.add(name)
            if name == "content-type" and content_type is None:
                content_type = value
        html = content_type is not None and content_type.partition(";")[0].strip() == "text/html"
        for lower, name, value in wanted_html if html else wanted_plain:
            if lower not in present:
                headers.add(name, value)
        return resp

"""Bounded waits on PostgreSQL, so that a hung or unreachable database costs a request a known time
and an answer 503 (app/errors.py) instead of holding it, and its web worker, forever.

Three bounds, from the configuration (app/config.py, README "Production"):

- `statement_timeout` (server side): PostgreSQL cancels a statement that runs too long, e.g. one
  waiting on a lock; the connection stays usable.
- the I/O bound (client side): no wait for the server's answer (a query, COMMIT, the pool's check
  of an idle connection) lasts longer. It covers what the server cannot: a server that is hung, or a
  network path that swallows packets while the TCP connection looks alive. Past it the connection is
  closed and `DatabaseTimeout` raised. It is longer than `statement_timeout`, so a slow statement gets
  PostgreSQL's own clean cancel first.
- connecting (`connect_timeout`), TCP keepalives and `tcp_user_timeout` (libpq), and the pool's
  wait for a free connection (`pool_timeout`).

A pooled connection is checked (`SELECT 1`) when it is taken after lying idle for
`PING_AFTER_IDLE` seconds or more, rather than at every checkout as SQLAlchemy's `pool_pre_ping`
would: under load a connection comes back within milliseconds and the ping was a round trip and
~0.1 ms of CPU on every request. A connection that fails its check is replaced, and with it every
pooled one (a restarted server closed them all); one that dies while in use fails its statement,
which SQLAlchemy takes for a disconnection and which answers 503 (app/errors.py), as before.

`bounded_waits(seconds)` lowers the I/O bound for the block (the health check uses it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

if TYPE_CHECKING:
    from app.config import AppConfig

CONNECT_TIMEOUT = 3  # seconds; libpq counts whole seconds, at least 2
POOL_TIMEOUT = 5  # seconds a request waits for a free pooled connection
PING_AFTER_IDLE = 1.0  # seconds a pooled connection may lie idle and still be taken unchecked
# Connect argument that carries the I/O bound to `_connect`, which takes it out before libpq sees it.
_IO_TIMEOUT_ARG = "gatehouse_io_timeout"
_STATEMENT_TIMEOUT_ARG = "gatehouse_statement_timeout"
_limit: ContextVar[float | None] = ContextVar("gatehouse_db_wait_limit", default=None)
# psycopg raises this (an OperationalError) when a wait's `timeout` passes.
_WaitTimeout: type[Exception] = getattr(pg_errors, "_WaitTimeout", pg_errors.OperationalError)


class DatabaseTimeout(psycopg.OperationalError):  # noqa: N818 (reads as what happened, like TimeoutError)
    """The database did not answer within the bound; the connection has been closed, so SQLAlchemy
    takes it for a disconnection: it drops the connection and every pooled one, then tries one new
    connection, bounded by `connect_timeout`."""


class BoundedConnection(psycopg.Connection):  # type: ignore[type-arg]
    """A psycopg connection whose every wait on the server ends within `io_timeout` seconds."""

    io_timeout: float | None = None
    idle_since: float | None = None  # monotonic time of its return to the pool; None: never used

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is not None:  # psycopg's own bounded waits (notifies) keep their meaning
            return super().wait(gen, interval, timeout)
        bounds = [b for b in (self.io_timeout, _limit.get()) if b]
        if not bounds:
            return super().wait(gen, interval)
        try:
            return super().wait(gen, interval, min(bounds))
        except _WaitTimeout:
            # The connection is mid-protocol with an answer that may still come: unusable. Closing
            # it makes every later use (the rollback at the end of the request) fail at once.
            self.pgconn.finish()
            raise DatabaseTimeout(f"the database did not answer within {min(bounds):g} s") from None


@contextmanager
def bounded_waits(seconds: float) -> Iterator[None]:
    """Waits on PostgreSQL in this block (this thread or task) end within `seconds`."""
    token = _limit.set(seconds)
    try:
        yield
    finally:
        _limit.reset(token)


def postgres_engine_options(config: AppConfig) -> dict[str, object]:
    """SQLAlchemy engine options for PostgreSQL with the bounds above (seconds; 0 turns one off)."""
    connect_args: dict[str, object] = {
        "connect_timeout": CONNECT_TIMEOUT,
        # A peer gone without a word (host down, network cut) is noticed on idle pooled connections.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        _IO_TIMEOUT_ARG: config.db_io_timeout,
        _STATEMENT_TIMEOUT_ARG: config.db_statement_timeout,
    }
    if config.db_io_timeout:
        # Data sent and never acknowledged (a black-holed route) fails the socket after this long.
        connect_args["tcp_user_timeout"] = int(config.db_io_timeout * 1000)
    return {"pool_timeout": POOL_TIMEOUT, "connect_args": connect_args}


@event.listens_for(Engine, "do_connect")
def _connect(dialect: Any, _record: object, cargs: list[Any], cparams: dict[str, Any]) -> Any:
    """Connects engines made with `postgres_engine_options` through `BoundedConnection`."""
    if _IO_TIMEOUT_ARG not in cparams:
        return None  # another engine: SQLAlchemy connects as usual
    io_timeout = cparams.pop(_IO_TIMEOUT_ARG)
    statement_timeout = cparams.pop(_STATEMENT_TIMEOUT_ARG)
    if statement_timeout:
        # Appended to any `options` of the database URL rather than replacing them.
        ms = int(statement_timeout * 1000)
        cparams["options"] = f"{cparams.get('options', '')} -c statement_timeout={ms}".strip()
    conn = BoundedConnection.connect(*cargs, **cparams)
    conn.io_timeout = io_timeout or None
    return conn


@event.listens_for(Pool, "checkout")
def _ping_after_idle(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    """Checks a `BoundedConnection` that lay idle for `PING_AFTER_IDLE` seconds or more."""
    if not isinstance(dbapi_connection, BoundedConnection):
        return
    idle_since = dbapi_connection.idle_since
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
        return  # new (just connected), or back from a request a moment ago
    try:
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.rollback()
    except psycopg.Error as e:
        # The pool replaces this connection and every other pooled one, then connects again.
        raise exc.InvalidatePoolError(f"pooled connection failed its check: {e}") from e


@event.listens_for(Pool, "checkin")
def _mark_idle(dbapi_connection: Any, _record: object) -> None:
    if isinstance(dbapi_connection, BoundedConnection):
        dbapi_connection.idle_since = time.monotonic()

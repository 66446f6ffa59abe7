"""Declarative base, naming convention, shared column types and the clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, String, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Clock = Callable[[], datetime]

# Execution option of a bulk INSERT, UPDATE or DELETE run through the session, e.g.
# `delete(...).execution_options(changes_users=[user_id])`: the users whose sessions, tokens or facts
# it may change (`[]`: none). Without it the resolver's cache takes the statement as changing
# everyone's (app/resolver/invalidation.py).
CHANGES_USERS = "changes_users"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """UUID v4 string, Authgear's ID format (contract 0.4)."""
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


JSONType = JSON().with_variant(JSONB(), "postgresql")
ID = String(36)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={
            datetime: UTCDateTime,
            dict[str, Any]: JSONType,
            list[str]: JSONType,
        },
    )


# -- SQLite transactions (the embedded default) -------------------------------------------------------
# How long a SQLite write waits for another connection's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 15
_SQLITE_TXN = "gatehouse.sqlite_txn"  # Connection.info key: "deferred" or "immediate"
_SQLITE_READS = ("SELECT", "PRAGMA", "EXPLAIN", "BEGIN", "VALUES")


def sqlite_begin(conn: Connection) -> None:
    """Open a SQLite transaction as a reader: `BEGIN` (deferred), so that reads run side by side.

    In WAL mode a deferred transaction reads one snapshot, and SQLite cannot turn it into a write
    transaction once another connection has committed after it (SQLITE_BUSY_SNAPSHOT, returned at
    once: the busy timeout does not help). So the first statement that writes, or locks rows
    (`FOR UPDATE`), or opens a savepoint, ends that read-only transaction and opens
    `BEGIN IMMEDIATE` instead (`_sqlite_write_lock`), which waits for the write lock up to the busy
    timeout. Nothing is lost (nothing was written yet); statements after it see the latest data, as
    on PostgreSQL's READ COMMITTED, and writers are serialized from their first write to commit.
    """
    conn.info[_SQLITE_TXN] = "beginning"
    conn.exec_driver_sql("BEGIN")
    conn.info[_SQLITE_TXN] = "deferred"


def _sqlite_reads_only(statement: str, context: Any) -> bool:
    compiled = getattr(context, "compiled", None)
    if getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None:
        return False  # SQLite has no row locks: a locking read takes the write lock instead
    words = statement.split(None, 1)
    verb = words[0].upper() if words else ""
    if verb == "WITH":
        return compiled is not None and not (context.isinsert or context.isupdate or context.isdelete)
    return verb in _SQLITE_READS


@event.listens_for(Engine, "before_cursor_execute")
def _sqlite_write_lock(
    conn: Connection, _cursor: Any, statement: str, _parameters: Any, context: Any, _executemany: bool
) -> None:
    """The first write of a deferred SQLite transaction (see `sqlite_begin`) takes the write lock."""
    if conn.info.get(_SQLITE_TXN) != "deferred" or _sqlite_reads_only(statement, context):
        return
    raw = conn.connection.dbapi_connection
    if raw is None or not raw.in_transaction:  # type: ignore[attr-defined]
        return  # autocommit: each statement is its own transaction
    raw.execute("COMMIT")  # type: ignore[attr-defined]  (read only so far)
    try:
        raw.execute("BEGIN IMMEDIATE")  # type: ignore[attr-defined]
    except Exception:
        raw.execute("BEGIN")  # type: ignore[attr-defined]  (still in a transaction, as SQLAlchemy expects)
        raise
    conn.info[_SQLITE_TXN] = "immediate"

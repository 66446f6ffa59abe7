"""Background task rows shared by the import and export jobs: IDs, times, lookup, locking, attempts.

Status follows Authgear: `pending` until done, then `completed` (a failed export is `completed`
with `failed_at` and `error`). Results stay readable for 24 hours after completion (`expire_at`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from app.crypto import random_base32
from app.errors import AppError, InternalError, NotFound
from app.extensions import db
from app.tasks.models import BackgroundTask

log = logging.getLogger(__name__)

RESULT_TTL = timedelta(hours=24)
_TASK_ID = re.compile(r"^[a-z]{1,20}_[A-Z2-7]{32}$")
# A task that crashed its worker this many times is given up on and ends as failed.
MAX_ATTEMPTS = 5


class TaskNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("TaskNotFound", "task not found")


def new_task_id(prefix: str) -> str:
    """`<prefix><32 base32>`, e.g. `userimport_...` (contract 0.4)."""
    return prefix + random_base32(32)


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def find_task(task_id: str, kind: str, now: datetime) -> BackgroundTask:
    """A task of `kind` whose results have not expired, or `TaskNotFound`."""
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
        raise TaskNotFound()
    task = db.session.get(BackgroundTask, task_id)
    if task is None or task.kind != kind or (task.expire_at is not None and task.expire_at <= now):
        raise TaskNotFound()
    return task


def write_first(task_id: str) -> None:
    """On SQLite, takes the database's write lock before anything is read in this transaction.

    SQLite has no `SELECT ... FOR UPDATE`, and in WAL mode a transaction that has read cannot
    write once another connection has committed since ("database is locked", with no waiting). A
    write as the first statement waits for the lock (busy timeout) instead, and everything the
    transaction then reads is current. It must be the transaction's first statement."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            update(BackgroundTask)
            .where(BackgroundTask.id == task_id)
            .values(id=BackgroundTask.id)
            .execution_options(synchronize_session=False)
        )


def lock_task(task_id: str) -> BackgroundTask | None:
    """The task row, freshly read and locked until the transaction ends (`SELECT ... FOR UPDATE`,
    or `write_first` on SQLite), so two workers never process the same step."""
    write_first(task_id)
    stmt = select(BackgroundTask).where(BackgroundTask.id == task_id).with_for_update()
    return db.session.scalar(stmt.execution_options(populate_existing=True))


def start_attempt(task_id: str) -> int | None:
    """Counts one more attempt at a pending task and commits; the attempt number, or None when the
    task is gone or no longer pending."""
    task = lock_task(task_id)
    if task is None or task.status != "pending":
        db.session.rollback()
        return None
    progress = dict(task.progress or {})
    progress["attempts"] = int(progress.get("attempts", 0)) + 1
    task.progress = progress
    db.session.commit()
    return progress["attempts"]


def job_function(func: Callable[[str], None]) -> Callable[[str], None]:
    """A job body: whatever happens, it leaves no transaction or session behind for the next job
    that the same worker runs."""

    @functools.wraps(func)
    def run(task_id: str) -> None:
        try:
            func(task_id)
        finally:
            db.session.rollback()
            db.session.remove()

    return run


def public_error(exc: BaseException) -> dict[str, Any]:
    """The API error a task reports for an exception: an `AppError` as it is, anything else as
    `InternalError/UnexpectedError` (the details go to the log only)."""
    if isinstance(exc, AppError):
        return exc.to_dict()
    log.error("task failed: %s", type(exc).__name__, exc_info=exc)
    return InternalError("UnexpectedError", "unexpected error").to_dict()

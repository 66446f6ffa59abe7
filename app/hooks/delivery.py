"""Non-blocking delivery: one task row per event (app/tasks), delivered by the job runner.

The row is written in the transaction that made the change (sink.py), so an event exists exactly
when its change committed, and survives any process. After the commit its ID goes to the runner
(RQ, or a thread in the embedded mode); the recovery round (app/jobs/maintenance.py) hands it
over again when that was lost or its worker died, and when a failed handler's retry is due.

Each handler's outcome is committed as soon as it is known, so a handler that answered 2xx is
never sent the event again by a later attempt; a worker killed between a delivery and that commit
sends it once more, with the same `id`, which receivers use to recognise it. A handler that fails
(timeout, no connection, non-2xx, a Deno error) is retried with exponential backoff, 5 s doubling
up to an hour, at most MAX_ATTEMPTS times; the task then completes with the failure recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import AppError
from app.extensions import db
from app.jobs.runner import JobRunner, get_runner
from app.jobs.tasks import RESULT_TTL, job_function, lock_task, new_task_id, public_error
from app.tasks.models import BackgroundTask

log = logging.getLogger(__name__)

KIND = "hook_event"
PREFIX = "hookevent_"
QUEUE = "default"
TIMEOUT_SECONDS = 600
NON_BLOCKING_TIMEOUT_SECONDS = 60.0  # Authgear's async client
BACKOFF_FIRST_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 3600.0
MAX_ATTEMPTS = 10
# Recovery looks at this many of the oldest pending events per round.
RECOVERY_BATCH = 500


def backoff(attempts: int) -> float:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (attempts - 1))


def stage(session: Session, event: dict[str, Any], urls: list[str], now: datetime) -> str:
    """The event's task row, in the caller's transaction."""
    task_id = new_task_id(PREFIX)
    handlers = [{"url": url, "state": "pending", "attempts": 0, "next_at": None} for url in urls]
    session.add(
        BackgroundTask(
            id=task_id,
            kind=KIND,
            status="pending",
            created_at=now,
            input={"event": event},
            progress={"handlers": handlers},
            result={},
        )
    )
    return task_id


def enqueue_all(app: Flask, task_ids: list[str]) -> None:
    """Right after the commit. A failed enqueue (Redis down) loses nothing: recovery finds the row."""
    try:
        runner = get_runner(app)
        for task_id in task_ids:
            runner.enqueue(QUEUE, deliver_event, task_id, TIMEOUT_SECONDS)
    except Exception:
        log.warning("could not queue %d hook event(s); recovery will", len(task_ids), exc_info=True)


def _due(handler: dict[str, Any], now: datetime) -> bool:
    return handler["state"] == "pending" and (handler["next_at"] is None or handler["next_at"] <= now.timestamp())


@job_function
def deliver_event(task_id: str) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    from app.hooks.sink import EXTENSION_KEY

    sink = app.extensions[EXTENSION_KEY]
    clock = app.extensions["gatehouse"].clock
    with get_runner(app).hold(task_id) as lease:
        if lease is None:
            return
        task = db.session.get(BackgroundTask, task_id)
        if task is None or task.kind != KIND or task.status != "pending":
            return
        event = task.input["event"]
        handlers = [dict(h) for h in task.progress["handlers"]]
        db.session.commit()
        for index, handler in enumerate(handlers):
            if lease.lost or not _due(handler, clock()):
                continue
            error: dict[str, Any] | None = None
            try:
                sink.deliver(handler["url"], event, NON_BLOCKING_TIMEOUT_SECONDS)
            except AppError as exc:
                error = exc.to_dict()
            except Exception as exc:  # a bug or an unexpected library error: retried like any failure
                error = public_error(exc)
            _record(task_id, index, error, clock())


def _record(task_id: str, index: int, error: dict[str, Any] | None, now: datetime) -> None:
    task = lock_task(task_id)
    if task is None:
        db.session.rollback()
        return
    handlers = [dict(h) for h in task.progress["handlers"]]
    handler = handlers[index]
    if handler["state"] != "pending":
        # A late answer of a worker that lost its lease: another worker has recorded this handler.
        db.session.rollback()
        return
    handler["attempts"] += 1
    if error is None:
        handler.update(state="delivered", next_at=None, delivered_at=now.timestamp())
    elif handler["attempts"] >= MAX_ATTEMPTS:
        handler.update(state="failed", next_at=None, error=error)
        log.error("hook event %s: giving up on %s after %d attempts", task_id, handler["url"], handler["attempts"])
    else:
        handler.update(next_at=now.timestamp() + backoff(handler["attempts"]), error=error)
        log.warning("hook event %s: %s failed (%s); retrying", task_id, handler["url"], error.get("reason"))
    task.progress = {**task.progress, "handlers": handlers}
    if all(h["state"] != "pending" for h in handlers):
        task.status = "completed"
        task.completed_at = now
        task.expire_at = now + RESULT_TTL
    db.session.commit()


def recover(runner: JobRunner, now: datetime, grace: timedelta) -> list[str]:
    """Events older than `grace` with a handler due and no live job: queued again."""
    rows = db.session.scalars(
        select(BackgroundTask)
        .where(BackgroundTask.kind == KIND, BackgroundTask.status == "pending")
        .where(BackgroundTask.created_at <= now - grace)
        .order_by(BackgroundTask.created_at)
        .limit(RECOVERY_BATCH)
    )
    due = [t.id for t in rows if any(_due(h, now) for h in t.progress.get("handlers", []))]
    recovered = []
    for task_id in due:
        if not runner.is_alive(task_id):
            runner.enqueue(QUEUE, deliver_event, task_id, TIMEOUT_SECONDS)
            recovered.append(task_id)
    return recovered

"""Housekeeping the workers (or the web process's job threads) run on a timer.

- `recover_orphans`, every round (2 seconds in workers, 10 in the web process's job threads; one
  worker per round does it): a pending task that no worker holds (its worker was killed, or the
  enqueue after a commit was lost) is enqueued again. For an import job whose tasks must run in
  order that is only the first task not yet completed.
- `cleanup_expired`, every minute (or every round when rounds are longer): task rows whose results
  expired (24 hours after completion) and their export files go; so does any export file, or
  abandoned partial file, older than 24 hours.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, or_, select

from app.extensions import db
from app.hooks import delivery as hook_delivery
from app.jobs import user_export, user_import
from app.jobs.runner import JobRunner, get_runner
from app.jobs.storage import ExportStorage, export_storage
from app.jobs.tasks import RESULT_TTL
from app.tasks.models import BackgroundTask

log = logging.getLogger(__name__)

# With the 5-second lease, a killed worker's task runs again within about 7 seconds.
MAINTENANCE_INTERVAL_SECONDS = 2.0
# Threads of the web process lose no job while the process lives; rounds retry the jobs that
# raised (after their pause) and the tasks an earlier process left pending.
THREAD_MAINTENANCE_INTERVAL_SECONDS = 10.0
CLEANUP_INTERVAL_SECONDS = 60.0
# A task this young may still be on its way to the queue: recovery leaves it alone.
ENQUEUE_GRACE = timedelta(seconds=5)


def cleanup_expired(now: datetime, storage: ExportStorage) -> int:
    """Deletes expired tasks (with their files) and files older than 24 hours; returns how many
    task rows went."""
    expired = list(
        db.session.execute(
            select(BackgroundTask.id, BackgroundTask.kind, BackgroundTask.result).where(
                BackgroundTask.expire_at.is_not(None), BackgroundTask.expire_at <= now
            )
        )
    )
    ids = [row.id for row in expired]
    db.session.commit()  # the delete below starts a transaction of its own (SQLite: see write_first)
    for row in expired:
        if row.kind == user_export.KIND and (row.result or {}).get("file_name"):
            storage.delete(row.result["file_name"])
    if ids:
        db.session.execute(
            delete(BackgroundTask).where(or_(BackgroundTask.id.in_(ids), BackgroundTask.parent_id.in_(ids)))
        )
    db.session.commit()
    storage.delete_older_than(now - RESULT_TTL)
    return len(ids)


def recover_orphans(runner: JobRunner, now: datetime) -> list[str]:
    """Enqueues pending tasks that are neither queued nor running anywhere; returns their IDs."""
    recovered: list[str] = []
    old_enough = BackgroundTask.created_at <= now - ENQUEUE_GRACE
    exports = db.session.scalars(
        select(BackgroundTask.id).where(
            BackgroundTask.kind == user_export.KIND, BackgroundTask.status == "pending", old_enough
        )
    )
    candidates = [
        (user_export.QUEUE, user_export.run_export, task_id, user_export.TIMEOUT_SECONDS) for task_id in exports
    ]
    jobs = db.session.scalars(
        select(BackgroundTask).where(
            BackgroundTask.kind == user_import.JOB_KIND, BackgroundTask.status == "pending", old_enough
        )
    )
    for job in list(jobs):
        candidates += [
            (user_import.QUEUE, user_import.run_import_task, task_id, user_import.TASK_TIMEOUT_SECONDS)
            for task_id in user_import.runnable_tasks(job)
        ]
    alive = runner.alive([task_id for _, _, task_id, _ in candidates])  # one round trip, not three per task
    for queue_name, func, task_id, timeout in candidates:
        if task_id not in alive:
            runner.enqueue(queue_name, func, task_id, timeout)
            recovered.append(task_id)
    recovered += hook_delivery.recover(runner, now, ENQUEUE_GRACE)  # hook events lost or due for a retry
    db.session.rollback()
    if recovered:
        log.warning("re-enqueued %d orphaned task(s): %s", len(recovered), ", ".join(recovered))
    return recovered


def run_maintenance(app: Flask, cleanup: bool = True, interval: float = 0.0) -> None:
    """One round: recovery (unless another worker has claimed this `interval`'s round) and, when
    asked, cleanup."""
    with app.app_context():
        try:
            now = app.extensions["gatehouse"].clock()
            if cleanup:
                cleanup_expired(now, export_storage(app))
            runner = get_runner(app)
            # Capped, so a worker with long rounds never keeps the others from recovering.
            if runner.claim_recovery_round(min(interval, MAINTENANCE_INTERVAL_SECONDS) * 0.9):
                recover_orphans(runner, now)
        finally:
            db.session.rollback()
            db.session.remove()


class MaintenanceThread(threading.Thread):
    """Runs recovery now and then every `interval` seconds, and cleanup every
    `CLEANUP_INTERVAL_SECONDS` (or every round when rounds are longer), for the life of the process."""

    def __init__(self, app: Flask, interval: float = MAINTENANCE_INTERVAL_SECONDS) -> None:
        super().__init__(name="gatehouse-jobs-maintenance", daemon=True)
        self.app = app
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        cleaned = float("-inf")
        while not self.stopped.is_set():
            cleanup = time.monotonic() - cleaned >= max(CLEANUP_INTERVAL_SECONDS, self.interval) - 0.5
            try:
                run_maintenance(self.app, cleanup, self.interval)
            except Exception:
                log.exception("job maintenance failed")
            else:
                if cleanup:
                    cleaned = time.monotonic()
            self.stopped.wait(self.interval)

"""Where jobs run: RQ queues on Redis when Redis is configured, else threads of the web process.

A job is an importable function that takes one task ID (`BackgroundTask.id`, also the RQ job ID).
The database row is the source of truth; the runner only carries the ID to a worker. A job that
is lost (its worker killed, a failed enqueue) is found and enqueued again by
`app.jobs.maintenance.recover_orphans`, which asks the runner whether a task is still `is_alive`:
queued, or running with a fresh lease. Running jobs renew their lease with `heartbeat`, so a
killed worker's task is taken over `lease_seconds` after its last sign of life.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

import redis
from flask import Flask
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

QUEUES = ("user_import", "user_export", "default")
LEASE_SECONDS = 10
FAILED_JOB_TTL = 24 * 3600
JobFunction = Callable[[str], None]


class JobRunner(Protocol):
    def enqueue(self, queue_name: str, func: JobFunction, task_id: str, timeout: int) -> None: ...
    def is_alive(self, task_id: str) -> bool: ...
    def heartbeat(self, task_id: str) -> None: ...
    def release(self, task_id: str) -> None: ...


class RQRunner:
    """RQ on Redis; queue names carry `prefix` so deployments (and test runs) sharing a Redis
    never take each other's jobs. `python worker.py` drains the queues."""

    def __init__(self, connection: redis.Redis, prefix: str = "", lease_seconds: int = LEASE_SECONDS) -> None:
        self.connection = connection
        self.prefix = prefix
        self.lease_seconds = lease_seconds

    def queue(self, name: str) -> Queue:
        return Queue(self.prefix + name, connection=self.connection)

    def queues(self) -> list[Queue]:
        return [self.queue(name) for name in QUEUES]

    def enqueue(self, queue_name: str, func: JobFunction, task_id: str, timeout: int) -> None:
        try:
            # A job of the same ID left over from a lost attempt (failed, or started by a dead
            # worker) goes first, so the new one is the only one RQ knows.
            Job.fetch(task_id, connection=self.connection).delete()
        except NoSuchJobError:
            pass
        self.queue(queue_name).enqueue(
            func, task_id, job_id=task_id, job_timeout=timeout, result_ttl=0, failure_ttl=FAILED_JOB_TTL
        )

    def is_alive(self, task_id: str) -> bool:
        try:
            status = Job.fetch(task_id, connection=self.connection).get_status()
        except NoSuchJobError:
            return False
        if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            return True
        if status == JobStatus.STARTED:
            return bool(self.connection.exists(self._lease_key(task_id)))
        return False

    def heartbeat(self, task_id: str) -> None:
        self.connection.set(self._lease_key(task_id), "1", ex=self.lease_seconds)

    def release(self, task_id: str) -> None:
        self.connection.delete(self._lease_key(task_id))

    @staticmethod
    def _lease_key(task_id: str) -> str:
        # Not prefixed: like RQ's job keys, it is named by the task ID, which is unique everywhere.
        return f"gatehouse:jobs:lease:{task_id}"


class ThreadRunner:
    """The embedded default: one daemon thread per queue runs its jobs in order, each inside an
    app context. Tasks queued or running here are alive; nothing survives a restart, which is
    what recovery is for."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._queues: dict[str, queue.Queue[tuple[JobFunction, str]]] = {}
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def enqueue(self, queue_name: str, func: JobFunction, task_id: str, timeout: int) -> None:
        with self._lock:
            if task_id in self._active:
                return
            self._active.add(task_id)
            jobs = self._queues.get(queue_name)
            if jobs is None:
                jobs = self._queues[queue_name] = queue.Queue()
                threading.Thread(target=self._work, args=(jobs,), name=f"gatehouse-{queue_name}", daemon=True).start()
        jobs.put((func, task_id))

    def is_alive(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self._active

    def heartbeat(self, task_id: str) -> None:
        """Threads die with their process, and so does everything `is_alive` knows: no lease."""

    def release(self, task_id: str) -> None:
        """See `heartbeat`."""

    def _work(self, jobs: queue.Queue[tuple[JobFunction, str]]) -> None:
        while True:
            func, task_id = jobs.get()
            try:
                with self.app.app_context():
                    func(task_id)
            except Exception:
                log.exception("job %s(%s) failed", getattr(func, "__name__", func), task_id)
            finally:
                with self._lock:
                    self._active.discard(task_id)


def get_runner(app: Flask) -> JobRunner:
    """The app's runner, built on first use: RQ when Redis is configured, else threads (which
    also start the maintenance thread that recovers tasks left pending by an earlier process)."""
    runner = app.extensions.get("gatehouse.jobs")
    if runner is None:
        with _BUILD_LOCK:
            runner = app.extensions.get("gatehouse.jobs")
            if runner is None:
                config = app.extensions["gatehouse"].config
                if config.redis_url:
                    runner = RQRunner(redis.Redis.from_url(config.redis_url), config.queue_prefix)
                else:
                    runner = ThreadRunner(app)
                app.extensions["gatehouse.jobs"] = runner
                if isinstance(runner, ThreadRunner):
                    from app.jobs.maintenance import THREAD_MAINTENANCE_INTERVAL_SECONDS, MaintenanceThread

                    MaintenanceThread(app, THREAD_MAINTENANCE_INTERVAL_SECONDS).start()
    return runner


_BUILD_LOCK = threading.Lock()

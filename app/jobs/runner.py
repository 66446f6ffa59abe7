"""Where jobs run: RQ queues on Redis when Redis is configured, else threads of the web process.

A job is an importable function that takes one task ID (`BackgroundTask.id`, also the RQ job ID).
The database row is the source of truth; the runner only carries the ID to a worker. A job that
is lost (its worker killed, a failed enqueue) is found and enqueued again by
`app.jobs.maintenance.recover_orphans`, which asks the runner whether a task is still `is_alive`:
queued, held by a running job, or waiting out the pause after a job that raised.

A running job `hold`s its task: on Redis a lease key that only one worker can take and that a
thread of that worker renews every `lease_seconds / 5` seconds, whatever the job is doing. A
killed worker's lease therefore expires `lease_seconds` after its last renewal, and the next
recovery round hands the task to another worker. A worker that cannot renew its lease in time (a
Redis outage) sees `Lease.lost` and stops at its next step, so a task never runs on two workers.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Protocol

import redis
from flask import Flask
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.utils import utcparse

log = logging.getLogger(__name__)

QUEUES = ("user_import", "user_export", "default")
# A killed worker's task is taken over this long after the worker's last renewal of its lease
# (renewals come every fifth of it, from a thread of their own), plus one recovery round.
LEASE_SECONDS = 5
# A job that raised is retried by recovery after this pause, not at the next round.
RETRY_AFTER_ERROR_SECONDS = 60
FAILED_JOB_TTL = 24 * 3600
REDIS_CONNECT_TIMEOUT_SECONDS = 5
JobFunction = Callable[[str], None]

# Renews the lease only while it is still ours; returns 1 when renewed.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
# Ends our lease: deleted, or (ARGV[2] > 0) kept that many ms as the pause before a retry.
_END = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then return redis.call('set', KEYS[1], 'retry', 'PX', ARGV[2]) and 1 end
return redis.call('del', KEYS[1])
"""


class LeaseLost(Exception):
    """The job's lease expired before it could be renewed: another worker may run the task now."""


class Lease:
    """A running job's hold on its task; `lost` turns True when the hold could not be kept."""

    def __init__(self) -> None:
        self._lost = threading.Event()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def check(self) -> None:
        if self.lost:
            raise LeaseLost()


class JobRunner(Protocol):
    def enqueue(self, queue_name: str, func: JobFunction, task_id: str, timeout: int) -> None: ...
    def is_alive(self, task_id: str) -> bool: ...
    def alive(self, task_ids: list[str]) -> set[str]: ...
    def hold(self, task_id: str) -> AbstractContextManager[Lease | None]: ...
    def claim_recovery_round(self, seconds: float) -> bool: ...


class RQRunner:
    """RQ on Redis; queue names carry `prefix` so deployments (and test runs) sharing a Redis
    never take each other's jobs. `python worker.py` drains the queues."""

    def __init__(self, connection: redis.Redis, prefix: str = "", lease_seconds: int = LEASE_SECONDS) -> None:
        self.connection = connection
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self._renew = connection.register_script(_RENEW)
        self._end = connection.register_script(_END)

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
        if self.connection.exists(self._lease_key(task_id)):
            return True  # running (or pausing after an error) somewhere
        try:
            job = Job.fetch(task_id, connection=self.connection)
        except NoSuchJobError:
            return False
        status = job.get_status()
        if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            return True
        if status == JobStatus.STARTED and job.started_at is not None:
            # Just taken from the queue, its lease not taken yet.
            started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
            return (datetime.now(UTC) - started).total_seconds() < self.lease_seconds
        return False

    def alive(self, task_ids: list[str]) -> set[str]:
        """The tasks of `task_ids` that `is_alive` says are alive, asked in one round trip per 500
        tasks (recovery asks about every pending task every round: thousands during a large import)."""
        out: set[str] = set()
        now = datetime.now(UTC)
        for start in range(0, len(task_ids), 500):
            chunk = task_ids[start : start + 500]
            pipe = self.connection.pipeline(transaction=False)
            for task_id in chunk:
                pipe.exists(self._lease_key(task_id))
                pipe.hmget(Job.key_for(task_id), ["status", "started_at"])
            replies = pipe.execute()
            for i, task_id in enumerate(chunk):
                leased, (status, started_at) = replies[2 * i], replies[2 * i + 1]
                if leased:
                    out.add(task_id)  # running (or pausing after an error) somewhere
                    continue
                status = status.decode() if isinstance(status, bytes) else status
                if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
                    out.add(task_id)
                elif status == JobStatus.STARTED and started_at:
                    started = utcparse(started_at.decode() if isinstance(started_at, bytes) else started_at)
                    if (now - started).total_seconds() < self.lease_seconds:
                        out.add(task_id)  # just taken from the queue, its lease not taken yet
        return out

    @contextmanager
    def hold(self, task_id: str) -> Iterator[Lease | None]:
        """The task's lease for the length of the block, or None when a live worker holds it."""
        key = self._lease_key(task_id)
        token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
        ttl_ms = int(self.lease_seconds * 1000)
        if not self.connection.set(key, token, nx=True, px=ttl_ms):
            log.warning("task %s is held by another worker; not running it twice", task_id)
            yield None
            return
        lease = Lease()
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._keep, args=(key, token, ttl_ms, lease, stop), name=f"gatehouse-lease-{task_id}", daemon=True
        )
        renewer.start()
        pause_ms = 0
        try:
            yield lease
        except BaseException:
            pause_ms = RETRY_AFTER_ERROR_SECONDS * 1000
            raise
        finally:
            stop.set()
            renewer.join()
            try:
                self._end(keys=[key], args=[token, pause_ms])
            except redis.RedisError:
                log.warning("could not end the lease of task %s; it expires by itself", task_id)

    def _keep(self, key: str, token: str, ttl_ms: int, lease: Lease, stop: threading.Event) -> None:
        renewed = time.monotonic()
        while not stop.wait(self.lease_seconds / 5):
            try:
                if self._renew(keys=[key], args=[token, ttl_ms]):
                    renewed = time.monotonic()
                    continue
                held_by_us = False
            except redis.RedisError:
                held_by_us = time.monotonic() - renewed < self.lease_seconds
            if not held_by_us:
                log.error("lost the lease of %s; stopping its job", key)
                lease._lost.set()
                return

    def claim_recovery_round(self, seconds: float) -> bool:
        """One recovery round per `seconds` among all workers of this queue prefix."""
        key = f"gatehouse:jobs:recovery:{self.prefix}"
        return bool(self.connection.set(key, "1", nx=True, px=max(1, int(seconds * 1000))))

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
        self._retry_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def enqueue(self, queue_name: str, func: JobFunction, task_id: str, timeout: int) -> None:
        with self._lock:
            if task_id in self._active:
                return
            self._active.add(task_id)
            self._retry_at.pop(task_id, None)
            jobs = self._queues.get(queue_name)
            if jobs is None:
                jobs = self._queues[queue_name] = queue.Queue()
                threading.Thread(target=self._work, args=(jobs,), name=f"gatehouse-{queue_name}", daemon=True).start()
        jobs.put((func, task_id))

    def is_alive(self, task_id: str) -> bool:
        with self._lock:
            if task_id in self._active:
                return True
            retry_at = self._retry_at.get(task_id)
            if retry_at is not None and retry_at <= time.monotonic():
                del self._retry_at[task_id]
                return False
            return retry_at is not None

    def alive(self, task_ids: list[str]) -> set[str]:
        return {task_id for task_id in task_ids if self.is_alive(task_id)}

    @contextmanager
    def hold(self, task_id: str) -> Iterator[Lease | None]:
        """Threads die with their process, and so does everything `is_alive` knows: the lease is
        never lost. A job that raises pauses before recovery retries it."""
        try:
            yield Lease()
        except BaseException:
            with self._lock:
                self._retry_at[task_id] = time.monotonic() + RETRY_AFTER_ERROR_SECONDS
            raise

    def claim_recovery_round(self, seconds: float) -> bool:
        return True

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
                    # Bounded waits, as the key-value store's: a hung Redis fails an enqueue (the job
                    # is kept for recovery) instead of holding the request. The worker's blocking
                    # dequeue has a connection of its own (app/jobs/rq_worker.py).
                    timeout = config.redis_timeout or None
                    connection = redis.Redis.from_url(
                        config.redis_url,
                        socket_connect_timeout=timeout or REDIS_CONNECT_TIMEOUT_SECONDS,
                        socket_timeout=timeout,
                    )
                    runner = RQRunner(connection, config.queue_prefix)
                else:
                    runner = ThreadRunner(app)
                app.extensions["gatehouse.jobs"] = runner
                if isinstance(runner, ThreadRunner):
                    from app.jobs.maintenance import THREAD_MAINTENANCE_INTERVAL_SECONDS, MaintenanceThread

                    thread = MaintenanceThread(app, THREAD_MAINTENANCE_INTERVAL_SECONDS)
                    # Kept so that whoever retires the app (the tests) can stop its rounds.
                    app.extensions["gatehouse.jobs.maintenance"] = thread
                    thread.start()
    return runner


_BUILD_LOCK = threading.Lock()

"""The RQ worker process behind `python worker.py`.

It runs RQ's `SimpleWorker` (jobs in the worker process itself, no fork per job: the database
pool is never shared across a fork, and the process's memory is the jobs' memory) inside the
app's context, plus a maintenance thread that recovers orphaned tasks and removes expired
results and files.
"""

from __future__ import annotations

import logging
import sys

import redis
from flask import Flask
from rq import Queue, SimpleWorker

from app.jobs.maintenance import MAINTENANCE_INTERVAL_SECONDS, MaintenanceThread
from app.jobs.runner import LEASE_SECONDS, REDIS_CONNECT_TIMEOUT_SECONDS, RQRunner, get_runner


def serve(
    app: Flask,
    lease_seconds: int = LEASE_SECONDS,
    maintenance_interval: float = MAINTENANCE_INTERVAL_SECONDS,
    burst: bool = False,
) -> int:
    """Drains the job queues until stopped (or, with `burst`, until they are empty)."""
    runner = get_runner(app)
    if not isinstance(runner, RQRunner):
        print("worker.py needs REDIS_URL (without Redis, jobs run in a thread of the web process)", file=sys.stderr)
        return 2
    runner.lease_seconds = lease_seconds
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    MaintenanceThread(app, maintenance_interval).start()
    # The worker waits on its queues with blocking pops of several minutes: a connection of its own
    # without the runner's short socket timeout (which bounds enqueues, leases and recovery).
    config = app.extensions["gatehouse"].config
    dequeue = redis.Redis.from_url(config.redis_url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS)
    with app.app_context():
        worker = SimpleWorker([Queue(q.name, connection=dequeue) for q in runner.queues()], connection=dequeue)
        worker.work(burst=burst, logging_level="WARNING")
    return 0

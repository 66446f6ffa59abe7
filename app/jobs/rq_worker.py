"""The RQ worker process behind `python worker.py`.

It runs RQ's `SimpleWorker` (jobs in the worker process itself, no fork per job: the database
pool is never shared across a fork, and the process's memory is the jobs' memory) inside the
app's context, plus a maintenance thread that recovers orphaned tasks and removes expired
results and files.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask
from rq import SimpleWorker

from app.jobs.maintenance import MAINTENANCE_INTERVAL_SECONDS, MaintenanceThread
from app.jobs.runner import LEASE_SECONDS, RQRunner, get_runner


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
    with app.app_context():
        worker = SimpleWorker(runner.queues(), connection=runner.connection)
        worker.work(burst=burst, logging_level="WARNING")
    return 0

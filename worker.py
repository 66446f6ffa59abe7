"""RQ worker: `python worker.py` builds the app and drains the job queues inside its app context.

Queues: user_import, user_export, default (named with GATEHOUSE_QUEUE_PREFIX in front). Start as
many workers as you like; a task whose worker dies is taken over by another one within about
7 seconds (`--lease` 5 s after the dead worker's last renewal, then a recovery round every 2 s).
"""

from __future__ import annotations

import argparse
import sys

from app import create_app
from app.jobs.maintenance import MAINTENANCE_INTERVAL_SECONDS
from app.jobs.rq_worker import serve
from app.jobs.runner import LEASE_SECONDS, QUEUES

__all__ = ["QUEUES", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gatehouse job worker (RQ)")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    parser.add_argument(
        "--lease",
        type=int,
        default=LEASE_SECONDS,
        help="seconds without a sign of life after which another worker takes over a running task",
    )
    parser.add_argument(
        "--maintenance-interval",
        type=float,
        default=MAINTENANCE_INTERVAL_SECONDS,
        help="seconds between recovery rounds for orphaned tasks (expired results go every minute)",
    )
    args = parser.parse_args(argv)
    return serve(create_app(), args.lease, args.maintenance_interval, args.burst)


if __name__ == "__main__":
    sys.exit(main())

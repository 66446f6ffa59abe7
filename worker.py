"""RQ worker: `python worker.py` builds the app and drains the job queues inside its app context."""

from __future__ import annotations

import sys

import redis
from rq import Queue, Worker

from app import create_app

QUEUES = ("user_import", "user_export", "default")


def main() -> int:
    app = create_app()
    url = app.extensions["gatehouse"].config.redis_url
    if not url:
        print("worker.py needs REDIS_URL (without Redis, jobs run in a thread of the web process)", file=sys.stderr)
        return 2
    connection = redis.Redis.from_url(url)
    with app.app_context():
        Worker([Queue(name, connection=connection) for name in QUEUES], connection=connection).work()
    return 0


if __name__ == "__main__":
    sys.exit(main())

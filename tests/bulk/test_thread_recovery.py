"""Without Redis (jobs in threads of the web process), a pending task that no thread runs (its
enqueue was lost, or an earlier process died) is picked up within seconds, not at an hourly round."""

from __future__ import annotations

import time

import pytest

from app.extensions import db
from app.jobs import user_import
from tests.bulk.conftest import IMPORT

pytestmark = pytest.mark.embedded


def test_a_task_no_thread_runs_is_recovered_within_seconds(thread_app, thread_bulk):
    thread_bulk.get(f"{IMPORT}/userimport_{'A' * 32}", status=404)  # the job threads and their rounds start
    with thread_app.app_context():
        svc = thread_app.extensions["gatehouse"]
        body = {"identifier": "email", "records": [{"email": "lost-enqueue@example.com", "name": "Lost"}]}
        job_id = user_import.create_job(svc, body).id
        db.session.commit()  # and never enqueued
    created = time.monotonic()
    result = thread_bulk.wait(f"{IMPORT}/{job_id}", timeout=60)
    assert result["summary"] == {"total": 1, "inserted": 1, "updated": 0, "skipped": 0, "failed": 0}
    assert time.monotonic() - created < 20  # 5 s of grace for the enqueue, then a round every 10 s

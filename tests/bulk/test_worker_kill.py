"""`kill -9` of the worker in the middle of an import: a new worker takes the task over and the
import completes with every record applied exactly once."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import func, select

from app.audit import AuditLog
from app.extensions import db
from app.identities.models import Identity, User
from tests.bulk.conftest import BULK_OVERRIDES, IMPORT, Bulk

TOTAL = 400


def test_killed_worker_loses_and_duplicates_nothing(make_app, bulk_dir, start_worker):
    prefix = f"gatehouse-test-{uuid.uuid4().hex[:12]}:"
    app = make_app(BULK_OVERRIDES, queue_prefix=prefix, config_dir=bulk_dir)
    bulk = Bulk(app)
    records = [{"email": f"kill-{i}@example.com", "name": f"Killed {i}", "custom_attributes": {"level": i % 100}}
               for i in range(TOTAL)]
    first = start_worker(bulk_dir, prefix, lease=2)
    job_id = bulk.start_import(records)
    path = f"{IMPORT}/{job_id}"

    deadline = time.monotonic() + 600
    while bulk.get(path)["result"]["progress"]["processed"] < 130:  # into the second task of 100
        assert time.monotonic() < deadline, first.log()
        time.sleep(0.02)
    first.kill()
    stalled = bulk.get(path)["result"]
    assert stalled["status"] == "pending", "the import finished before the worker could be killed"
    done_before = stalled["progress"]["processed"]
    assert 0 < done_before < TOTAL
    time.sleep(1)
    assert bulk.get(path)["result"]["progress"]["processed"] == done_before  # nobody is working on it

    second = start_worker(bulk_dir, prefix, lease=2)
    result = bulk.wait(path)
    assert result["summary"] == {"total": TOTAL, "inserted": TOTAL, "updated": 0, "skipped": 0, "failed": 0}, (
        second.log()
    )
    assert [d["index"] for d in result["details"]] == list(range(TOTAL))
    assert len({d["user_id"] for d in result["details"]}) == TOTAL
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == TOTAL
        logins = list(db.session.scalars(select(Identity.login_id).order_by(Identity.login_id)))
        assert logins == sorted(r["email"] for r in records)
        created = db.session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.activity_type == "user.created")
        )
        assert created == TOTAL  # a record applied twice would have written its audit entry twice
    assert "re-enqueued" in second.log()

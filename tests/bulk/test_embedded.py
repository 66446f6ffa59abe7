"""The same job functions without Redis: threads of the web process run them (the embedded
default), tasks left pending by an earlier process are recovered, and exports read users in
batches of 1,000."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from app.db import new_id
from app.extensions import db
from app.identities.models import User
from app.jobs import user_export, user_import
from app.jobs.export_records import build_records, user_batches
from app.tasks.models import BackgroundTask
from tests.bulk.conftest import BULK_OVERRIDES, EXPORT, IMPORT, Bulk
from tests.bulk.helpers import TOTP_SECRET, make_roles, user_state

pytestmark = pytest.mark.embedded


def test_import_then_export_in_threads(thread_bulk, thread_app):
    make_roles(thread_app)
    records = [
        {
            "email": f"thread-{i}@example.com",
            "name": f"Thread {i}",
            "roles": ["viewer"],
            "custom_attributes": {"tier": "silver"},
            "mfa": {"totp": {"secret": TOTP_SECRET}},
        }
        for i in range(130)
    ]
    result = thread_bulk.run_import(records)
    assert result["summary"] == {"total": 130, "inserted": 130, "updated": 0, "skipped": 0, "failed": 0}
    again = thread_bulk.run_import([{"email": "thread-3@example.com", "name": "Renamed"}], upsert=True)
    assert again["details"][0]["outcome"] == "updated"
    assert user_state(thread_app, "thread-3@example.com")["standard"]["name"] == "Renamed"

    exported = thread_bulk.run_export({"format": "ndjson"})
    lines = thread_bulk.download(exported["download_url"]).get_data(as_text=True).splitlines()
    by_email = {r["email"]: r for r in map(json.loads, lines)}
    assert len(by_email) == 130
    assert by_email["thread-3@example.com"]["name"] == "Renamed"
    assert by_email["thread-9@example.com"]["roles"] == ["viewer"]
    assert by_email["thread-9@example.com"]["mfa"]["totps"][0]["secret"] == TOTP_SECRET

    exported = thread_bulk.run_export({"format": "csv", "csv": {"fields": [{"pointer": "/email"}]}})
    rows = list(csv.reader(io.StringIO(thread_bulk.download(exported["download_url"]).get_data(as_text=True))))
    assert rows[0] == ["email"] and sorted(r[0] for r in rows[1:]) == sorted(by_email)


def test_tasks_left_pending_by_an_earlier_process_are_recovered(make_app, tmp_path):
    before = make_app(BULK_OVERRIDES, redis_url=None, config_dir=tmp_path)
    with before.app_context():
        svc = before.extensions["gatehouse"]
        records = [{"email": f"orphan-{i}@example.com"} for i in range(150)]
        job = user_import.create_job(svc, {"identifier": "email", "records": records})
        export = user_export.create_export(svc, {"format": "ndjson"})
        # Committed, then the process died before anything was enqueued (or while it ran).
        for task in db.session.scalars(select(BackgroundTask)):
            task.created_at = svc.clock() - timedelta(minutes=5)
        db.session.commit()
        job_id, export_id = job.id, export.id

    restarted = Bulk(make_app(BULK_OVERRIDES, redis_url=None, config_dir=tmp_path))
    result = restarted.wait(f"{IMPORT}/{job_id}")
    assert result["summary"]["inserted"] == 150
    assert [d["index"] for d in result["details"]] == list(range(150))
    exported = restarted.wait(f"{EXPORT}/{export_id}")
    assert restarted.download(exported["download_url"]).status_code == 200


def test_export_reads_users_in_batches_of_1000(thread_app, thread_bulk):
    with thread_app.app_context():
        now = thread_app.extensions["gatehouse"].clock()
        rows = [
            {
                "id": new_id(),
                "created_at": now + timedelta(microseconds=i),
                "updated_at": now,
                "is_disabled": False,
                "is_deactivated": False,
                "is_anonymized": False,
                "standard_attributes": {"email": f"batch-{i}@example.com"},
                "custom_attributes": {},
            }
            for i in range(2500)
        ]
        db.session.execute(insert(User), rows)
        db.session.commit()
        assert [len(batch) for batch in user_batches()] == [1000, 1000, 500]
        statements: list[str] = []

        def count(*_args: object) -> None:
            statements.append("x")

        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            per_batch = []
            for batch in user_batches():
                start = len(statements)
                build_records(batch, "http://localhost:3000")
                per_batch.append(len(statements) - start)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        # A fixed handful of queries per batch, whatever its size: nothing is read per user.
        assert per_batch[0] == per_batch[2] <= 6
    exported = thread_bulk.run_export({"format": "ndjson"})
    lines = thread_bulk.download(exported["download_url"]).get_data(as_text=True).splitlines()
    assert len(lines) == 2500 and len({json.loads(line)["sub"] for line in lines}) == 2500
    assert [json.loads(line)["email"] for line in lines[:2]] == ["batch-0@example.com", "batch-1@example.com"]

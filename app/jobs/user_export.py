"""User Export API jobs (contract 5): every user to one NDJSON or CSV file, streamed in batches.

One export runs at a time per project (a second request while one is pending is refused with
`TooManyRequest/MaximumConcurrentJobLimitExceeded`). The job writes through the storage's
atomic writer, updates `progress` after every batch of 1,000 users, and ends either completed
with a file name or failed with `failed_at` and `error` (status `completed` either way, as in
Authgear). A worker killed mid-export leaves the task pending; recovery runs it again from the
start, which is safe because nothing is published until the file is whole.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text, update

from app.errors import InternalError, Invalid, TooManyRequest, ValidationFailed
from app.extensions import db
from app.flows.inputs import closed_obj, validate
from app.identities.models import User
from app.jobs.export_records import (
    DEFAULT_CSV_POINTERS,
    build_records,
    csv_line,
    csv_writer,
    default_field_name,
    ndjson_line,
    parse_pointer,
    user_batches,
)
from app.jobs.runner import JobRunner, Lease, LeaseLost, get_runner
from app.jobs.storage import ExportStorage, export_storage
from app.jobs.tasks import (
    MAX_ATTEMPTS,
    RESULT_TTL,
    find_task,
    job_function,
    lock_task,
    new_task_id,
    public_error,
    rfc3339,
    start_attempt,
    write_first,
)
from app.services import Services
from app.tasks.models import BackgroundTask

TASK_PREFIX = "userexport_"
KIND = "user_export"
QUEUE = "user_export"
TIMEOUT_SECONDS = 6 * 3600
MAX_CSV_FIELDS = 500
# Serializes "is an export running?" with the insert of a new one on PostgreSQL.
_ADVISORY_LOCK = 0x6761746568757365

REQUEST_SCHEMA = closed_obj(
    {
        "format": {"enum": ["ndjson", "csv"]},
        "csv": closed_obj(
            {
                "fields": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_CSV_FIELDS,
                    "items": closed_obj(
                        {
                            "pointer": {"type": "string", "maxLength": 1000},
                            "field_name": {"type": "string", "maxLength": 1000},
                        },
                        ["pointer"],
                    ),
                }
            }
        ),
    },
    ["format"],
)


def validate_request(body: Any) -> dict[str, Any]:
    """The request of contract 5.2: JSON pointers must parse and column names be unique."""
    validate(body, REQUEST_SCHEMA)
    fields = body.get("csv", {}).get("fields")
    if fields:
        for i, item in enumerate(fields):
            if parse_pointer(item["pointer"]) is None:
                raise ValidationFailed(
                    [{"location": f"/csv/fields/{i}/pointer", "kind": "format", "details": {"format": "json-pointer"}}],
                    "pointer must be a JSON pointer (RFC 6901)",
                )
        names = [item.get("field_name") or default_field_name(item["pointer"]) for item in fields]
        if len(set(names)) != len(names):
            raise Invalid("UserExportNonUniqueFieldNames", "field names must be unique", {"field_names": names})
    return body


def csv_columns(request: dict[str, Any], project: dict[str, Any]) -> list[tuple[list[str], str]]:
    """(reference tokens, column name) of every CSV column: the request's, or the default list
    followed by the project's custom attributes."""
    fields = request.get("csv", {}).get("fields")
    if not fields:
        custom = [
            a["pointer"]
            for a in project["user_profile"]["custom_attributes"].get("attributes", [])
            if isinstance(a, dict) and isinstance(a.get("pointer"), str)
        ]
        fields = [{"pointer": p} for p in DEFAULT_CSV_POINTERS]
        fields += [{"pointer": "/custom_attributes" + p} for p in custom]
    columns = []
    for item in fields:
        tokens = parse_pointer(item["pointer"])
        assert tokens is not None
        columns.append((tokens, item.get("field_name") or default_field_name(item["pointer"])))
    return columns


def create_export(svc: Services, request: dict[str, Any]) -> BackgroundTask:
    """The task row (flushed, not committed), unless an export is already pending."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    else:
        write_first("")  # SQLite: the write lock, before the check, serializes exports as well
    running = db.session.scalar(
        select(BackgroundTask.id).where(BackgroundTask.kind == KIND, BackgroundTask.status == "pending").limit(1)
    )
    if running is not None:
        raise TooManyRequest(
            "MaximumConcurrentJobLimitExceeded", "an export is already running", {"running_task_id": running}
        )
    total = db.session.scalar(select(func.count()).select_from(User)) or 0
    task = BackgroundTask(
        id=new_task_id(TASK_PREFIX),
        kind=KIND,
        status="pending",
        created_at=svc.clock(),
        input={"request": request},
        progress={"processed": 0, "total": total},
        result={},
    )
    db.session.add(task)
    db.session.flush()
    return task


def start_export(runner: JobRunner, task: BackgroundTask) -> None:
    runner.enqueue(QUEUE, run_export, task.id, TIMEOUT_SECONDS)


@job_function
def run_export(task_id: str) -> None:
    """The RQ job: writes the file, or ends the task as failed with the error."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    svc: Services = app.extensions["gatehouse"]
    with get_runner(app).hold(task_id) as lease:
        if lease is None:
            return  # a live worker runs it already
        attempt = start_attempt(task_id)
        if attempt is None:
            return
        try:
            if attempt > MAX_ATTEMPTS:
                raise InternalError("UnexpectedError", "the export failed repeatedly")
            _export(svc, lease, export_storage(app), task_id)
        except LeaseLost:
            db.session.rollback()  # another worker may have taken the task over: it writes the file
        except Exception as exc:
            db.session.rollback()
            _fail(task_id, public_error(exc), svc.clock())


def _set_progress(task_id: str, progress: dict[str, Any]) -> None:
    db.session.commit()  # ends the reads of the batch: the update starts a transaction of its own
    if db.session.get_bind().dialect.name == "postgresql":
        # A progress figure lost in a crash is rewritten by the next batch or by the task's rerun:
        # its COMMIT need not wait for the WAL flush (a thousand flushes per million users).
        db.session.execute(text("SET LOCAL synchronous_commit = off"))
    db.session.execute(update(BackgroundTask).where(BackgroundTask.id == task_id).values(progress=progress))
    db.session.commit()


def _export(svc: Services, lease: Lease, storage: ExportStorage, task_id: str) -> None:
    task = db.session.get(BackgroundTask, task_id)
    assert task is not None
    request = task.input["request"]
    fmt = request["format"]
    columns = csv_columns(request, svc.config.project) if fmt == "csv" else []
    progress = dict(task.progress or {})
    progress.update(processed=0, total=db.session.scalar(select(func.count()).select_from(User)) or 0)
    _set_progress(task_id, progress)
    now = svc.clock()
    key = f"{svc.config.project['id']}-{task_id}-{now.strftime('%Y%m%d%H%M%S')}Z.{fmt}"
    with storage.writer(key) as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        if fmt == "csv":
            out.write(csv_line([name for _, name in columns]))
            line = csv_writer([tokens for tokens, _ in columns])
        for users in user_batches():
            records = build_records(users, svc.config.public_origin)
            if fmt == "csv":
                out.write("".join([line(r) for r in records]))
            else:
                out.write("".join([ndjson_line(r) for r in records]))
            lease.check()
            progress["processed"] += len(users)
            _set_progress(task_id, progress)
        out.flush()
        out.detach()  # the writer closes the file itself, after syncing it
    db.session.commit()
    task = lock_task(task_id)
    if task is None or task.status != "pending":
        storage.delete(key)  # the task was removed or finished by another attempt meanwhile
        db.session.rollback()
        return
    done = svc.clock()
    task.status = "completed"
    task.completed_at = done
    task.expire_at = done + RESULT_TTL
    task.result = {"file_name": key}
    db.session.commit()


def _fail(task_id: str, error: dict[str, Any], now: datetime) -> None:
    task = lock_task(task_id)
    if task is None or task.status != "pending":
        db.session.rollback()
        return
    task.status = "completed"
    task.failed_at = now
    task.expire_at = now + RESULT_TTL
    task.error = error
    db.session.commit()


def export_status(task_id: str, now: datetime, storage: ExportStorage) -> dict[str, Any]:
    """The Response of contract 5.3 with a fresh download URL, or `TaskNotFound`."""
    task = find_task(task_id, KIND, now)
    out: dict[str, Any] = {"id": task.id, "created_at": rfc3339(task.created_at)}
    if task.completed_at is not None:
        out["completed_at"] = rfc3339(task.completed_at)
    if task.failed_at is not None:
        out["failed_at"] = rfc3339(task.failed_at)
    out["status"] = "completed" if task.status == "completed" else "pending"
    if task.status != "completed":
        progress = task.progress or {}
        out["progress"] = {"processed": int(progress.get("processed", 0)), "total": int(progress.get("total", 0))}
    out["request"] = task.input["request"]
    key = (task.result or {}).get("file_name")
    if task.failed_at is None and key and storage.exists(key):
        out["download_url"] = storage.download_url(key, now)
    if task.error:
        out["error"] = task.error
    return out

"""User Import API jobs (contract 4): a request becomes a job of tasks of 100 records each.

When no login ID (email, phone number, username) appears in two records of a request, the
records cannot affect each other and the job's tasks run in parallel on as many workers as there
are. Otherwise they run one after another, in request order (each task enqueues the next when it
completes), so the request behaves as if its records were applied in order: the second record
with an identifier already seen updates or skips that user, it never races it.

Within a task, records are applied in transactions of `BATCH_RECORDS` (multi-row statements in
one savepoint, record by record when that fails: app/jobs/import_records.py) that also append the
records' outcomes to the task row, which stays locked meanwhile. A worker killed at any point
therefore leaves each record either fully applied with its outcome stored, or not applied at all;
the retried task continues after the last stored outcome, so nothing is lost or applied twice.
Once a task is done its stored input is redacted (no password hashes or TOTP secrets at rest),
and results are kept 24 hours after the whole job completes.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from app.errors import AppError, InternalError, ValidationFailed
from app.extensions import db
from app.flows.inputs import closed_obj, validate
from app.jobs.import_records import LOGIN_ID_TYPES, LoginIDRules, Outcome, RecordImporter, redact
from app.jobs.runner import JobRunner, Lease, get_runner
from app.jobs.tasks import (
    MAX_ATTEMPTS,
    RESULT_TTL,
    find_task,
    job_function,
    lock_task,
    new_task_id,
    rfc3339,
    start_attempt,
    write_first,
)
from app.services import Services
from app.tasks.models import BackgroundTask

JOB_PREFIX = "userimport_"
TASK_PREFIX = "userimporttask_"
JOB_KIND = "user_import"
TASK_KIND = "user_import_task"
QUEUE = "user_import"
RECORDS_PER_TASK = 100
MAX_BODY_BYTES = 500 * 1000  # contract 0.3
TASK_TIMEOUT_SECONDS = 600
# Records per transaction: a whole task, so its statements (the lookup, one COPY per table) and
# its commit are shared by 100 records, and it completes in the transaction of its records. A
# killed worker loses at most that much work; a task of more records would go on in batches.
BATCH_RECORDS = RECORDS_PER_TASK
OUTCOMES = ("inserted", "updated", "skipped", "failed")

REQUEST_SCHEMA = closed_obj(
    {
        "upsert": {"type": "boolean"},
        "identifier": {"enum": list(LOGIN_ID_TYPES)},
        "records": {"type": "array", "minItems": 1, "items": {"type": "object"}},
    },
    ["identifier", "records"],
)


def validate_request(body: Any, svc: Services) -> None:
    """The request of contract 4.2; the identifier must be an enabled login ID type, or every
    record would create a user nobody can find again."""
    validate(body, REQUEST_SCHEMA)
    identifier = body["identifier"]
    if not any(spec.type == LOGIN_ID_TYPES[identifier] for spec in svc.users.login_id_specs()):
        raise ValidationFailed(
            [{"location": "/identifier", "kind": "enum", "details": {"actual": identifier}}],
            f"{identifier} is not an enabled login ID",
        )


def create_job(svc: Services, body: dict[str, Any]) -> BackgroundTask:
    """The job row and its task rows (flushed, not committed)."""
    now = svc.clock()
    records = body["records"]
    options = {"identifier": body["identifier"], "upsert": bool(body.get("upsert", False))}
    sequential = _records_overlap(svc, records)
    job_id = new_task_id(JOB_PREFIX)
    task_ids: list[str] = []
    for offset in range(0, len(records), RECORDS_PER_TASK):
        task_id = new_task_id(TASK_PREFIX)
        task_ids.append(task_id)
        chunk = records[offset : offset + RECORDS_PER_TASK]
        db.session.add(
            BackgroundTask(
                id=task_id,
                kind=TASK_KIND,
                parent_id=job_id,
                status="pending",
                created_at=now,
                input={**options, "offset": offset, "records": chunk},
                progress={"processed": 0},
                result={},
            )
        )
    job = BackgroundTask(
        id=job_id,
        kind=JOB_KIND,
        status="pending",
        created_at=now,
        input={**options, "total": len(records), "task_ids": task_ids, "sequential": sequential},
        progress={},
        result={},
    )
    db.session.add(job)
    db.session.flush()
    return job


def _records_overlap(svc: Services, records: list[Any]) -> bool:
    """Whether some login ID value appears in more than one record (then order matters)."""
    rules = LoginIDRules(svc.users)
    seen: set[tuple[str, str]] = set()
    for record in records:
        for name, login_id_type in LOGIN_ID_TYPES.items():
            value = record.get(name) if isinstance(record, dict) else None
            if not isinstance(value, str):
                continue
            try:
                key = (login_id_type, rules.normalize(login_id_type, value)[1].unique_key)
            except AppError:
                key = (login_id_type, value)  # not enabled or not valid: compared as given
            if key in seen:
                return True
            seen.add(key)
    return False


def start_job(runner: JobRunner, job: BackgroundTask) -> None:
    for task_id in runnable_tasks(job):
        runner.enqueue(QUEUE, run_import_task, task_id, TASK_TIMEOUT_SECONDS)


def runnable_tasks(job: BackgroundTask) -> list[str]:
    """The job's tasks that may run now: every pending one, or only the first in request order
    when the job is sequential."""
    pending = set(
        db.session.scalars(
            select(BackgroundTask.id).where(BackgroundTask.parent_id == job.id, BackgroundTask.status == "pending")
        )
    )
    ordered = [t for t in job.input.get("task_ids", []) if t in pending]
    return ordered[:1] if job.input.get("sequential", True) else ordered


@job_function
def run_import_task(task_id: str) -> None:
    """The RQ job: applies the task's remaining records, then hands over to the next task."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    svc: Services = app.extensions["gatehouse"]
    runner = get_runner(app)
    with runner.hold(task_id) as lease:
        if lease is None:
            return  # a live worker runs it already
        attempt = start_attempt(task_id)
        if attempt is None:
            return
        next_id = _process(svc, lease, task_id, attempt)
    if next_id is not None:
        runner.enqueue(QUEUE, run_import_task, next_id, TASK_TIMEOUT_SECONDS)


def _process(svc: Services, lease: Lease, task_id: str, attempt: int) -> str | None:
    importer: RecordImporter | None = None  # made once the task's input is read
    records: list[Any] | None = None
    task_input: dict[str, Any] = {}
    # A task that has killed its worker again and again ends here instead of forever.
    given_up = None
    if attempt > MAX_ATTEMPTS:
        given_up = InternalError("UnexpectedError", "the import task failed repeatedly").to_dict()
    while True:
        if lease.lost:
            return None  # another worker may have taken the task over: it continues from here
        write_first(task_id)
        columns = [BackgroundTask.status, BackgroundTask.result, BackgroundTask.progress]
        if records is None:
            columns.append(BackgroundTask.input)  # read once, in the first locked read
        row = db.session.execute(select(*columns).where(BackgroundTask.id == task_id).with_for_update()).one_or_none()
        if row is None or row.status != "pending":
            db.session.rollback()
            return None
        if records is None:
            task_input = row.input
            records = task_input["records"]
            importer = RecordImporter(svc, task_input["identifier"], bool(task_input["upsert"]))
        details: list[dict[str, Any]] = list((row.result or {}).get("details", []))
        index = len(details)
        if index < len(records):
            if given_up is not None:
                details.extend(Outcome(errors=[given_up]).to_detail(i) for i in range(index, len(records)))
            else:
                # A batch of records per transaction, written with set-based statements (see
                # app/jobs/import_records.py); their outcomes are stored in the same transaction, so
                # they are applied together or not at all.
                assert importer is not None
                batch = records[index : index + BATCH_RECORDS]
                details.extend(o.to_detail(i) for i, o in enumerate(importer.run_batch(batch), start=index))
        progress = {**(row.progress or {}), "processed": len(details)}
        if len(details) >= len(records):
            # The task completes in the transaction of its last batch (the row is still locked).
            return _complete(task_id, task_input, progress, details, given_up, svc.clock())
        db.session.execute(
            update(BackgroundTask)
            .where(BackgroundTask.id == task_id)
            .values(result={"details": details}, progress=progress)
        )
        db.session.commit()
        db.session.expunge_all()  # the next records read users afresh


def _complete(
    task_id: str,
    task_input: dict[str, Any],
    progress: dict[str, Any],
    details: list[dict[str, Any]],
    error: dict[str, Any] | None,
    now: datetime,
) -> str | None:
    """Marks the task (locked by the caller) completed, redacting its stored records, and, when it
    was the job's last, the job; commits and returns the next task to run."""
    counts = Counter(d["outcome"] for d in details)
    values: dict[str, Any] = {
        "status": "completed",
        "completed_at": now,
        "result": {"summary": {"total": len(details), **{k: counts[k] for k in OUTCOMES}}, "details": details},
        "input": {**task_input, "records": [redact(r) for r in task_input["records"]]},
        "progress": progress,
    }
    if error is not None:
        values["error"] = error
    parent_id = db.session.execute(
        update(BackgroundTask).where(BackgroundTask.id == task_id).values(**values).returning(BackgroundTask.parent_id)
    ).scalar_one()
    job = lock_task(parent_id) if parent_id else None
    remaining = runnable_tasks(job) if job is not None else []
    next_id = remaining[0] if remaining and job is not None and job.input.get("sequential", True) else None
    if job is not None and not remaining:
        job.status = "completed"
        job.completed_at = now
        job.expire_at = now + RESULT_TTL
        db.session.execute(
            update(BackgroundTask).where(BackgroundTask.parent_id == job.id).values(expire_at=job.expire_at)
        )
    db.session.commit()
    return next_id


def import_status(job_id: str, now: datetime) -> dict[str, Any]:
    """The Response of contract 4.3 (plus `progress` while pending), or `TaskNotFound`."""
    job = find_task(job_id, JOB_KIND, now)
    out: dict[str, Any] = {"id": job.id, "created_at": rfc3339(job.created_at)}
    if job.status != "completed":
        progress = db.session.scalars(select(BackgroundTask.progress).where(BackgroundTask.parent_id == job.id))
        processed = sum(int((p or {}).get("processed", 0)) for p in progress)
        out["status"] = "pending"
        out["progress"] = {"processed": processed, "total": job.input["total"]}
        return out
    tasks = {t.id: t for t in db.session.scalars(select(BackgroundTask).where(BackgroundTask.parent_id == job.id))}
    summary = {"total": 0, **{k: 0 for k in OUTCOMES}}
    details: list[dict[str, Any]] = []
    error = None
    for task_id in job.input["task_ids"]:
        task = tasks[task_id]
        error = error or task.error
        for key, value in task.result.get("summary", {}).items():
            summary[key] = summary.get(key, 0) + value
        offset, records = task.input["offset"], task.input["records"]
        for detail in task.result.get("details", []):
            shown = {"index": offset + detail["index"], "record": redact(records[detail["index"]])}
            shown.update((k, v) for k, v in detail.items() if k != "index")
            details.append(shown)
    out["completed_at"] = rfc3339(job.completed_at)
    out["status"] = "completed"
    if error:
        out["error"] = error
    out["summary"] = summary
    out["details"] = details
    return out

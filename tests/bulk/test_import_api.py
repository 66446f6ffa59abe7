"""The User Import API as a client sees it (contract 4): auth, request checks, hostile records,
tasks of 100 records, redaction, progress while pending, results kept 24 hours."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs.maintenance import cleanup_expired
from app.jobs.storage import export_storage
from app.tasks.models import BackgroundTask
from tests.bulk.conftest import BULK_OVERRIDES, EXPORT, IMPORT, Bulk, admin_token
from tests.bulk.helpers import BCRYPT_HASH, TOTP_SECRET, count_users, make_roles, user_state


# -- auth -----------------------------------------------------------------------------------------
@pytest.mark.embedded
@pytest.mark.parametrize(
    ("method", "path"),
    [("post", IMPORT), ("get", f"{IMPORT}/userimport_X"), ("post", EXPORT), ("get", f"{EXPORT}/userexport_X")],
)
def test_requires_admin_jwt(thread_app, method, path):
    client = thread_app.test_client()
    other = {"aud": ["another-project"]}
    for headers in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"bearer {admin_token(thread_app)}"},
        {"Authorization": f"Bearer {admin_token(thread_app, **other)}"},
        {"Authorization": f"Bearer {admin_token(thread_app, exp=1)}"},
    ):
        resp = getattr(client, method)(path, json={"identifier": "email", "records": [{}]}, headers=headers)
        assert resp.status_code == 403
        assert resp.mimetype == "text/plain" and resp.get_data(as_text=True) == "Forbidden"
    assert count_users(thread_app) == 0


# -- the request ----------------------------------------------------------------------------------
def _error(resp, status, name, reason):
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"], error["code"]) == (name, reason, status)
    return error


@pytest.mark.embedded
def test_hostile_requests(thread_bulk, thread_app):
    post = thread_bulk.client.post
    headers = thread_bulk.headers
    _error(post(IMPORT, data=b"{not json", headers=headers), 400, "BadRequest", "InvalidJSON")
    _error(post(IMPORT, data=b"\xff\xfe", headers=headers), 400, "BadRequest", "InvalidJSON")
    # Nesting: far too deep for a parser, and deeper than any record needs.
    _error(post(IMPORT, data=b"[" * 200_000 + b"]" * 200_000, headers=headers), 400, "BadRequest", "InvalidJSON")
    for text in ('"a\\u0000@example.com"', '"a@example.com","\\u0000":1'):
        body = '{"identifier":"email","records":[{"email":' + text + "}]}"
        _error(post(IMPORT, data=body.encode(), headers=headers), 400, "BadRequest", "InvalidJSON")
    for number in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = '{"identifier":"email","records":[{"email":"a@example.com","custom_attributes":{"level":%s}}]}'
        _error(post(IMPORT, data=(body % number).encode(), headers=headers), 400, "BadRequest", "InvalidJSON")
    deep = '{"identifier":"email","records":[{"email":"a@example.com","custom_attributes":{"x":%s}}]}'
    deep_body = (deep % ("[" * 40 + "]" * 40)).encode()
    _error(post(IMPORT, data=deep_body, headers=headers), 400, "BadRequest", "InvalidJSON")
    cases = [
        ([], "", "type"),
        ("records", "", "type"),
        ({"identifier": "email", "records": [{"email": "a@example.com"}], "extra": 1}, "", "additionalProperties"),
        ({"records": [{"email": "a@example.com"}]}, "", "required"),
        ({"identifier": "user_id", "records": [{}]}, "/identifier", "enum"),
        ({"identifier": "email", "upsert": "true", "records": [{}]}, "/upsert", "type"),
        ({"identifier": "email", "records": {"email": "a@example.com"}}, "/records", "type"),
        ({"identifier": "email", "records": []}, "/records", "minItems"),
        ({"identifier": "email", "records": [{"email": "a@example.com"}, "b@example.com"]}, "/records/1", "type"),
    ]
    for body, location, kind in cases:
        error = _error(post(IMPORT, json=body, headers=headers), 400, "Invalid", "ValidationFailed")
        assert {"location": location, "kind": kind} in [
            {"location": c["location"], "kind": c["kind"]} for c in error["info"]["causes"]
        ], (body, error)
    assert count_users(thread_app) == 0
    with thread_app.app_context():
        assert db.session.query(BackgroundTask).count() == 0


@pytest.mark.embedded
def test_body_limit_is_500_kb(thread_bulk, thread_app):
    def body_of(size: int) -> bytes:
        head = b'{"identifier":"email","records":[{"email":"big@example.com","name":"'
        tail = b'"}]}'
        return head + b"x" * (size - len(head) - len(tail)) + tail

    headers = {**thread_bulk.headers, "Content-Type": "application/json"}
    error = _error(
        thread_bulk.client.post(IMPORT, data=body_of(501 * 1000), headers=headers),
        413,
        "RequestEntityTooLarge",
        "JSONTooLarge",
    )
    assert error["message"]
    _error(
        thread_bulk.client.post(IMPORT, data=body_of(2 * 1024 * 1024), headers=headers),
        413,
        "RequestEntityTooLarge",
        "JSONTooLarge",
    )
    # At the limit the request is accepted; the oversized name then fails that record only.
    resp = thread_bulk.client.post(IMPORT, data=body_of(500 * 1000), headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    result = thread_bulk.wait(f"{IMPORT}/{resp.get_json()['result']['id']}")
    assert result["summary"]["failed"] == 1 and result["details"][0]["errors"][0]["reason"] == "ValidationFailed"


@pytest.mark.embedded
def test_identifier_must_be_an_enabled_login_id(make_app, tmp_path):
    app = make_app(
        {"identity": {"login_id": {"keys": [{"key": "email", "type": "email"}]}}}, redis_url=None, config_dir=tmp_path
    )
    bulk = Bulk(app)
    resp = bulk.client.post(
        IMPORT, json={"identifier": "phone_number", "records": [{"phone_number": "+85291230001"}]}, headers=bulk.headers
    )
    error = _error(resp, 400, "Invalid", "ValidationFailed")
    assert error["info"]["causes"][0]["location"] == "/identifier"


@pytest.mark.embedded
def test_unknown_task(thread_bulk):
    for path in (f"{IMPORT}/userimport_NOPE", f"{IMPORT}/" + "x" * 5000, f"{IMPORT}/%00%27%22"):
        _error(thread_bulk.client.get(path, headers=thread_bulk.headers), 404, "NotFound", "TaskNotFound")
    export_id = thread_bulk.post(EXPORT, {"format": "ndjson"})["result"]["id"]
    thread_bulk.wait(f"{EXPORT}/{export_id}")
    # An export task is not an import job.
    _error(
        thread_bulk.client.get(f"{IMPORT}/{export_id}", headers=thread_bulk.headers), 404, "NotFound", "TaskNotFound"
    )


# -- hostile records ------------------------------------------------------------------------------
def test_hostile_records_fail_alone(bulk, bulk_app):
    make_roles(bulk_app)
    with bulk_app.app_context():
        svc = bulk_app.extensions["gatehouse"]
        svc.users.create_user([("email", "taken@example.com"), ("phone", "+85291230042")])
        db.session.commit()
    ok = {"email": "fine@example.com", "name": "Fine"}
    records = [
        {"email": "badhash@example.com", "password": {"type": "bcrypt", "password_hash": "$2b$10$tooshort"}},
        {"email": "badhash2@example.com", "password": {"type": "bcrypt", "password_hash": "plaintext-password"}},
        {"email": "badtotp@example.com", "name": "T", "mfa": {"totp": {"secret": "not base32!"}}},
        {"email": "shorttotp@example.com", "mfa": {"totp": {"secret": "ABCD"}}},
        {"email": "unknown@example.com", "favourite_colour": "red"},
        {"email": "unknownmfa@example.com", "mfa": {"webauthn": {}}},
        {"email": "types@example.com", "name": 5},
        {"email": "types2@example.com", "disabled": "yes"},
        {"email": "types3@example.com", "roles": "editor"},
        {"email": "types4@example.com", "custom_attributes": ["member_no"]},
        {"email": "types5@example.com", "address": {"planet": "Mars"}},
        {"name": "no identifier"},
        {"email": None},
        {"email": "not-an-email"},
        {"email": "role@example.com", "roles": ["no_such_role"]},
        {"email": "custom@example.com", "custom_attributes": {"undeclared": "x"}},
        {"email": "custom2@example.com", "custom_attributes": {"level": 1000}},
        {"email": "time@example.com", "account_valid_from": "yesterday"},
        {
            "email": "expire@example.com",
            "password": {"type": "bcrypt", "password_hash": BCRYPT_HASH, "expire_after": "2030-13-01T00:00:00Z"},
        },
        {"email": "dup@example.com", "phone_number": "+85291230042"},
        {"email": "hashtype@example.com", "password": {"type": "md5", "password_hash": "x"}},
        {"email": "hashmismatch@example.com", "password": {"type": "argon2", "password_hash": BCRYPT_HASH}},
        {"email": "birthday@example.com", "birthdate": "someday"},
        ok,
    ]
    result = bulk.run_import(records)
    details = result["details"]
    reasons = [(d["outcome"], d.get("errors", [{}])[0].get("reason")) for d in details]
    assert reasons == [("failed", "InvalidBcryptHash")] * 2 + [("failed", "InvalidTOTPSecret")] * 2 + [
        ("failed", "ValidationFailed")
    ] * 10 + [("failed", "RoleUnknownKeys")] + [("failed", "ValidationFailed")] * 4 + [
        ("failed", "InvariantViolated"),
        ("failed", "ValidationFailed"),
        ("failed", "InvalidPasswordHash"),
        ("failed", "ValidationFailed"),
        ("inserted", None),
    ]
    assert details[4]["errors"][0]["info"]["causes"][0]["kind"] == "additionalProperties"
    assert details[6]["errors"][0]["info"]["causes"][0]["location"] == "/name"
    assert details[11]["errors"][0]["info"]["causes"][0]["kind"] == "required"
    assert details[19]["errors"][0] == {
        "name": "Invalid",
        "reason": "InvariantViolated",
        "message": "identity already exists",
        "code": 400,
        "info": {"cause": {"kind": "DuplicatedIdentity"}},
    }
    assert all("user_id" not in d for d in details[:-1])
    assert result["summary"] == {
        "total": len(records),
        "inserted": 1,
        "updated": 0,
        "skipped": 0,
        "failed": len(records) - 1,
    }
    # A failed record leaves nothing behind, not even the user its first steps created.
    assert count_users(bulk_app) == 2
    assert user_state(bulk_app, "badtotp@example.com") is None
    assert user_state(bulk_app, "fine@example.com")["standard"]["name"] == "Fine"
    assert user_state(bulk_app, "+85291230042", key="phone")["identities"]["email"] == "taken@example.com"


def test_one_identifier_twice_in_a_request(bulk, bulk_app):
    records = [
        {"email": "twice@example.com", "name": "First"},
        {"email": "TWICE@example.com", "name": "Second"},
    ]
    first = bulk.run_import(records)
    assert [d["outcome"] for d in first["details"]] == ["inserted", "skipped"]
    assert first["details"][0]["user_id"] == first["details"][1]["user_id"]
    assert user_state(bulk_app, "twice@example.com")["standard"]["name"] == "First"
    again = bulk.run_import([{**r, "email": "again@example.com"} for r in records], upsert=True)
    assert [d["outcome"] for d in again["details"]] == ["inserted", "updated"]
    assert user_state(bulk_app, "again@example.com")["standard"]["name"] == "Second"
    # Across tasks of 100 the order holds too: record 150 sees the user record 0 created.
    spread = [{"email": f"spread-{i}@example.com"} for i in range(150)] + [{"email": "spread-0@example.com"}]
    result = bulk.run_import(spread)
    assert result["details"][-1]["outcome"] == "skipped"
    assert count_users(bulk_app) == 2 + 150


# -- tasks, details, redaction ---------------------------------------------------------------------
def test_tasks_of_100_records_and_redaction(bulk, bulk_app):
    records = [
        {
            "email": f"chunk-{i}@example.com",
            "password": {"type": "bcrypt", "password_hash": BCRYPT_HASH},
            "mfa": {"password": {"type": "bcrypt", "password_hash": BCRYPT_HASH}, "totp": {"secret": TOTP_SECRET}},
        }
        for i in range(250)
    ]
    job_id = bulk.start_import(records)
    result = bulk.wait(f"{IMPORT}/{job_id}")
    assert result["summary"] == {"total": 250, "inserted": 250, "updated": 0, "skipped": 0, "failed": 0}
    assert [d["index"] for d in result["details"]] == list(range(250))
    assert [d["record"]["email"] for d in result["details"]] == [r["email"] for r in records]
    redacted = result["details"][7]["record"]
    assert redacted["password"] == {"type": "bcrypt", "password_hash": "REDACTED"}
    assert redacted["mfa"] == {
        "password": {"type": "bcrypt", "password_hash": "REDACTED"},
        "totp": {"secret": "REDACTED"},
    }
    assert result["id"] == job_id and result["completed_at"] >= result["created_at"]
    with bulk_app.app_context():
        tasks = db.session.scalars(select(BackgroundTask).where(BackgroundTask.parent_id == job_id)).all()
        assert sorted(len(t.input["records"]) for t in tasks) == [50, 100, 100]
        assert all(t.id.startswith("userimporttask_") and t.status == "completed" for t in tasks)
        # No secret stays at rest once a task is done.
        stored = json.dumps([t.input for t in tasks])
        assert BCRYPT_HASH not in stored and TOTP_SECRET not in stored
    assert user_state(bulk_app, "chunk-249@example.com")["authenticators"][0]["hash"] == BCRYPT_HASH


def test_progress_while_pending(make_app, bulk_dir, start_worker):
    prefix = f"gatehouse-test-{uuid.uuid4().hex[:12]}:"
    app = make_app(BULK_OVERRIDES, queue_prefix=prefix, config_dir=bulk_dir)
    bulk = Bulk(app)
    records = [{"email": f"pending-{i}@example.com"} for i in range(120)]
    created = bulk.post(IMPORT, {"identifier": "email", "records": records})["result"]
    assert created["status"] == "pending"
    assert created["progress"] == {"processed": 0, "total": 120}
    assert "summary" not in created and "details" not in created
    pending = bulk.get(f"{IMPORT}/{created['id']}")["result"]
    assert pending["status"] == "pending" and pending["progress"] == {"processed": 0, "total": 120}
    start_worker(bulk_dir, prefix)  # nobody was listening on these queues until now
    seen = []
    while True:
        result = bulk.get(f"{IMPORT}/{created['id']}")["result"]
        if result["status"] == "completed":
            break
        seen.append(result["progress"]["processed"])
    assert seen == sorted(seen) and all(0 <= n <= 120 for n in seen)
    assert result["summary"]["inserted"] == 120 and "progress" not in result


def test_results_kept_24_hours(bulk, bulk_app):
    result = bulk.run_import([{"email": "kept@example.com"}])
    path = f"{IMPORT}/{result['id']}"
    svc = bulk_app.extensions["gatehouse"]
    real = svc.clock
    later = real() + timedelta(hours=24, seconds=1)
    assert bulk.get(path)["result"]["status"] == "completed"
    svc.clock = lambda: later
    try:
        _error(bulk.client.get(path, headers=bulk.headers), 404, "NotFound", "TaskNotFound")
    finally:
        svc.clock = real
    with bulk_app.app_context():
        assert cleanup_expired(later, export_storage(bulk_app)) == 2  # the job and its task
        assert db.session.query(BackgroundTask).count() == 0
    _error(bulk.client.get(path, headers=bulk.headers), 404, "NotFound", "TaskNotFound")
    assert user_state(bulk_app, "kept@example.com") is not None  # the users stay, only the report goes

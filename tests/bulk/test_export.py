"""The User Export API as a client sees it (contract 5): requests, the NDJSON record, CSV columns
and cells, file name and headers, signed download URLs, one export at a time, progress, failure,
files removed after 24 hours."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import insert, select

from app.authenticators.models import Authenticator
from app.db import new_id
from app.extensions import db
from app.identities.models import Identity, User, VerifiedClaim
from app.jobs.maintenance import cleanup_expired
from app.jobs.storage import export_storage
from app.roles.models import Group, Role, user_groups, user_roles
from tests.bulk.conftest import BULK_OVERRIDES, EXPORT, IMPORT, Bulk
from tests.bulk.helpers import BCRYPT_HASH, TOTP_SECRET, make_roles

RICH = {
    "email": "Rich.User@Example.com",
    "email_verified": True,
    "phone_number": "+85291230077",
    "preferred_username": "rich_user",
    "name": 'Rich "R" User, Jr.\nSecond line',
    "given_name": "Rich",
    "family_name": "User",
    "nickname": "richie",
    "birthdate": "1980-01-02",
    "locale": "zh-HK",
    "address": {"formatted": "1 Queen's Road", "country": "HK"},
    "custom_attributes": {"member_no": "M-77", "level": 3},
    "roles": ["viewer", "editor"],
    "groups": ["staff"],
    "disabled": True,
    "account_valid_until": "2030-01-01T00:00:00Z",
    "password": {"type": "bcrypt", "password_hash": BCRYPT_HASH},
    "mfa": {"email": "mfa@example.com", "phone_number": "+85261230077", "totp": {"secret": TOTP_SECRET}},
}


def _error(resp, status, name, reason):
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"]) == (name, reason)
    return error


def _download(bulk, result):
    resp = bulk.download(result["download_url"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


@pytest.mark.embedded
def test_hostile_requests(thread_bulk):
    post = thread_bulk.client.post
    headers = thread_bulk.headers
    _error(post(EXPORT, data=b"[", headers=headers), 400, "BadRequest", "InvalidJSON")
    _error(
        post(EXPORT, data=b'{"format":"csv","csv":' + b"[" * 100 + b"]" * 100 + b"}", headers=headers),
        400,
        "BadRequest",
        "InvalidJSON",
    )
    cases = [
        ({}, "", "required"),
        ({"format": "xml"}, "/format", "enum"),
        ({"format": "csv", "extra": True}, "", "additionalProperties"),
        ({"format": "csv", "csv": {"fields": []}}, "/csv/fields", "minItems"),
        ({"format": "csv", "csv": {"fields": [{}]}}, "/csv/fields/0", "required"),
        ({"format": "csv", "csv": {"fields": [{"pointer": 5}]}}, "/csv/fields/0/pointer", "type"),
        ({"format": "csv", "csv": {"fields": [{"pointer": "/sub", "x": 1}]}}, "/csv/fields/0", "additionalProperties"),
        ({"format": "csv", "csv": {"fields": [{"pointer": "sub"}]}}, "/csv/fields/0/pointer", "format"),
        ({"format": "csv", "csv": {"fields": [{"pointer": "/a~2b"}]}}, "/csv/fields/0/pointer", "format"),
        ({"format": "csv", "csv": {"fields": [{"pointer": "/sub"}] * 501}}, "/csv/fields", "maxItems"),
    ]
    for body, location, kind in cases:
        error = _error(post(EXPORT, json=body, headers=headers), 400, "Invalid", "ValidationFailed")
        assert (location, kind) in [(c["location"], c["kind"]) for c in error["info"]["causes"]], (body, error)
    fields = [{"pointer": "/address/formatted"}, {"pointer": "/email", "field_name": "address.formatted"}]
    error = _error(
        post(EXPORT, json={"format": "csv", "csv": {"fields": fields}}, headers=headers),
        400,
        "Invalid",
        "UserExportNonUniqueFieldNames",
    )
    assert error["info"] == {"field_names": ["address.formatted", "address.formatted"]}


def test_ndjson_record(bulk, bulk_app):
    make_roles(bulk_app)
    imported = bulk.run_import([RICH, {"email": "plain@example.com"}])
    assert imported["summary"]["inserted"] == 2, imported
    result = bulk.run_export({"format": "ndjson"})
    assert result["status"] == "completed" and result["request"] == {"format": "ndjson"}
    assert "error" not in result and "failed_at" not in result and "progress" not in result
    resp = _download(bulk, result)
    assert resp.mimetype == "application/x-ndjson"
    name = re.fullmatch(r'attachment; filename="?([^"]+)"?', resp.headers["Content-Disposition"]).group(1)
    assert re.fullmatch(rf"gatehouse-test-{result['id']}-\d{{14}}Z\.ndjson", name)
    body = resp.get_data(as_text=True)
    assert body.endswith("\n") and body.count("\n") == 2
    records = {r["email"]: r for r in map(json.loads, body.splitlines())}
    rich = records["rich.user@example.com"]
    user_id = imported["details"][0]["user_id"]
    assert rich.pop("sub") == user_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", rich.pop("created_at"))
    totp_uri = rich["mfa"]["totps"][0].pop("uri")
    assert totp_uri.startswith("otpauth://totp/") and f"secret={TOTP_SECRET}" in totp_uri
    assert rich == {
        "preferred_username": "rich_user",
        "email": "rich.user@example.com",
        "phone_number": "+85291230077",
        "email_verified": True,
        "phone_number_verified": False,
        "name": RICH["name"],
        "given_name": "Rich",
        "family_name": "User",
        "nickname": "richie",
        "birthdate": "1980-01-02",
        "locale": "zh-HK",
        "address": {"formatted": "1 Queen's Road", "country": "HK"},
        "custom_attributes": {"member_no": "M-77", "level": 3},
        "roles": ["editor", "viewer"],
        "groups": ["staff"],
        "disabled": True,
        "is_anonymized": False,
        "account_valid_until": "2030-01-01T00:00:00Z",
        "identities": [
            {
                "type": "login_id",
                "login_id": {
                    "key": "email",
                    "type": "email",
                    "value": "rich.user@example.com",
                    "original_value": "rich.user@example.com",
                },
                "claims": {"email": "rich.user@example.com"},
            },
            {
                "type": "login_id",
                "login_id": {
                    "key": "phone",
                    "type": "phone",
                    "value": "+85291230077",
                    "original_value": "+85291230077",
                },
                "claims": {"phone_number": "+85291230077"},
            },
            {
                "type": "login_id",
                "login_id": {
                    "key": "username",
                    "type": "username",
                    "value": "rich_user",
                    "original_value": "rich_user",
                },
                "claims": {"preferred_username": "rich_user"},
            },
        ],
        "mfa": {"emails": ["mfa@example.com"], "phone_numbers": ["+85261230077"], "totps": [{"secret": TOTP_SECRET}]},
        "biometric_count": 0,
        "passkey_count": 0,
    }
    plain = records["plain@example.com"]
    # Empty values are left out; these are always there.
    assert set(plain) == {
        "sub",
        "email",
        "email_verified",
        "phone_number_verified",
        "address",
        "created_at",
        "disabled",
        "is_anonymized",
        "identities",
        "mfa",
        "biometric_count",
        "passkey_count",
    }
    assert plain["address"] == {} and plain["mfa"] == {}
    assert BCRYPT_HASH not in body  # password hashes are never exported


def test_csv_default_and_custom_columns(bulk, bulk_app):
    make_roles(bulk_app)
    bulk.run_import([RICH])
    result = bulk.run_export({"format": "csv"})
    resp = _download(bulk, result)
    assert resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].endswith('.csv"') or resp.headers["Content-Disposition"].endswith(".csv")
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == [
        "sub",
        "preferred_username",
        "email",
        "phone_number",
        "email_verified",
        "phone_number_verified",
        "name",
        "given_name",
        "middle_name",
        "nickname",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "address.formatted",
        "address.street_address",
        "address.locality",
        "address.region",
        "address.postal_code",
        "address.country",
        "roles",
        "groups",
        "disabled",
        "created_at",
        "delete_at",
        "last_login_at",
        "is_anonymized",
        "anonymize_at",
        "temporarily_disabled_from",
        "temporarily_disabled_until",
        "account_valid_from",
        "account_valid_until",
        "identities",
        "mfa.emails",
        "mfa.phone_numbers",
        "mfa.totps",
        "biometric_count",
        "passkey_count",
        "custom_attributes.member_no",
        "custom_attributes.level",
        "custom_attributes.tier",
    ]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert len(rows) == 2
    assert row["name"] == RICH["name"]  # quoted per RFC 4180, comma, quote and newline survive
    assert row["email_verified"] == "true" and row["phone_number_verified"] == "false"
    assert row["roles"] == '["editor","viewer"]' and row["mfa.emails"] == '["mfa@example.com"]'
    assert row["middle_name"] == "" and row["delete_at"] == "" and row["custom_attributes.tier"] == ""
    assert row["custom_attributes.level"] == "3" and row["biometric_count"] == "0"
    assert json.loads(row["identities"])[0]["login_id"]["value"] == "rich.user@example.com"

    fields = [
        {"pointer": "/sub", "field_name": "user_id"},
        {"pointer": "/roles/0"},
        {"pointer": "/roles/5"},
        {"pointer": "/address"},
        {"pointer": "/no/such/thing"},
        {"pointer": "/custom_attributes/level", "field_name": 'Level, in "quotes"'},
    ]
    result = bulk.run_export({"format": "csv", "csv": {"fields": fields}})
    assert result["request"] == {"format": "csv", "csv": {"fields": fields}}
    rows = list(csv.reader(io.StringIO(_download(bulk, result).get_data(as_text=True))))
    assert rows[0] == ["user_id", "roles.0", "roles.5", "address", "no.such.thing", 'Level, in "quotes"']
    assert rows[1][1:] == ["editor", "", '{"formatted":"1 Queen\'s Road","country":"HK"}', "", "3"]


def test_download_urls_are_signed_and_short_lived(bulk, bulk_app):
    result = bulk.run_export({"format": "ndjson"})
    url = result["download_url"]
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert url.startswith("http://localhost:3000/_api/admin/users/export/files/")
    assert int(query["expires"][0]) - int(bulk_app.extensions["gatehouse"].clock().timestamp()) in range(58, 61)
    anonymous = bulk_app.test_client()  # no admin JWT: the signature is the authorization
    assert anonymous.get(url).status_code == 200
    tampered = [
        {"expires": query["expires"][0], "signature": "0" * 64},
        {"expires": str(int(query["expires"][0]) + 3600), "signature": query["signature"][0]},
        {"expires": "soon", "signature": query["signature"][0]},
        {"expires": query["expires"][0]},
        {},
    ]
    for params in tampered:
        resp = anonymous.get(f"{parts.path}?{urlencode(params)}")
        _error(resp, 403, "Forbidden", "InvalidSignature")
    other_file = parts.path.replace(result["id"], "userexport_" + "A" * 32)
    _error(anonymous.get(f"{other_file}?{parts.query}"), 403, "Forbidden", "InvalidSignature")
    assert anonymous.get("/_api/admin/users/export/files/..%2F..%2Fauthgear.secrets.yaml").status_code in (403, 404)
    svc = bulk_app.extensions["gatehouse"]
    real = svc.clock
    svc.clock = lambda: real() + timedelta(seconds=61)
    try:
        _error(anonymous.get(url), 403, "Forbidden", "InvalidSignature")
        fresh = bulk.get(f"{EXPORT}/{result['id']}")["result"]["download_url"]  # each status call signs anew
        assert fresh != url
        svc.clock = real
        assert anonymous.get(fresh).status_code == 200  # valid now: expires in 121 s
    finally:
        svc.clock = real


def test_one_export_at_a_time_with_progress_while_pending(make_app, bulk_dir, start_worker):
    prefix = f"gatehouse-test-{uuid.uuid4().hex[:12]}:"
    app = make_app(BULK_OVERRIDES, queue_prefix=prefix, config_dir=bulk_dir)
    bulk = Bulk(app)
    with app.app_context():
        svc = app.extensions["gatehouse"]
        for i in range(3):
            svc.users.create_user([("email", f"counted-{i}@example.com")])
        db.session.commit()
    first = bulk.post(EXPORT, {"format": "ndjson"})["result"]
    assert first["status"] == "pending" and first["id"].startswith("userexport_")
    assert first["progress"] == {"processed": 0, "total": 3}
    assert "download_url" not in first and "completed_at" not in first
    second = bulk.client.post(EXPORT, json={"format": "csv"}, headers=bulk.headers)
    error = _error(second, 429, "TooManyRequest", "MaximumConcurrentJobLimitExceeded")
    assert error["info"] == {"running_task_id": first["id"]}
    assert bulk.get(f"{EXPORT}/{first['id']}")["result"]["progress"] == {"processed": 0, "total": 3}
    start_worker(bulk_dir, prefix)
    done = bulk.wait(f"{EXPORT}/{first['id']}")
    assert "progress" not in done and done["download_url"]
    assert bulk.post(EXPORT, {"format": "csv"})["result"]["status"] == "pending"  # the next one may start


def test_failed_export_ends_with_failed_at_and_error(bulk, bulk_app, bulk_dir):
    exports = bulk_dir / "exports"
    moved = bulk_dir / "exports-aside"
    if exports.exists():
        shutil.move(exports, moved)
    exports.write_text("not a directory")  # the disk the worker writes to is unusable
    try:
        result = bulk.run_export({"format": "ndjson"})
    finally:
        exports.unlink()
        if moved.exists():
            shutil.move(moved, exports)
    assert result["status"] == "completed"
    assert result["failed_at"] >= result["created_at"]
    assert result["error"] == {
        "name": "InternalError",
        "reason": "UnexpectedError",
        "message": "unexpected error",
        "code": 500,
    }
    assert "completed_at" not in result and "download_url" not in result
    # A failed export does not block the next one.
    assert bulk.run_export({"format": "ndjson"})["download_url"]


def test_files_removed_after_24_hours(bulk, bulk_app, bulk_dir):
    result = bulk.run_export({"format": "csv"})
    url = result["download_url"]
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    assert (bulk_dir / "exports" / name).is_file()
    storage = export_storage(bulk_app)
    with bulk_app.app_context():
        now = bulk_app.extensions["gatehouse"].clock()
        assert cleanup_expired(now + timedelta(hours=23), storage) == 0
        assert (bulk_dir / "exports" / name).is_file()
        assert cleanup_expired(now + timedelta(hours=24, seconds=1), storage) == 1
    assert not (bulk_dir / "exports" / name).exists()
    _error(bulk.client.get(f"{EXPORT}/{result['id']}", headers=bulk.headers), 404, "NotFound", "TaskNotFound")


def test_export_import_round_trip_keeps_every_field(bulk, bulk_app):
    make_roles(bulk_app)
    _seed_users(bulk_app, 1000)
    first = _export_ndjson(bulk)
    assert len(first) == 1000

    with bulk_app.app_context():
        db.session.execute(db.text("DELETE FROM users"))
        db.session.commit()
    again = [_import_record(r) for r in first]
    for start in (0, 500):
        assert bulk.run_import(again[start : start + 500])["summary"]["inserted"] == 500
    second = _export_ndjson(bulk)

    def comparable(record):
        return {k: v for k, v in record.items() if k not in ("sub", "created_at")}

    by_email = {r["email"]: comparable(r) for r in second}
    assert [by_email[r["email"]] for r in first] == [comparable(r) for r in first]
    sample = next(r for r in first if r["email"] == "trip-0@example.com")
    assert sample["phone_number_verified"] and sample["mfa"]["emails"] == ["mfa-0@example.com"]
    assert sample["custom_attributes"] == {"member_no": "M0000", "level": 0, "tier": "gold"}


def _seed_users(app, count):
    """`count` users with every exportable field, written by SQL (fast): the rows the import creates."""
    with app.app_context():
        now = app.extensions["gatehouse"].clock()
        role_ids = {key: id_ for key, id_ in db.session.execute(select(Role.key, Role.id))}
        group_ids = {key: id_ for key, id_ in db.session.execute(select(Group.key, Group.id))}
        rows: dict[str, list[dict]] = {name: [] for name in ("users", "ids", "claims", "auths", "roles", "groups")}
        for i in range(count):
            uid, at = new_id(), now + timedelta(microseconds=i)
            email, username = f"trip-{i}@example.com", f"trip_{i}"
            phone = f"+852912{i:05d}" if i % 4 == 0 else None
            attrs = {
                "email": email,
                "preferred_username": username,
                "name": f"Trip User {i}",
                "given_name": "Trip",
                "family_name": f"No{i}",
                "gender": "other" if i % 3 else "female",
                "birthdate": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
                "address": {"locality": f"Town {i % 7}", "country": "HK"},
            }
            custom = {"member_no": f"M{i:04d}", "level": i % 100}
            if i % 3 != 2:
                custom["tier"] = ["gold", "silver"][i % 3]
            logins = [("email", "email", email, "email")]
            if phone:
                attrs["phone_number"] = phone
                logins.append(("phone", "phone", phone, "phone_number"))
                rows["claims"].append(
                    {"id": new_id(), "user_id": uid, "name": "phone_number", "value": phone, "created_at": at}
                )
            logins.append(("username", "username", username, "preferred_username"))
            if i % 2 == 0:
                rows["claims"].append(
                    {"id": new_id(), "user_id": uid, "name": "email", "value": email, "created_at": at}
                )
            rows["users"].append(
                {
                    "id": uid,
                    "created_at": at,
                    "updated_at": at,
                    "is_disabled": i % 10 == 0,
                    "is_deactivated": False,
                    "is_anonymized": False,
                    "account_valid_from": datetime(2024, 5, 1, tzinfo=UTC),
                    "standard_attributes": attrs,
                    "custom_attributes": custom,
                }
            )
            for n, (key, type_, value, claim) in enumerate(logins):
                rows["ids"].append(
                    {
                        "id": new_id(),
                        "user_id": uid,
                        "type": "login_id",
                        "created_at": at + timedelta(milliseconds=n),
                        "updated_at": at,
                        "dedup_key": f"login_id:{key}:{value}",
                        "login_id_key": key,
                        "login_id_type": type_,
                        "login_id": value,
                        "original_login_id": value,
                        "claims": {claim: value},
                    }
                )
            if i % 3 == 0:
                for type_, extra in (
                    ("oob_otp_email", {"oob_target": f"mfa-{i}@example.com"}),
                    ("totp", {"totp_secret": TOTP_SECRET, "totp_display_name": "Imported"}),
                ):
                    rows["auths"].append(
                        {
                            "id": new_id(),
                            "user_id": uid,
                            "type": type_,
                            "kind": "secondary",
                            "is_default": False,
                            "created_at": at,
                            "updated_at": at,
                            **extra,
                        }
                    )
            for key in ["editor"] if i % 2 else ["editor", "viewer"]:
                rows["roles"].append({"user_id": uid, "role_id": role_ids[key]})
            if i % 5 == 0:
                rows["groups"].append({"user_id": uid, "group_id": group_ids["ops"]})
        for target, name in (
            (User, "users"),
            (Identity, "ids"),
            (VerifiedClaim, "claims"),
            (Authenticator, "auths"),
            (user_roles, "roles"),
            (user_groups, "groups"),
        ):
            if rows[name]:
                db.session.execute(insert(target), rows[name])
        db.session.commit()


def _export_ndjson(bulk):
    result = bulk.run_export({"format": "ndjson"})
    return [json.loads(line) for line in _download(bulk, result).get_data(as_text=True).splitlines()]


def _import_record(exported):
    """An export record as an import record (what a migration script does)."""
    keep = (
        "email",
        "phone_number",
        "preferred_username",
        "email_verified",
        "phone_number_verified",
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "address",
        "custom_attributes",
        "roles",
        "groups",
        "disabled",
        "account_valid_from",
        "account_valid_until",
    )
    record = {k: exported[k] for k in keep if k in exported}
    mfa = {}
    if exported["mfa"].get("emails"):
        mfa["email"] = exported["mfa"]["emails"][0]
    if exported["mfa"].get("phone_numbers"):
        mfa["phone_number"] = exported["mfa"]["phone_numbers"][0]
    if exported["mfa"].get("totps"):
        mfa["totp"] = {"secret": exported["mfa"]["totps"][0]["secret"]}
    if mfa:
        record["mfa"] = mfa
    return record


def test_import_path_is_not_export(bulk):
    result = bulk.run_import([{"email": "x@example.com"}])
    _error(bulk.client.get(f"{EXPORT}/{result['id']}", headers=bulk.headers), 404, "NotFound", "TaskNotFound")
    assert bulk.client.get(f"{IMPORT}/{result['id']}", headers=bulk.headers).status_code == 200

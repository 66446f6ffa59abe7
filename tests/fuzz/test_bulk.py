"""The User Import and Export APIs under random requests: random records and JSON pointers. An
accepted import runs (in a thread, the embedded runner) and its per-record outcomes are checked
too: a record may fail, never as `InternalError`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt

from app.config import deep_merge
from tests.admin.conftest import admin_key
from tests.bulk.conftest import BULK_OVERRIDES
from tests.fuzz.conftest import NO_RATE_LIMITS, assert_envelope, fuzz_settings
from tests.fuzz.strategies import hostile_strings, json_values, objects_with, raw_bodies

IMPORT = "/_api/admin/users/import"
EXPORT = "/_api/admin/users/export"
RECORD_KEYS = [
    "email",
    "phone_number",
    "preferred_username",
    "name",
    "given_name",
    "address",
    "birthdate",
    "email_verified",
    "disabled",
    "custom_attributes",
    "roles",
    "groups",
    "account_valid_from",
    "account_valid_until",
    "password",
    "mfa",
]
PASSWORD_TYPES = ["bcrypt", "argon2", "scrypt", "pbkdf2_sha256", "pbkdf2_sha512", "firebase_scrypt", "sha256", "sha512"]
POINTERS = [
    "/sub",
    "/email",
    "/custom_attributes/level",
    "/address/street_address",
    "/roles",
    "/~1",
    "/x~2",
    "",
    "email",
]


@pytest.fixture
def bulk_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    """Without Redis: an accepted import runs in a thread of this process, so its outcomes can be read."""
    return make_app(deep_merge(BULK_OVERRIDES, NO_RATE_LIMITS), redis_url=None, config_dir=tmp_path)


def _headers(app: Flask) -> dict[str, str]:
    key = admin_key(app)
    now = int(time.time())
    claims = {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 3600}
    return {"Authorization": "Bearer " + jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)}


passwords = st.fixed_dictionaries(
    {
        "type": st.one_of(st.sampled_from(PASSWORD_TYPES), hostile_strings),
        "password_hash": st.one_of(
            hostile_strings, st.sampled_from(["$2b$04$" + "a" * 53, "$argon2id$v=19$m=1,t=1,p=1$x$y"])
        ),
    },
    optional={"expire_after": hostile_strings},
)
records = st.one_of(
    json_values,
    objects_with(RECORD_KEYS),
    st.fixed_dictionaries(
        {"email": st.one_of(st.just("fuzz@example.com"), hostile_strings)},
        optional={
            "password": st.one_of(passwords, json_values),
            "name": hostile_strings,
            "custom_attributes": objects_with(["member_no", "level", "tier"]),
            "roles": st.lists(hostile_strings),
            "mfa": objects_with(["email", "phone_number", "password", "totp"]),
            "account_valid_from": hostile_strings,
        },
    ),
)
import_bodies = st.one_of(
    json_values,
    objects_with(["identifier", "upsert", "records"]),
    st.fixed_dictionaries(
        {
            "identifier": st.one_of(st.sampled_from(["email", "phone_number", "preferred_username"]), hostile_strings),
            "records": st.lists(records, min_size=1, max_size=4),
        },
        optional={"upsert": st.one_of(st.booleans(), json_values)},
    ),
)
fields = st.one_of(
    json_values,
    objects_with(["pointer", "field_name"]),
    st.fixed_dictionaries(
        {"pointer": st.one_of(st.sampled_from(POINTERS), hostile_strings)}, optional={"field_name": hostile_strings}
    ),
)
export_bodies = st.one_of(
    json_values,
    objects_with(["format", "csv"]),
    st.fixed_dictionaries(
        {"format": st.one_of(st.sampled_from(["csv", "ndjson"]), hostile_strings)},
        optional={"csv": st.one_of(json_values, st.fixed_dictionaries({"fields": st.lists(fields, max_size=3)}))},
    ),
)


def _finished(client: Any, headers: dict[str, str], url: str) -> dict[str, Any]:
    """The job's status once completed (its thread then writes no more rows for the clean-up to race)."""
    deadline = time.monotonic() + 20
    while True:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        result = resp.get_json()["result"]
        if result["status"] == "completed" or "failed_at" in result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


@pytest.mark.embedded
@fuzz_settings(60)
@given(body=import_bodies)
def test_import_with_random_records(bulk_app, body):
    client, headers = bulk_app.test_client(), _headers(bulk_app)
    resp = client.post(IMPORT, json=body, headers=headers)
    assert_envelope(resp)
    if resp.status_code != 200:
        return
    result = _finished(client, headers, f"{IMPORT}/{resp.get_json()['result']['id']}")
    assert result["status"] == "completed" and "error" not in result, result
    for detail in result["details"]:
        for error in detail.get("errors") or []:
            assert error["name"] != "InternalError", detail


@pytest.mark.embedded
@fuzz_settings(60)
@given(body=export_bodies)
def test_export_with_random_pointers(bulk_app, body):
    client, headers = bulk_app.test_client(), _headers(bulk_app)
    resp = client.post(EXPORT, json=body, headers=headers)
    assert_envelope(resp)
    if resp.status_code == 200:
        result = _finished(client, headers, f"{EXPORT}/{resp.get_json()['result']['id']}")
        assert result["status"] == "completed" and "error" not in result, result


@pytest.mark.embedded
@fuzz_settings(30)
@given(path=st.sampled_from([IMPORT, EXPORT]), raw=raw_bodies)
def test_raw_bodies(bulk_app, path, raw):
    resp = bulk_app.test_client().post(path, data=raw, content_type="application/json", headers=_headers(bulk_app))
    assert assert_envelope(resp) is not None

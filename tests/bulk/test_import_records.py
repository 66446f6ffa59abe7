"""Every row of the upsert behaviour of contract 4.2, through a real worker.

Each case is one record about its own user. The users a case starts from are imported first (one
request), then all cases run (one request per `upsert` value), and every case checks its detail
(outcome, warnings) and the user's rows afterwards.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.config import deep_merge
from tests.bulk.conftest import BULK_OVERRIDES, Bulk, write_project
from tests.bulk.helpers import BCRYPT_HASH, TOTP_SECRET, detail_warnings, make_roles, user_state

OTHER_HASH = "$2b$04$" + "b" * 53
FULL = {
    "phone_number": "+85291234567",
    "preferred_username": "full_user",
    "email_verified": True,
    "name": "Old Name",
    "given_name": "Old",
    "address": {"formatted": "1 Old Street", "locality": "Oldtown"},
    "custom_attributes": {"member_no": "M-1", "level": 5},
    "roles": ["editor"],
    "groups": ["staff"],
    "account_valid_from": "2024-01-01T00:00:00Z",
    "password": {"type": "bcrypt", "password_hash": BCRYPT_HASH},
    "mfa": {"email": "old-mfa@example.com", "phone_number": "+85261234567", "totp": {"secret": TOTP_SECRET}},
}


def t(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)


def auths(state: dict[str, Any], type_: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [a for a in state["authenticators"] if a["type"] == type_ and (kind is None or a["kind"] == kind)]


# (name, existing user's record or None, upsert, record, outcome, warnings, check(state, before))
CASES: list[tuple[str, dict | None, bool, dict, str, list[str], Any]] = [
    # -- insert ---------------------------------------------------------------------------------
    (
        "insert-login-ids",
        None,
        False,
        {"phone_number": "+85291230001", "preferred_username": "new_user_1"},
        "inserted",
        [],
        lambda s, b: (
            s["identities"]
            == {"email": "insert-login-ids@example.com", "phone": "+85291230001", "username": "new_user_1"}
            and s["standard"]["phone_number"] == "+85291230001"
            and s["standard"]["preferred_username"] == "new_user_1"
        ),
    ),
    (
        "insert-null-login-id",
        None,
        False,
        {"phone_number": None, "preferred_username": None},
        "inserted",
        ["phone_number = null has no effect in insert.", "preferred_username = null has no effect in insert."],
        lambda s, b: set(s["identities"]) == {"email"},
    ),
    (
        "insert-verified",
        None,
        False,
        {"email_verified": True, "phone_number": "+85291230002", "phone_number_verified": True},
        "inserted",
        [],
        lambda s, b: s["verified"] == [("email", "insert-verified@example.com"), ("phone_number", "+85291230002")],
    ),
    (
        "insert-unverified",
        None,
        False,
        {"email_verified": False},
        "inserted",
        ["email_verified = false has no effect in insert."],
        lambda s, b: s["verified"] == [],
    ),
    (
        "insert-verified-absent",
        None,
        False,
        {"phone_number_verified": True},
        "inserted",
        ["phone_number_verified = true has no effect when phone_number is absent."],
        lambda s, b: s["verified"] == [],
    ),
    (
        "insert-profile",
        None,
        False,
        {
            "name": "Ann Lee",
            "given_name": "Ann",
            "family_name": "Lee",
            "middle_name": "M",
            "nickname": "annie",
            "profile": "https://ann.example",
            "picture": "https://ann.example/p.png",
            "website": "https://ann.example/w",
            "gender": "female",
            "birthdate": "1990-02-03",
            "zoneinfo": "Asia/Hong_Kong",
            "locale": "en-HK",
            "address": {
                "formatted": "1 Main St",
                "street_address": "1 Main St",
                "locality": "HK",
                "region": "HK",
                "postal_code": "000",
                "country": "HK",
            },
        },
        "inserted",
        [],
        lambda s, b: (
            s["standard"]["name"] == "Ann Lee"
            and s["standard"]["birthdate"] == "1990-02-03"
            and s["standard"]["address"]["country"] == "HK"
            and s["standard"]["locale"] == "en-HK"
        ),
    ),
    (
        "insert-null-profile",
        None,
        False,
        {"name": None, "address": None},
        "inserted",
        [],
        lambda s, b: "name" not in s["standard"] and "address" not in s["standard"],
    ),
    (
        "insert-custom",
        None,
        False,
        {"custom_attributes": {"member_no": "M-9", "level": 7, "tier": None}},
        "inserted",
        [],
        lambda s, b: s["custom"] == {"member_no": "M-9", "level": 7},
    ),
    (
        "insert-roles",
        None,
        False,
        {"roles": ["editor", "viewer"], "groups": ["ops"]},
        "inserted",
        [],
        lambda s, b: s["roles"] == ["editor", "viewer"] and s["groups"] == ["ops"],
    ),
    ("insert-disabled", None, False, {"disabled": True}, "inserted", [], lambda s, b: s["disabled"] is True),
    (
        "insert-enabled",
        None,
        False,
        {"disabled": False},
        "inserted",
        ["disabled = false has no effect in insert."],
        lambda s, b: s["disabled"] is False,
    ),
    (
        "insert-valid-period",
        None,
        False,
        {"account_valid_from": "2024-01-01T00:00:00Z", "account_valid_until": "2030-06-30T12:00:00+08:00"},
        "inserted",
        [],
        lambda s, b: s["valid_from"] == t("2024-01-01T00:00:00Z") and s["valid_until"] == t("2030-06-30T04:00:00Z"),
    ),
    (
        "insert-password",
        None,
        False,
        {"password": {"type": "bcrypt", "password_hash": BCRYPT_HASH, "expire_after": "2031-01-01T00:00:00Z"}},
        "inserted",
        [],
        lambda s, b: (
            [(a["hash"], a["expire_after"]) for a in auths(s, "password", "primary")]
            == [(BCRYPT_HASH, t("2031-01-01T00:00:00Z"))]
        ),
    ),
    (
        "insert-mfa",
        None,
        False,
        {
            "mfa": {
                "email": "Second@Example.com",
                "phone_number": "+85261110003",
                "password": {"type": "bcrypt", "password_hash": OTHER_HASH},
                "totp": {"secret": TOTP_SECRET},
            }
        },
        "inserted",
        [],
        lambda s, b: (
            [a["target"] for a in auths(s, "oob_otp_email", "secondary")] == ["second@example.com"]
            and [a["target"] for a in auths(s, "oob_otp_sms", "secondary")] == ["+85261110003"]
            and [a["hash"] for a in auths(s, "password", "secondary")] == [OTHER_HASH]
            and [a["totp"] for a in auths(s, "totp")] == [TOTP_SECRET]
        ),
    ),
    (
        "insert-mfa-null",
        None,
        False,
        {"mfa": {"email": None, "phone_number": None}},
        "inserted",
        ["mfa.email = null has no effect in insert.", "mfa.phone_number = null has no effect in insert."],
        lambda s, b: s["authenticators"] == [],
    ),
    # -- update (upsert = true) -----------------------------------------------------------------
    ("update-absent-fields", FULL, True, {}, "updated", [], lambda s, b: s == b),
    (
        "update-login-ids",
        FULL,
        True,
        {"phone_number": "+85291230009", "preferred_username": "renamed_user"},
        "updated",
        [],
        lambda s, b: (
            s["identities"]["phone"] == "+85291230009"
            and s["identities"]["username"] == "renamed_user"
            and s["standard"]["phone_number"] == "+85291230009"
        ),
    ),
    (
        "update-remove-login-id",
        FULL,
        True,
        {"phone_number": None},
        "updated",
        [],
        lambda s, b: "phone" not in s["identities"] and "phone_number" not in s["standard"],
    ),
    (
        "update-add-login-id",
        {"name": "x"},
        True,
        {"preferred_username": "added_user"},
        "updated",
        [],
        lambda s, b: s["identities"].get("username") == "added_user",
    ),
    (
        "update-unverify",
        FULL,
        True,
        {"email_verified": False},
        "updated",
        [],
        lambda s, b: ("email", "update-unverify@example.com") not in s["verified"],
    ),
    (
        "update-verify",
        {"name": "x"},
        True,
        {"email_verified": True},
        "updated",
        [],
        lambda s, b: s["verified"] == [("email", "update-verify@example.com")],
    ),
    (
        "update-profile",
        FULL,
        True,
        {"name": "New Name", "given_name": None, "address": {"country": "JP"}},
        "updated",
        [],
        lambda s, b: (
            s["standard"]["name"] == "New Name"
            and "given_name" not in s["standard"]
            and s["standard"]["address"] == {"country": "JP"}
        ),
    ),
    (
        "update-custom",
        FULL,
        True,
        {"custom_attributes": {"level": None, "tier": "gold"}},
        "updated",
        [],
        lambda s, b: s["custom"] == {"member_no": "M-1", "tier": "gold"},
    ),
    (
        "update-roles",
        FULL,
        True,
        {"roles": ["viewer"], "groups": []},
        "updated",
        [],
        lambda s, b: s["roles"] == ["viewer"] and s["groups"] == [],
    ),
    ("update-disable", FULL, True, {"disabled": True}, "updated", [], lambda s, b: s["disabled"] is True),
    (
        "update-reenable",
        {"disabled": True},
        True,
        {"disabled": False},
        "updated",
        [],
        lambda s, b: s["disabled"] is False,
    ),
    (
        "update-valid-period",
        FULL,
        True,
        {"account_valid_from": None, "account_valid_until": "2035-01-01T00:00:00Z"},
        "updated",
        [],
        lambda s, b: s["valid_from"] is None and s["valid_until"] == t("2035-01-01T00:00:00Z"),
    ),
    (
        "update-credentials-ignored",
        FULL,
        True,
        {
            "password": {"type": "bcrypt", "password_hash": OTHER_HASH},
            "mfa": {"password": {"type": "bcrypt", "password_hash": OTHER_HASH}, "totp": {"secret": "A" * 32}},
        },
        "updated",
        [
            "password is ignored because the user exists.",
            "mfa.password is ignored because the user exists.",
            "mfa.totp is ignored because the user exists.",
        ],
        lambda s, b: s["authenticators"] == b["authenticators"],
    ),
    (
        "update-mfa-replace",
        FULL,
        True,
        {"mfa": {"email": "new-mfa@example.com", "phone_number": "+85261110004"}},
        "updated",
        [],
        lambda s, b: (
            [a["target"] for a in auths(s, "oob_otp_email")] == ["new-mfa@example.com"]
            and [a["target"] for a in auths(s, "oob_otp_sms")] == ["+85261110004"]
        ),
    ),
    (
        "update-mfa-same",
        FULL,
        True,
        {"mfa": {"email": "old-mfa@example.com"}},
        "updated",
        [],
        lambda s, b: auths(s, "oob_otp_email") == auths(b, "oob_otp_email"),
    ),
    (
        "update-mfa-remove",
        FULL,
        True,
        {"mfa": {"email": None, "phone_number": None}},
        "updated",
        [],
        lambda s, b: (
            auths(s, "oob_otp_email") == [] and auths(s, "oob_otp_sms") == [] and auths(s, "totp") == auths(b, "totp")
        ),
    ),
    # -- existing user, upsert = false ----------------------------------------------------------
    (
        "skip-existing",
        FULL,
        False,
        {"name": "Ignored", "roles": []},
        "skipped",
        ["skipping because upsert = false and user exists"],
        lambda s, b: s == b,
    ),
]


def _existing(record: dict[str, Any] | None, n: int) -> dict[str, Any] | None:
    """The starting record of case `n`; FULL's login IDs and MFA phone made unique per case."""
    if record is not FULL:
        return record
    return {
        **FULL,
        "phone_number": f"+852912{n:05d}",
        "preferred_username": f"full_user_{n}",
        "mfa": {**FULL["mfa"], "phone_number": f"+852612{n:05d}"},
    }


def test_upsert_behaviour(bulk, bulk_app):
    make_roles(bulk_app)
    before = [{"email": f"{c[0]}@example.com", **_existing(c[1], n)} for n, c in enumerate(CASES) if c[1]]
    result = bulk.run_import(before)
    assert result["summary"] == {
        "total": len(before),
        "inserted": len(before),
        "updated": 0,
        "skipped": 0,
        "failed": 0,
    }, result
    states = {c[0]: user_state(bulk_app, f"{c[0]}@example.com") for c in CASES if c[1]}
    details: dict[str, dict[str, Any]] = {}
    for upsert in (False, True):
        cases = [c for c in CASES if c[2] is upsert]
        result = bulk.run_import([{"email": f"{c[0]}@example.com", **c[3]} for c in cases], upsert=upsert)
        assert [d["index"] for d in result["details"]] == list(range(len(cases)))
        details.update(zip([c[0] for c in cases], result["details"], strict=True))

    failures = []
    for name, _, _, _, outcome, warnings, check in CASES:
        detail, after = details[name], user_state(bulk_app, f"{name}@example.com")
        if detail["outcome"] != outcome or detail_warnings(detail) != warnings or "errors" in detail:
            failures.append(f"{name}: {detail}")
        elif after is None or detail["user_id"] != after["id"] or not check(after, states.get(name)):
            failures.append(f"{name}: rows {after} (before: {states.get(name)})")
    assert not failures, "\n".join(failures)


def test_login_id_types_that_are_not_enabled_are_ignored_with_a_warning(
    make_app, start_worker, tmp_path, secrets_items
):
    """The project allows email and username login IDs only; phone numbers in records are ignored."""
    overrides = deep_merge(
        BULK_OVERRIDES,
        {"identity": {"login_id": {"keys": [{"key": "email", "type": "email"}, {"key": "user", "type": "username"}]}}},
    )
    prefix = f"gatehouse-test-{uuid.uuid4().hex[:12]}:"
    project_dir = write_project(tmp_path / "project", overrides, secrets_items)
    app = make_app(overrides, queue_prefix=prefix, config_dir=project_dir)
    start_worker(project_dir, prefix)
    bulk = Bulk(app)
    inserted = bulk.run_import(
        [{"email": "nophone@example.com", "phone_number": "+85291230055", "phone_number_verified": True}]
    )
    detail = inserted["details"][0]
    assert detail["outcome"] == "inserted"
    assert detail_warnings(detail) == [
        "phone_number is ignored because it is not an allowed login ID.",
        "phone_number_verified = true has no effect when phone_number is absent.",
    ]
    updated = bulk.run_import([{"email": "nophone@example.com", "phone_number": "+85291230056"}], upsert=True)
    assert updated["details"][0]["outcome"] == "updated"
    assert detail_warnings(updated["details"][0]) == ["phone_number is ignored because it is not an allowed login ID."]
    state = user_state(app, "nophone@example.com")
    assert state["identities"] == {"email": "nophone@example.com"} and "phone_number" not in state["standard"]
    assert state["verified"] == []

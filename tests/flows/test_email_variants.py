"""An email login ID with invisible characters (U+200B, U+200C, U+200D, U+FEFF, U+2060) or a
trailing-dot domain is not another address for an existing account: signup, login and the User
Import API refuse it alike with Authgear's `Invalid/ValidationFailed` (kind `format`, email)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.identities.models import Identity
from tests.bulk.conftest import BULK_OVERRIDES, Bulk
from tests.factories import random_password

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"
FORMAT_EMAIL = {"location": "/login_id", "kind": "format", "details": {"format": "email"}}


def variants(email: str) -> list[str]:
    local, domain = email.split("@")
    return [
        f"{local}\u200b@{domain}",
        f"{local}\u200c@{domain}",
        f"{local[:2]}\u200d{local[2:]}@{domain}",
        f"\ufeff{email}",
        f"{local}@{domain[:3]}\u2060{domain[3:]}",
        f"{email}.",
    ]


def _user(app, email: str, password: str) -> str:
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = svc.users.create_user([("email", email)])
        svc.passwords.create(user.id, password, check_policy=False)
        db.session.commit()
        return user.id


def _identities(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Identity))


def _identify(client, flow_type: str, login_id: str):
    token = client.post(FLOWS, json={"type": flow_type, "name": "default"}).get_json()["result"]["state_token"]
    return client.post(INPUT, json={"state_token": token, "input": {"identification": "email", "login_id": login_id}})


def _assert_format_email(resp) -> None:
    assert resp.status_code == 400, resp.get_json()
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"]) == ("Invalid", "ValidationFailed")
    assert error["info"]["causes"] == [FORMAT_EMAIL]


@pytest.mark.embedded
def test_signup_with_an_invisible_or_trailing_dot_variant_creates_no_second_account(flow_app):
    app = flow_app()
    email = f"zw-{random_password().lower()}@example.com"
    _user(app, email, random_password())
    before = _identities(app)
    client = app.test_client()
    for variant in variants(email):
        _assert_format_email(_identify(client, "signup", variant))
    # The same address itself is a duplicate, as before.
    resp = _identify(client, "signup", email)
    assert resp.status_code == 400 and resp.get_json()["error"]["reason"] == "InvariantViolated"
    assert _identities(app) == before


@pytest.mark.embedded
def test_login_with_a_variant_is_refused_like_signup_and_the_address_itself_still_works(flow_app):
    app = flow_app()
    password = random_password()
    email = f"zw-login-{random_password().lower()}@example.com"
    _user(app, email, password)
    client = app.test_client()
    for variant in variants(email):
        _assert_format_email(_identify(client, "login", variant))
    resp = client.post(
        FLOWS,
        json={
            "type": "login",
            "name": "default",
            "batch_input": [
                {"identification": "email", "login_id": email},
                {"authentication": "primary_password", "password": password},
            ],
        },
    )
    assert resp.get_json()["result"]["action"]["type"] == "finished", resp.get_json()


@pytest.mark.embedded
def test_import_refuses_the_variants_per_record(make_app, tmp_path):
    app = make_app(BULK_OVERRIDES, redis_url=None, config_dir=tmp_path)
    email = "zw-import@example.com"
    before = _identities(app)
    records = [{"email": email}] + [{"email": v} for v in variants(email)]
    details = Bulk(app).run_import(records)["details"]
    assert [d["outcome"] for d in details] == ["inserted"] + ["failed"] * len(variants(email)), details
    for detail in details[1:]:
        (error,) = detail["errors"]
        assert (error["name"], error["reason"]) == ("Invalid", "ValidationFailed"), error
    assert _identities(app) == before + 1


def test_an_upsert_import_cannot_reach_an_account_through_a_variant(make_app, tmp_path):
    app = make_app(BULK_OVERRIDES, redis_url=None, config_dir=tmp_path)
    bulk = Bulk(app)
    email = "zw-upsert@example.com"
    assert bulk.run_import([{"email": email, "name": "First"}])["details"][0]["outcome"] == "inserted"
    before = _identities(app)
    result = bulk.run_import([{"email": f"{email}.", "name": "Other"}], upsert=True)
    assert result["details"][0]["outcome"] == "failed", result
    assert _identities(app) == before

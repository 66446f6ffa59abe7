"""`account_valid_from` / `account_valid_until` as Authgear: outside the period a user counts as
disabled (Admin API `isDisabled`) and cannot sign in (`Forbidden/UserOutsideValidPeriod`, checked
before the stored status); a period whose start is not before its end is
`Invalid/InvalidAccountStatusTransition` with the cause Authgear names, from the Admin API setters,
createUser and each import record."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from app.extensions import db
from tests.admin.conftest import admin_key, error_of, gid, ok
from tests.factories import make_user, random_email, random_password

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"
IMPORT = "/_api/admin/users/import"
USER = "user { id isDisabled accountValidFrom accountValidUntil }"
BACKWARDS = {
    "errorName": "Invalid",
    "reason": "InvalidAccountStatusTransition",
    "info": {"cause": {"kind": "AccountValidFromShouldBeBeforeAccountValidUntil"}},
}


def _iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _login_error(client, email, password):
    """The error that ends a password login of `email`."""
    token = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    for inp in (
        {"identification": "email", "login_id": email},
        {"authentication": "primary_password", "password": password},
    ):
        body = client.post(INPUT, json={"state_token": token, "input": inp}).get_json()
        if "error" in body:
            return body["error"]
        token = body["result"]["state_token"]
    raise AssertionError(f"signed in: {body}")


def _is_disabled(gql, user_id):
    query = "query($id: ID!) { node(id: $id) { ... on User { isDisabled } } }"
    return ok(gql(query, id=gid("User", user_id)))["node"]["isDisabled"]


@pytest.mark.embedded
@pytest.mark.parametrize("side", ["before", "after"])
def test_outside_the_period_the_user_is_disabled_and_cannot_sign_in(client, gql, svc, side):
    password, email = random_password(), random_email().lower()
    user = make_user(svc, email, password)
    assert _is_disabled(gql, user.id) is False
    now = svc.clock()
    if side == "before":
        user.account_valid_from = now + timedelta(days=1)
    else:
        user.account_valid_until = now - timedelta(seconds=1)
    db.session.commit()
    assert _is_disabled(gql, user.id) is True
    error = _login_error(client, email, password)
    assert (error["name"], error["reason"], error["code"]) == ("Forbidden", "UserOutsideValidPeriod", 403)


@pytest.mark.embedded
def test_the_period_is_checked_before_a_disabled_status(client, gql, svc):
    """Authgear's AccountStatus.Check: anonymized, then the valid period, then disabled/deletion."""
    password, email = random_password(), random_email().lower()
    user = make_user(svc, email, password)
    user.is_disabled = True
    user.account_valid_until = svc.clock() - timedelta(days=1)
    db.session.commit()
    assert _login_error(client, email, password)["reason"] == "UserOutsideValidPeriod"


@pytest.mark.embedded
def test_inside_the_period_the_user_signs_in(client, gql, svc):
    password = random_password()
    user = make_user(svc, password=password)
    uid = gid("User", user.id)
    now = svc.clock()
    mutation = (
        "mutation($id: ID!, $from: DateTime, $until: DateTime) { setAccountValidPeriod(input: "
        f"{{userID: $id, accountValidFrom: $from, accountValidUntil: $until}}) {{ {USER} }} }}"
    )
    data = ok(gql(mutation, id=uid, **{"from": _iso(now - timedelta(days=1)), "until": _iso(now + timedelta(days=1))}))
    assert data["setAccountValidPeriod"]["user"]["isDisabled"] is False


@pytest.mark.embedded
def test_a_backwards_period_is_an_invalid_transition(gql, svc):
    user = make_user(svc)
    uid = gid("User", user.id)
    setters = (
        f'mutation($id: ID!) {{ setAccountValidFrom(input: {{userID: $id, accountValidFrom: "2030-01-01T00:00:00Z"}}) '
        f"{{ {USER} }} }}"
    )
    ok(gql(setters, id=uid))
    until = (
        f"mutation($id: ID!, $t: DateTime) {{ setAccountValidUntil(input: {{userID: $id, accountValidUntil: $t}}) "
        f"{{ {USER} }} }}"
    )
    # Equal is refused too: the start must be strictly before the end.
    for when in ("2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z"):
        assert error_of(gql(until, id=uid, t=when)) == BACKWARDS
    db.session.remove()
    assert (
        ok(gql("query($id: ID!) { node(id: $id) { ... on User { accountValidUntil } } }", id=uid))["node"][
            "accountValidUntil"
        ]
        is None
    )
    create = gql(
        'mutation { createUser(input: {definition: {loginID: {key: "email", value: "period@example.com"}}, '
        'accountValidFrom: "2030-01-01T00:00:00Z", accountValidUntil: "2029-01-01T00:00:00Z"}) { user { id } } }'
    )
    assert error_of(create) == BACKWARDS
    assert (
        ok(gql('{ getUserByLoginID(loginIDKey: "email", loginIDValue: "period@example.com") { id } }'))[
            "getUserByLoginID"
        ]
        is None
    )


@pytest.mark.embedded
def test_an_anonymized_user_keeps_its_period(gql, svc):
    user = make_user(svc)
    user.is_anonymized = True
    db.session.commit()
    setter = (
        'mutation($id: ID!) { setAccountValidFrom(input: {userID: $id, accountValidFrom: "2030-01-01T00:00:00Z"}) '
        "{ user { id } } }"
    )
    assert error_of(gql(setter, id=gid("User", user.id))) == {
        "errorName": "Invalid",
        "reason": "InvalidAccountStatusTransition",
        "info": {"from": "anonymized", "to": "anonymized"},
    }


@pytest.mark.embedded
def test_an_import_record_with_a_backwards_period_fails_alone(make_app, tmp_path):
    """Jobs run in threads of this app (no Redis), so the test needs no worker."""
    from joserfc import jwt

    app = make_app(redis_url=None, config_dir=tmp_path)
    key = admin_key(app)
    now = int(time.time())
    claims = {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 300}
    headers = {"Authorization": "Bearer " + jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)}
    client = app.test_client()
    records = [
        {
            "email": "backwards@example.com",
            "account_valid_from": "2030-01-01T00:00:00Z",
            "account_valid_until": "2020-01-01T00:00:00Z",
        },
        {
            "email": "forwards@example.com",
            "account_valid_from": "2020-01-01T00:00:00Z",
            "account_valid_until": "2030-01-01T00:00:00Z",
        },
    ]
    resp = client.post(IMPORT, json={"identifier": "email", "records": records}, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    task = resp.get_json()["result"]["id"]
    deadline = time.monotonic() + 60
    while True:
        result = client.get(f"{IMPORT}/{task}", headers=headers).get_json()["result"]
        if result["status"] == "completed":
            break
        assert time.monotonic() < deadline, result
        time.sleep(0.05)
    first, second = result["details"]
    assert first["outcome"] == "failed"
    assert [(e["name"], e["reason"], e["info"]) for e in first["errors"]] == [
        (
            "Invalid",
            "InvalidAccountStatusTransition",
            {"cause": {"kind": "AccountValidFromShouldBeBeforeAccountValidUntil"}},
        )
    ]
    assert second["outcome"] == "inserted"

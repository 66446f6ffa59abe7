"""Mutations on whole accounts; each one writes `admin_api.mutation.<name>.executed`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.authenticators.models import Authenticator
from app.extensions import db
from app.identities.models import Identity, User, VerifiedClaim
from app.sessions.models import IdPSession
from tests.admin.conftest import assert_mutation_audited, audit_entries, error_of, gid, ok
from tests.factories import make_user, random_password

USER = "user { id isDisabled disableReason deleteAt deleteReason anonymizeAt accountValidFrom accountValidUntil }"


def call(gql, name, selection=f"{{ {USER} }}", /, **fields):
    """Runs mutation `name` with `fields` as its input."""
    input_type = name[0].upper() + name[1:] + "Input"
    return gql(f"mutation($input: {input_type}!) {{ {name}(input: $input) {selection} }}", input=fields)


def fresh_user(user_id: str) -> User:
    db.session.remove()
    return db.session.get(User, user_id)


@pytest.mark.embedded
def test_create_user_with_password(gql, svc):
    password = random_password()
    body = gql(
        """mutation($input: CreateUserInput!) { createUser(input: $input) {
             user { id endUserAccountID primaryPassword { expireAfter } } } }""",
        input={
            "definition": {"loginID": {"key": "email", "value": "New.User@Example.com"}},
            "password": password,
            "setPasswordExpired": True,
            "accountValidUntil": "2030-01-01T00:00:00Z",
        },
    )
    user = ok(body)["createUser"]["user"]
    assert user["endUserAccountID"] == "new.user@example.com"
    assert user["primaryPassword"]["expireAfter"] is not None
    raw_id = svc.users.find_identity("email", "new.user@example.com").user_id
    assert user["id"] == gid("User", raw_id)
    assert svc.passwords.verify(raw_id, password) is not None
    assert fresh_user(raw_id).account_valid_until == datetime(2030, 1, 1, tzinfo=UTC)
    row = assert_mutation_audited("create_user", raw_id)
    assert row.data["input"]["password"] == "REDACTED" and password not in str(row.data)
    assert audit_entries("user.created")


def test_create_user_without_password_and_errors(gql, svc):
    query = "mutation($input: CreateUserInput!) { createUser(input: $input) { user { primaryPassword { id } } } }"
    data = ok(gql(query, input={"definition": {"loginID": {"key": "username", "value": "plainuser"}}}))
    assert data["createUser"]["user"]["primaryPassword"] is None
    duplicate = gql(query, input={"definition": {"loginID": {"key": "username", "value": "PLAINUSER"}}})
    ext = error_of(duplicate)
    assert ext == {
        "errorName": "Invalid",
        "reason": "InvariantViolated",
        "info": {"cause": {"kind": "DuplicatedIdentity"}},
    }
    weak = gql(query, input={"definition": {"loginID": {"key": "email", "value": "w@example.com"}}, "password": "x"})
    assert error_of(weak)["reason"] == "PasswordPolicyViolated"
    assert error_of(gql(query, input={"definition": {}}))["reason"] == "ValidationFailed"
    assert (
        error_of(gql(query, input={"definition": {"loginID": {"key": "email", "value": "bad"}}}))["reason"]
        == "ValidationFailed"
    )
    generated = gql(query, input={"definition": {"loginID": {"key": "email", "value": "g@x.com"}}, "password": ""})
    assert error_of(generated)["reason"] == "ValidationFailed"  # a generated password must be sent
    db.session.remove()
    assert db.session.query(User).count() == 1  # the failed ones left nothing behind


@pytest.mark.embedded
def test_update_user_replaces_attributes(gql, svc, make_app):
    user = make_user(svc, email="upd@example.com")
    query = """mutation($input: UpdateUserInput!) { updateUser(input: $input) {
                 user { standardAttributes customAttributes formattedName } } }"""
    data = ok(
        gql(
            query,
            input={
                "userID": gid("User", user.id),
                "standardAttributes": {"email": "upd@example.com", "name": "Up Dated", "address": {"country": "HK"}},
            },
        )
    )["updateUser"]["user"]
    # Authgear's User.standardAttributes: with the derived `email_verified` and `updated_at`.
    attrs = dict(data["standardAttributes"])
    assert isinstance(attrs.pop("updated_at"), int)
    expected = {"email": "upd@example.com", "email_verified": False, "name": "Up Dated", "address": {"country": "HK"}}
    assert attrs == expected
    assert data["formattedName"] == "Up Dated"
    assert_mutation_audited("update_user", user.id)
    # What was read can be written back: the derived attributes are dropped, not refused.
    again = gql(query, input={"userID": gid("User", user.id), "standardAttributes": data["standardAttributes"]})
    assert "errors" not in again, again
    for bad in (
        {"standardAttributes": {"unknown": 1}},
        {"standardAttributes": {"name": 5}},
        {"standardAttributes": {"birthdate": "yesterday"}},
        {"customAttributes": {"undeclared": "x"}},
        {"standardAttributes": {"email": "not-an-email"}},
    ):
        assert error_of(gql(query, input={"userID": gid("User", user.id), **bad}))["reason"] == "ValidationFailed"


def test_update_user_custom_attributes_declared_in_config(make_app, sign_admin_jwt):
    app = make_app(
        {
            "user_profile": {
                "custom_attributes": {
                    "attributes": [
                        {"id": "a1", "pointer": "/plan", "type": "enum", "enum": ["free", "pro"]},
                        {"id": "a2", "pointer": "/seats", "type": "integer", "minimum": 1, "maximum": 10},
                    ]
                }
            }
        }
    )
    client = app.test_client()
    with app.app_context():
        user = make_user(app.extensions["gatehouse"])
    query = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { customAttributes } } }"
    headers = {"Authorization": f"Bearer {sign_admin_jwt()}"}

    def run(custom):
        resp = client.post(
            "/graphql",
            json={"query": query, "variables": {"input": {"userID": gid("User", user.id), "customAttributes": custom}}},
            headers=headers,
        )
        return resp.get_json()

    assert ok(run({"plan": "pro", "seats": 3}))["updateUser"]["user"]["customAttributes"] == {"plan": "pro", "seats": 3}
    for bad in ({"plan": "gold"}, {"seats": 0}, {"seats": 2.5}, {"seats": "3"}):
        assert error_of(run(bad))["reason"] == "ValidationFailed"


@pytest.mark.embedded
def test_delete_user(gql, svc):
    user = make_user(svc, password=random_password())
    query = 'mutation($id: ID!) { deleteUser(input: {userID: $id, reason: "gdpr"}) { deletedUserID } }'
    assert ok(gql(query, id=gid("User", user.id)))["deleteUser"] == {"deletedUserID": gid("User", user.id)}
    assert fresh_user(user.id) is None
    assert db.session.query(Identity).count() == 0 and db.session.query(Authenticator).count() == 0
    assert_mutation_audited("delete_user", user.id)
    assert audit_entries("user.deleted")[0].data == {"reason": "gdpr"}
    ext = error_of(gql(query, id=gid("User", user.id)))
    assert ext == {"errorName": "NotFound", "reason": "UserNotFound"}


def test_anonymize_user(gql, svc):
    from app.context import RequestContext

    user = make_user(svc, password=random_password())
    svc.sessions.create(user.id, ["pwd"], RequestContext())
    db.session.commit()
    query = "mutation($id: ID!) { anonymizeUser(input: {userID: $id}) { anonymizedUserID } }"
    assert ok(gql(query, id=gid("User", user.id)))["anonymizeUser"] == {"anonymizedUserID": gid("User", user.id)}
    row = fresh_user(user.id)
    assert row.is_anonymized and row.is_disabled and row.standard_attributes == {}
    assert db.session.query(Identity).count() == 0 and db.session.query(IdPSession).count() == 0
    assert_mutation_audited("anonymize_user", user.id)


@pytest.mark.embedded
def test_schedule_and_unschedule_deletion(gql, svc):
    user = make_user(svc)
    uid = gid("User", user.id)
    data = ok(call(gql, "scheduleAccountDeletion", userID=uid, reason="asked"))
    scheduled = data["scheduleAccountDeletion"]["user"]
    assert scheduled["isDisabled"] is True and scheduled["deleteReason"] == "asked"
    delete_at = datetime.fromisoformat(scheduled["deleteAt"])
    assert timedelta(days=29) < delete_at - datetime.now(UTC) <= timedelta(days=30)
    again = gql(f"mutation($id: ID!) {{ scheduleAccountDeletion(input: {{userID: $id}}) {{ {USER} }} }}", id=uid)
    assert error_of(again)["reason"] == "InvalidAccountStatusTransition"
    data = ok(gql(f"mutation($id: ID!) {{ unscheduleAccountDeletion(input: {{userID: $id}}) {{ {USER} }} }}", id=uid))
    assert data["unscheduleAccountDeletion"]["user"]["deleteAt"] is None
    assert data["unscheduleAccountDeletion"]["user"]["isDisabled"] is False
    assert_mutation_audited("schedule_account_deletion", user.id)
    assert_mutation_audited("unschedule_account_deletion", user.id)


def test_schedule_and_unschedule_anonymization(gql, svc):
    user = make_user(svc)
    uid = gid("User", user.id)
    data = ok(call(gql, "scheduleAccountAnonymization", userID=uid))
    assert data["scheduleAccountAnonymization"]["user"]["anonymizeAt"] is not None
    assert data["scheduleAccountAnonymization"]["user"]["isDisabled"] is True
    data = ok(call(gql, "unscheduleAccountAnonymization", userID=uid))
    assert data["unscheduleAccountAnonymization"]["user"]["anonymizeAt"] is None
    again = gql(f"mutation($id: ID!) {{ unscheduleAccountAnonymization(input: {{userID: $id}}) {{ {USER} }} }}", id=uid)
    assert error_of(again)["reason"] == "InvalidAccountStatusTransition"
    assert_mutation_audited("schedule_account_anonymization", user.id)
    assert_mutation_audited("unschedule_account_anonymization", user.id)


@pytest.mark.embedded
def test_set_disabled_status(gql, svc):
    user = make_user(svc)
    query = f"""mutation($id: ID!, $d: Boolean!, $r: String) {{
        setDisabledStatus(input: {{userID: $id, isDisabled: $d, reason: $r}}) {{ {USER} }} }}"""
    data = ok(gql(query, id=gid("User", user.id), d=True, r="spam"))["setDisabledStatus"]["user"]
    assert data["isDisabled"] is True and data["disableReason"] == "spam"
    data = ok(gql(query, id=gid("User", user.id), d=False, r=None))["setDisabledStatus"]["user"]
    assert data["isDisabled"] is False and data["disableReason"] is None
    assert len(audit_entries("admin_api.mutation.set_disabled_status.executed")) == 2
    assert audit_entries("user.disabled") and audit_entries("user.reenabled")
    temporary = gql(
        """mutation($id: ID!) { setDisabledStatus(input: {userID: $id, isDisabled: true,
           temporarilyDisabledFrom: "2030-01-01T00:00:00Z", temporarilyDisabledUntil: "2030-02-01T00:00:00Z"}) {
           user { id } } }""",
        id=gid("User", user.id),
    )
    assert error_of(temporary)["reason"] == "ValidationFailed"


def test_set_account_valid_from_until_and_period(gql, svc):
    user = make_user(svc)
    uid = gid("User", user.id)
    data = ok(call(gql, "setAccountValidFrom", userID=uid, accountValidFrom="2024-01-01T00:00:00Z"))
    assert data["setAccountValidFrom"]["user"]["accountValidFrom"] == "2024-01-01T00:00:00Z"
    data = ok(call(gql, "setAccountValidUntil", userID=uid, accountValidUntil="2031-01-01T08:00:00+08:00"))
    user_data = data["setAccountValidUntil"]["user"]
    assert user_data["accountValidFrom"] == "2024-01-01T00:00:00Z"
    assert user_data["accountValidUntil"] == "2031-01-01T00:00:00Z"
    data = ok(gql(f"mutation($id: ID!) {{ setAccountValidPeriod(input: {{userID: $id}}) {{ {USER} }} }}", id=uid))
    assert data["setAccountValidPeriod"]["user"]["accountValidFrom"] is None
    assert data["setAccountValidPeriod"]["user"]["accountValidUntil"] is None
    backwards = gql(
        f'mutation($id: ID!) {{ setAccountValidPeriod(input: {{userID: $id, accountValidFrom: "2030-01-01T00:00:00Z", '
        f'accountValidUntil: "2020-01-01T00:00:00Z"}}) {{ {USER} }} }}',
        id=uid,
    )
    assert error_of(backwards)["reason"] == "InvalidAccountStatusTransition"
    naive = call(gql, "setAccountValidFrom", userID=uid, accountValidFrom="2030-01-01T00:00:00")
    assert error_of(naive)["errorName"] == "BadRequest"
    for name in ("set_account_valid_from", "set_account_valid_until", "set_account_valid_period"):
        assert_mutation_audited(name, user.id)


@pytest.mark.embedded
def test_set_verified_status(gql, svc):
    user = make_user(svc, email="verify@example.com")
    query = """mutation($id: ID!, $v: Boolean!, $n: String!) { setVerifiedStatus(input: {userID: $id,
               claimName: $n, claimValue: "verify@example.com", isVerified: $v}) {
               user { verifiedClaims { name value } } } }"""
    data = ok(gql(query, id=gid("User", user.id), v=True, n="email"))
    assert data["setVerifiedStatus"]["user"]["verifiedClaims"] == [{"name": "email", "value": "verify@example.com"}]
    ok(gql(query, id=gid("User", user.id), v=True, n="email"))  # idempotent
    data = ok(gql(query, id=gid("User", user.id), v=False, n="email"))
    assert data["setVerifiedStatus"]["user"]["verifiedClaims"] == []
    assert db.session.query(VerifiedClaim).count() == 0
    assert error_of(gql(query, id=gid("User", user.id), v=True, n="name"))["reason"] == "ValidationFailed"
    assert len(audit_entries("admin_api.mutation.set_verified_status.executed")) == 3
    assert audit_entries("identity.email.verified")


@pytest.mark.embedded
def test_reset_password(gql, svc):
    old = random_password()
    user = make_user(svc, password=old)
    new = random_password()
    query = """mutation($input: ResetPasswordInput!) { resetPassword(input: $input) {
                 user { primaryPassword { expireAfter } } } }"""
    data = ok(gql(query, input={"userID": gid("User", user.id), "password": new, "setPasswordExpired": True}))
    assert data["resetPassword"]["user"]["primaryPassword"]["expireAfter"] is not None
    db.session.remove()
    assert svc.passwords.verify(user.id, new) is not None and svc.passwords.verify(user.id, old) is None
    assert (
        error_of(gql(query, input={"userID": gid("User", user.id), "password": "short"}))["reason"]
        == "PasswordPolicyViolated"
    )
    assert error_of(gql(query, input={"userID": gid("User", user.id)}))["reason"] == "ValidationFailed"
    row = assert_mutation_audited("reset_password", user.id)
    assert new not in str(row.data)


def test_reset_password_creates_one_when_missing(gql, svc):
    user = make_user(svc)
    password = random_password()
    query = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { user { primaryPassword { id } } } }"
    assert ok(gql(query, input={"userID": gid("User", user.id), "password": password}))["resetPassword"]["user"][
        "primaryPassword"
    ]
    db.session.remove()
    assert svc.passwords.verify(user.id, password) is not None


def test_set_password_expired(gql, svc):
    user = make_user(svc, password=random_password())
    query = """mutation($id: ID!, $e: Boolean!) { setPasswordExpired(input: {userID: $id, expired: $e}) {
                 user { primaryPassword { expireAfter } } } }"""
    data = ok(gql(query, id=gid("User", user.id), e=True))
    assert data["setPasswordExpired"]["user"]["primaryPassword"]["expireAfter"] is not None
    data = ok(gql(query, id=gid("User", user.id), e=False))
    assert data["setPasswordExpired"]["user"]["primaryPassword"]["expireAfter"] is None
    nopw = make_user(svc)
    assert error_of(gql(query, id=gid("User", nopw.id), e=True))["reason"] == "AuthenticatorNotFound"
    assert len(audit_entries("admin_api.mutation.set_password_expired.executed")) == 2


@pytest.mark.embedded
def test_account_lockout_and_its_reset(make_app, sign_admin_jwt):
    app = make_app({"authentication": {"lockout": {"max_attempts": 2, "minimum_duration": "10m"}}})
    client = app.test_client()
    services = app.extensions["gatehouse"]
    with app.app_context():
        user_id = make_user(services).id
        services.lockout.record_failure(user_id, "192.0.2.1")
        services.lockout.record_failure(user_id, "192.0.2.2")
    headers = {"Authorization": f"Bearer {sign_admin_jwt()}"}
    lockout = "accountLockout { isLocked lockoutType lockedUntil lockedIPs { ipAddress } }"

    def post(query):
        resp = client.post(
            "/graphql", json={"query": query, "variables": {"id": gid("User", user_id)}}, headers=headers
        )
        return ok(resp.get_json())

    locked = post(f"query($id: ID!) {{ node(id: $id) {{ ... on User {{ {lockout} }} }} }}")["node"]["accountLockout"]
    assert locked["isLocked"] is True and locked["lockoutType"] == "per_user" and locked["lockedUntil"]
    data = post(f"mutation($id: ID!) {{ resetAccountLockout(input: {{userID: $id}}) {{ user {{ {lockout} }} }} }}")
    assert data["resetAccountLockout"]["user"]["accountLockout"] == {
        "isLocked": False,
        "lockoutType": "per_user",
        "lockedUntil": None,
        "lockedIPs": [],
    }
    with app.app_context():
        services.lockout.check(user_id, "192.0.2.1")  # no longer raises AccountLockout
        assert_mutation_audited("reset_account_lockout", user_id)


MISSING_USER = gid("User", "00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        ("", {"errorName": "Invalid", "reason": "Invalid"}),
        ("nope", {"errorName": "Invalid", "reason": "Invalid"}),
        (gid("Role", "00000000-0000-4000-8000-000000000000"), {"errorName": "Invalid", "reason": "Invalid"}),
        (MISSING_USER, {"errorName": "NotFound", "reason": "UserNotFound"}),
    ],
)
def test_account_mutations_refuse_bad_user_ids(gql, svc, user_id, expected):
    query = "mutation($id: ID!) { scheduleAccountDeletion(input: {userID: $id}) { user { id } } }"
    assert error_of(gql(query, id=user_id)) == expected
    assert audit_entries("admin_api.mutation.schedule_account_deletion.executed") == []

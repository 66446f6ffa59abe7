"""Users and login ID identities: creation, standard attributes, uniqueness, audit rows."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from app.audit import AuditLog
from app.context import RequestContext
from app.errors import InvariantViolated, NotFound, ValidationFailed
from app.extensions import db
from app.identities.models import Identity, User
from tests.conftest import BACKEND
from tests.factories import make_user, random_email

pytestmark = pytest.mark.embedded


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def duplicate(fn, *args, **kwargs) -> InvariantViolated:
    with pytest.raises(InvariantViolated) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.to_dict() == {
        "name": "Invalid",
        "reason": "InvariantViolated",
        "message": err.message,
        "code": 400,
        "info": {"cause": {"kind": "DuplicatedIdentity"}},
    }
    return err


def test_create_user_with_email_phone_and_username(svc):
    ctx = RequestContext(ip="203.0.113.9", user_agent="pytest-agent", client_id="spa-client")
    user = svc.users.create_user(
        [("email", "Jane.Doe@Example.com"), ("phone", "+852 9876 5432"), ("username", "JaneD")], ctx
    )
    db.session.commit()
    db.session.expire_all()

    stored = db.session.get(User, user.id)
    assert len(stored.id) == 36 and stored.id.count("-") == 4
    assert stored.standard_attributes == {
        "email": "jane.doe@example.com",
        "phone_number": "+85298765432",
        "preferred_username": "janed",
    }
    identities = {i.login_id_key: i for i in svc.users.identities_of(user.id)}
    assert set(identities) == {"email", "phone", "username"}
    assert all(i.type == "login_id" for i in identities.values())
    assert identities["email"].login_id == "jane.doe@example.com"
    assert identities["email"].claims == {"email": "jane.doe@example.com"}
    assert identities["phone"].login_id == "+85298765432"
    assert identities["phone"].claims == {"phone_number": "+85298765432"}
    assert identities["username"].claims == {"preferred_username": "janed"}
    assert stored.created_at.tzinfo is not None


def test_explicit_standard_attributes_are_kept(svc):
    user = svc.users.create_user(
        [("email", "a@example.com")], standard_attributes={"email": "b@example.com", "name": "A"}
    )
    assert user.standard_attributes == {"email": "b@example.com", "name": "A"}


def test_find_identity_uses_the_normalized_value(svc):
    user = make_user(svc, email="Finder@Example.com")
    found = svc.users.find_identity("email", "  FINDER@example.COM")
    assert found is not None and found.user_id == user.id
    assert svc.users.find_identity("email", "other@example.com") is None


def test_duplicate_login_id_is_duplicated_identity(svc):
    email = random_email()
    make_user(svc, email=email)
    duplicate(svc.users.create_user, [("email", email)])
    db.session.rollback()
    assert count(User) == 1
    assert count(Identity) == 1


def test_same_email_differing_only_in_case_is_a_duplicate(svc):
    make_user(svc, email="Case.Test@example.com")
    duplicate(svc.users.create_user, [("email", "CASE.TEST@EXAMPLE.COM")])
    duplicate(svc.users.create_user, [("email", "case.test@Example.Com")])


def test_a_failed_duplicate_leaves_the_transaction_usable(svc):
    email = random_email()
    make_user(svc, email=email)
    duplicate(svc.users.create_user, [("email", email)])
    other = svc.users.create_user([("email", random_email())])
    db.session.commit()
    assert count(User) == 2
    assert db.session.get(User, other.id) is not None


def test_a_duplicate_in_any_login_id_rolls_back_the_whole_user(svc):
    make_user(svc, username="taken")
    duplicate(svc.users.create_user, [("email", random_email()), ("username", "TAKEN")])
    db.session.commit()
    assert count(User) == 1
    assert count(Identity) == 2


def test_duplicate_with_ignore_dot_sign(make_app):
    app = make_app({"identity": {"login_id": {"types": {"email": {"ignore_dot_sign": True}}}}})
    with app.app_context():
        svc = app.extensions["gatehouse"]
        make_user(svc, email="john.smith@example.com")
        duplicate(svc.users.create_user, [("email", "johnsmith@example.com")])


def test_rollback_after_create_user_undoes_the_user(svc):
    """create_user inserts inside a savepoint; the caller's rollback must still undo it (on SQLite
    too, where the driver's own transaction handling used to let the savepoint commit)."""
    svc.users.create_user([("email", random_email())])
    db.session.rollback()
    assert count(User) == 0
    assert count(Identity) == 0
    assert count(AuditLog) == 0


def test_same_value_under_different_keys_is_not_a_duplicate(svc):
    make_user(svc, username="janed")
    user = svc.users.create_user([("email", "janed@example.com")])
    assert user.id


def test_add_login_id_and_its_duplicate(svc):
    a = make_user(svc)
    b = make_user(svc)
    identity = svc.users.add_login_id(a, "username", "Alpha")
    db.session.commit()
    assert identity.login_id == "alpha"
    assert identity.original_login_id == "Alpha"
    duplicate(svc.users.add_login_id, b, "username", "ALPHA")


def test_remove_identity_frees_the_login_id(svc):
    email = random_email()
    user = make_user(svc, email=email)
    svc.users.remove_identity(svc.users.find_identity("email", email))
    db.session.commit()
    assert svc.users.find_identity("email", email) is None
    assert svc.users.create_user([("email", email)]).id != user.id


@pytest.mark.parametrize(
    ("pairs", "location"),
    [
        ([("email", "not-an-email")], "/login_id"),
        ([("phone", "98765432")], "/login_id"),
        ([("username", "admin")], "/login_id"),
        ([("email", 12345)], "/login_id"),
        ([("fax", "123")], "/identification"),
    ],
)
def test_invalid_login_ids_are_validation_failed_and_write_nothing(svc, pairs, location):
    with pytest.raises(ValidationFailed) as info:
        svc.users.create_user(pairs)
    assert info.value.info["causes"][0]["location"] == location
    db.session.commit()
    assert count(User) == 0
    assert count(AuditLog) == 0


def test_unknown_user_is_user_not_found(svc):
    with pytest.raises(NotFound) as info:
        svc.users.get("00000000-0000-4000-8000-000000000000")
    assert info.value.reason == "UserNotFound" and info.value.status == 404


def test_audit_rows_are_written_with_the_change(svc):
    ctx = RequestContext(ip="198.51.100.7", user_agent="ua/1.0", client_id="spa-client")
    user = svc.users.create_user([("email", random_email()), ("username", "audited")], ctx)
    svc.users.add_login_id(user, "phone", "+852 9876 5432", ctx)
    db.session.commit()
    rows = list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))
    assert [r.activity_type for r in rows] == ["user.created", "identity.login_id.added"]
    created = rows[0]
    assert created.user_id == user.id
    assert created.ip_address == "198.51.100.7"
    assert created.user_agent == "ua/1.0"
    assert created.client_id == "spa-client"
    assert created.data == {"login_ids": ["email", "username"]}
    assert rows[1].data == {"login_id_key": "phone"}


def test_an_aborted_creation_leaves_no_audit_row(svc):
    email = random_email()
    make_user(svc, email=email)
    duplicate(svc.users.create_user, [("email", email)])
    db.session.commit()
    assert db.session.scalar(select(func.count()).where(AuditLog.activity_type == "user.created")) == 1


def test_verified_claims_are_recorded_once(svc):
    user = make_user(svc)
    assert not svc.users.is_verified(user.id, "email", "x@example.com")
    svc.users.mark_verified(user.id, "email", "x@example.com")
    svc.users.mark_verified(user.id, "email", "x@example.com")
    db.session.commit()
    assert svc.users.is_verified(user.id, "email", "x@example.com")
    assert not svc.users.is_verified(user.id, "email", "y@example.com")


@pytest.mark.skipif(BACKEND == "embedded", reason="row locking on a unique index needs PostgreSQL")
def test_concurrent_signups_with_one_email_make_one_user(app):
    email = random_email()
    first_flushed = threading.Event()
    outcomes: dict[str, str] = {}

    def signup(name: str) -> None:
        with app.app_context():
            svc = app.extensions["gatehouse"]
            try:
                if name == "second":
                    first_flushed.wait(10)
                svc.users.create_user([("email", email.upper() if name == "second" else email)])
                if name == "first":
                    # Hold the uncommitted row while the second signup inserts the same key, so the
                    # second one really waits on the unique index instead of running after us.
                    first_flushed.set()
                    time.sleep(0.3)
                db.session.commit()
                outcomes[name] = "created"
            except InvariantViolated as exc:
                db.session.rollback()
                outcomes[name] = exc.kind
            finally:
                first_flushed.set()
                db.session.remove()

    threads = [threading.Thread(target=signup, args=(n,)) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes == {"first": "created", "second": "DuplicatedIdentity"}
    with app.app_context():
        assert count(User) == 1
        assert count(Identity) == 1
        db.session.remove()


@pytest.mark.skipif(BACKEND == "embedded", reason="concurrent writers need PostgreSQL")
def test_many_concurrent_signups_with_one_email(app):
    email = random_email()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def signup() -> None:
        with app.app_context():
            svc = app.extensions["gatehouse"]
            try:
                barrier.wait(10)
                svc.users.create_user([("email", email)])
                db.session.commit()
                result = "created"
            except InvariantViolated as exc:
                db.session.rollback()
                result = exc.kind
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=signup) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["DuplicatedIdentity"] * 3 + ["created"]
    with app.app_context():
        assert count(User) == 1
        db.session.remove()

"""An imported password hash that is expensive to check is no lever on the CPU: checks of one
user's password against it are limited across IPs
(`authentication.rate_limits.password.x_expensive_hash_per_user`), at most
`MAX_CONCURRENT_EXPENSIVE` run at once in a process (a check that finds no free slot is refused
with a 429 after a bounded wait, and counts as no failed attempt), and the first successful login
replaces the hash with argon2id at the current parameters. Cheap hashes are not affected."""

from __future__ import annotations

import bcrypt
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select

from app.audit import AuditLog
from app.authenticators import password as pw
from app.authenticators.models import Authenticator
from app.extensions import db
from tests.factories import random_email, random_password

FLOWS = "/api/v1/authentication_flows"
CURRENT = "$argon2id$v=19$m=19456,t=2,p=1$"
# bcrypt cost 11 (~0.15 s) is above the ~100 ms threshold; cost 10 and our argon2id are below it.
EXPENSIVE_COST = 11
TIGHT = {"authentication": {"rate_limits": {"password": {"x_expensive_hash_per_user": {"period": "1m", "burst": 2}}}}}


def _imported_user(app, password: str, password_hash: str | None = None) -> tuple[str, str]:
    """A committed user whose password is stored as `password_hash` (an import), or argon2id."""
    email = random_email().lower()
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = svc.users.create_user([("email", email)])
        if password_hash is None:
            svc.passwords.create(user.id, password, check_policy=False)
        else:
            svc.passwords.create_from_hash(user.id, password_hash)
        db.session.commit()
        return user.id, email


def _bcrypt(password: str, cost: int = EXPENSIVE_COST) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def _login(client, email: str, password: str, ip: str):
    return client.post(
        FLOWS,
        environ_base={"REMOTE_ADDR": ip},
        json={
            "type": "login",
            "name": "default",
            "batch_input": [
                {"identification": "email", "login_id": email},
                {"authentication": "primary_password", "password": password},
            ],
        },
    )


def _stored_hash(app, user_id: str) -> str:
    with app.app_context():
        return db.session.scalar(select(Authenticator.password_hash).where(Authenticator.user_id == user_id))


def _error(resp) -> tuple[int, str, str | None]:
    error = resp.get_json()["error"]
    return resp.status_code, error["reason"], (error.get("info") or {}).get("bucket_name")


@pytest.mark.embedded
def test_expensive_checks_of_one_user_are_limited_across_ips(flow_app):
    app = flow_app(TIGHT)
    password = random_password()
    user_id, email = _imported_user(app, password, _bcrypt(password))
    client = app.test_client()
    # Two wrong passwords from two addresses use the user's budget (burst 2)...
    for i in range(2):
        assert _error(_login(client, email, "Wrong-" + password, f"10.61.{i}.1"))[:2] == (401, "InvalidCredentials")
    # ...so a third check, from yet another address, is refused before any hashing, even with the
    # right password; the hash stays as imported.
    for ip, guess in (("10.61.9.1", "Wrong-" + password), ("10.61.10.1", password)):
        assert _error(_login(client, email, guess, ip)) == (429, "RateLimited", pw.EXPENSIVE_PER_USER_BUCKET)
    assert _stored_hash(app, user_id).startswith("$2b$11$")


@pytest.mark.embedded
def test_cheap_hashes_have_no_per_user_limit(flow_app):
    app = flow_app(TIGHT)
    password = random_password()
    for stored in (None, _bcrypt(password, 10)):
        _, email = _imported_user(app, password, stored)
        client = app.test_client()
        for i in range(4):
            assert _error(_login(client, email, "Wrong-" + password, f"10.62.{i}.1"))[:2] == (401, "InvalidCredentials")
        assert _login(client, email, password, "10.62.9.1").get_json()["result"]["action"]["type"] == "finished"


@pytest.mark.embedded
def test_expensive_checks_beyond_the_process_cap_are_refused_after_a_bounded_wait(flow_app, monkeypatch):
    app = flow_app({"authentication": {"lockout": {"max_attempts": 1}}})
    password = random_password()
    user_id, email = _imported_user(app, password, _bcrypt(password))
    _, cheap_email = _imported_user(app, password)
    client = app.test_client()
    monkeypatch.setattr(pw, "EXPENSIVE_WAIT_SECONDS", 0.2)
    # Every slot is busy (as with that many expensive checks running in other requests).
    taken = 0
    while pw._EXPENSIVE_SLOTS.acquire(blocking=False):
        taken += 1
    try:
        assert taken == pw.MAX_CONCURRENT_EXPENSIVE
        resp = _login(client, email, password, "10.63.0.1")
        assert _error(resp) == (429, "RateLimited", pw.EXPENSIVE_CONCURRENCY_BUCKET)
        # Ordinary logins do not wait for those slots.
        assert _login(client, cheap_email, password, "10.63.0.2").get_json()["result"]["action"]["type"] == "finished"
    finally:
        for _ in range(taken):
            pw._EXPENSIVE_SLOTS.release()
    # The refusal was no failed attempt: with max_attempts 1 a counted failure would lock the user.
    with app.app_context():
        failures = [
            r.activity_type
            for r in db.session.scalars(select(AuditLog).where(AuditLog.user_id == user_id))
            if r.activity_type.endswith(".failed")
        ]
    assert failures == []
    resp = _login(client, email, password, "10.63.0.1")
    assert resp.get_json()["result"]["action"]["type"] == "finished", resp.get_json()
    assert _stored_hash(app, user_id).startswith(CURRENT)


@pytest.mark.embedded
@pytest.mark.parametrize(
    "make_hash",
    [
        lambda pw_: bcrypt.hashpw(pw_.encode(), bcrypt.gensalt(4)).decode(),
        lambda pw_: PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, type=Type.ID).hash(pw_),
        lambda pw_: PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID).hash(pw_),
    ],
    ids=["bcrypt", "argon2id-stronger", "argon2id-weaker"],
)
def test_a_successful_login_rehashes_to_the_current_argon2id_parameters(flow_app, make_hash):
    app = flow_app()
    password = random_password()
    user_id, email = _imported_user(app, password, make_hash(password))
    client = app.test_client()
    assert _login(client, email, "Wrong-" + password, "10.64.0.1").status_code == 401
    assert not _stored_hash(app, user_id).startswith(CURRENT)
    assert _login(client, email, password, "10.64.0.1").get_json()["result"]["action"]["type"] == "finished"
    upgraded = _stored_hash(app, user_id)
    assert upgraded.startswith(CURRENT)
    assert _login(client, email, password, "10.64.0.2").get_json()["result"]["action"]["type"] == "finished"
    assert _stored_hash(app, user_id) == upgraded

"""TOTP: secrets and otpauth URIs, code checks in a ±1 step window, replay protection."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from app.audit import AuditLog
from app.authenticators.models import Authenticator
from app.authenticators.totp import TOTPService, new_secret, otpauth_uri
from app.errors import Invalid
from app.extensions import db
from tests.factories import make_user
from tests.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def totp(svc, clock) -> TOTPService:
    return TOTPService(svc.store, svc.audit, clock)


def code_at(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock().timestamp() + 30 * steps)


@pytest.mark.embedded
def test_new_secret_is_32_base32_chars_and_random():
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for s in secrets:
        assert len(s) == 32 and set(s) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


@pytest.mark.embedded
def test_otpauth_uri_format_and_authenticator_apps_read_it():
    uri = otpauth_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "john@example.com", "Gatehouse")
    assert uri == (
        "otpauth://totp/Gatehouse:john%40example.com"
        "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
    )
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    odd = otpauth_uri(secret, "a:b c&d=e", "My App: Login?")
    parts = urlsplit(odd)
    assert parts.path.count(":") == 1 and "?" not in parts.path and "&" not in parts.path
    assert parse_qs(parts.query)["issuer"] == ["My App: Login?"]
    parsed = pyotp.parse_uri(odd)
    assert (parsed.secret, parsed.issuer, parsed.name) == (secret, "My App: Login?", "a:b c&d=e")


@pytest.mark.embedded
def test_verify_code_accepts_one_step_of_drift_each_way(totp, clock):
    secret = new_secret()
    assert totp.verify_code(secret, code_at(secret, clock))
    assert totp.verify_code(secret, code_at(secret, clock, -1))
    assert totp.verify_code(secret, code_at(secret, clock, +1))
    far = {code_at(secret, clock, s) for s in (-3, -2, 2, 3)} - {code_at(secret, clock, s) for s in (-1, 0, 1)}
    assert far and not any(totp.verify_code(secret, c) for c in far)
    assert totp.verify_code(secret, " " + code_at(secret, clock)[:3] + " " + code_at(secret, clock)[3:])


@pytest.mark.embedded
@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "１２３４５６", "x" * 10000, None, 123456])
def test_verify_code_refuses_malformed_codes(totp, code):
    assert totp.verify_code(new_secret(), code) is False  # type: ignore[arg-type]


@pytest.mark.embedded
@pytest.mark.parametrize("secret", ["", "not base32!", "JBSWY3DPEHPK3PXP", "1" * 32, "A" * 1000, None])
def test_verify_code_refuses_broken_or_short_secrets(totp, secret):
    assert totp.verify_code(secret, "123456") is False  # type: ignore[arg-type]


@pytest.mark.embedded
def test_create_stores_a_secondary_totp_authenticator(svc, totp, clock):
    user = make_user(svc)
    secret = new_secret()
    auth = totp.create(user.id, secret, "My phone")
    db.session.commit()
    row = db.session.get(Authenticator, auth.id)
    assert (row.user_id, row.type, row.kind, row.totp_secret, row.totp_display_name) == (
        user.id,
        "totp",
        "secondary",
        secret,
        "My phone",
    )
    assert row.created_at == clock()
    assert [a.id for a in totp.list_for_user(user.id)] == [auth.id]
    log = db.session.scalars(select(AuditLog).where(AuditLog.activity_type == "authenticator.totp.created")).one()
    assert log.user_id == user.id and secret not in str(log.data)
    with pytest.raises(Invalid) as exc:
        totp.create(user.id, "not a secret", "x")
    assert (exc.value.status, exc.value.reason) == (400, "InvalidTOTPSecret")


def test_verify_user_right_wrong_and_replayed_codes(svc, totp, clock):
    user = make_user(svc)
    secret = new_secret()
    auth = totp.create(user.id, secret, "phone")
    db.session.commit()
    code = code_at(secret, clock)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    assert totp.verify_user(user.id, wrong) is None
    assert totp.verify_user(user.id, code).id == auth.id
    assert totp.verify_user(user.id, code) is None  # replay in the same step
    clock.advance(30)
    assert totp.verify_user(user.id, code) is None  # still inside the window, but used
    assert totp.verify_user(user.id, code_at(secret, clock)).id == auth.id
    assert totp.verify_user(make_user(svc).id, code_at(secret, clock)) is None


def test_an_earlier_step_is_refused_after_a_later_one_was_used(svc, totp, clock):
    user = make_user(svc)
    secret = new_secret()
    totp.create(user.id, secret, "phone")
    db.session.commit()
    assert totp.verify_user(user.id, code_at(secret, clock, +1)) is not None
    current = code_at(secret, clock)
    if current != code_at(secret, clock, +1):
        assert totp.verify_user(user.id, current) is None


def test_any_of_the_users_totp_authenticators_can_answer(svc, totp, clock):
    user = make_user(svc)
    first, second = new_secret(), new_secret()
    totp.create(user.id, first, "old phone")
    b = totp.create(user.id, second, "new phone")
    db.session.commit()
    assert totp.verify_user(user.id, code_at(second, clock)).id == b.id


def test_parallel_use_of_one_code_succeeds_once(app, svc, totp, clock):
    user = make_user(svc)
    secret = new_secret()
    totp.create(user.id, secret, "phone")
    db.session.commit()
    code = code_at(secret, clock)
    results: list[bool] = []
    barrier = threading.Barrier(10)

    def use() -> None:
        with app.app_context():
            barrier.wait()
            results.append(totp.verify_user(user.id, code) is not None)
            db.session.remove()

    threads = [threading.Thread(target=use) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1

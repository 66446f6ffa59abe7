"""Recovery codes: generation, hashed storage, single use, replacement."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import select

from app.authenticators.models import RecoveryCode
from app.authenticators.recovery_codes import ALPHABET, format_for_human, generate, normalize
from app.extensions import db
from tests.factories import make_user


@pytest.mark.embedded
def test_generate_gives_16_unique_10_char_codes_of_an_unambiguous_alphabet():
    codes = generate()
    assert len(codes) == len(set(codes)) == 16
    for code in codes:
        assert len(code) == 10 and set(code) <= set(ALPHABET)
    assert set(ALPHABET).isdisjoint("ILOU")
    assert len(generate(3)) == 3 and generate() != codes


@pytest.mark.embedded
@pytest.mark.parametrize(
    "typed,expected",
    [
        ("ABCDE12345", "ABCDE12345"),
        ("abcde-12345", "ABCDE12345"),
        (" abcde 12345 ", "ABCDE12345"),
        ("ABCDEI2345", "ABCDE12345"),  # I reads as 1
        ("ABCDElO345", "ABCDE10345"),  # l as 1, O as 0
        ("ABCDE1234", None),
        ("ABCDE123456", None),
        ("ABCDEU2345", None),
        ("ABCDE!2345", None),
        ("", None),
        ("x" * 100_000, None),
        (None, None),
    ],
)
def test_normalize(typed, expected):
    assert normalize(typed) == expected  # type: ignore[arg-type]


@pytest.mark.embedded
def test_format_for_human():
    assert format_for_human("ABCDE12345") == "ABCDE-12345"


@pytest.mark.embedded
def test_codes_are_stored_hashed_and_each_works_once(svc):
    user = make_user(svc)
    codes = generate()
    svc.recovery_codes.replace(user.id, codes)
    db.session.commit()
    rows = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert sorted(r.code_hash for r in rows) == sorted(hashlib.sha256(c.encode()).hexdigest() for c in codes)
    assert svc.recovery_codes.remaining(user.id) == 16

    assert svc.recovery_codes.consume(user.id, format_for_human(codes[0]).lower()) is True
    db.session.commit()
    assert svc.recovery_codes.consume(user.id, codes[0]) is False
    assert svc.recovery_codes.remaining(user.id) == 15
    assert svc.recovery_codes.consume(user.id, codes[1]) is True
    assert svc.recovery_codes.remaining(user.id) == 14


@pytest.mark.embedded
@pytest.mark.parametrize("bad", ["", "0000000000", "not a code", "x" * 10_000, None, 1234567890])
def test_wrong_or_garbage_codes_are_refused(svc, bad):
    user = make_user(svc)
    svc.recovery_codes.replace(user.id, generate())
    assert svc.recovery_codes.consume(user.id, bad) is False  # type: ignore[arg-type]
    assert svc.recovery_codes.remaining(user.id) == 16


@pytest.mark.embedded
def test_another_users_code_does_not_work(svc):
    alice, bob = make_user(svc), make_user(svc)
    codes = generate()
    svc.recovery_codes.replace(alice.id, codes)
    assert svc.recovery_codes.consume(bob.id, codes[0]) is False
    assert svc.recovery_codes.remaining(bob.id) == 0


@pytest.mark.embedded
def test_replace_invalidates_the_old_codes(svc):
    user = make_user(svc)
    old = generate()
    svc.recovery_codes.replace(user.id, old)
    svc.recovery_codes.consume(user.id, old[0])
    new = generate(5)
    svc.recovery_codes.replace(user.id, new)
    db.session.commit()
    assert svc.recovery_codes.remaining(user.id) == 5
    assert not any(svc.recovery_codes.consume(user.id, c) for c in old if c not in new)
    assert svc.recovery_codes.consume(user.id, new[0]) is True
    with pytest.raises(ValueError):
        svc.recovery_codes.replace(user.id, ["bad"])


def test_parallel_use_of_one_code_succeeds_once(app, svc):
    user = make_user(svc)
    codes = generate()
    svc.recovery_codes.replace(user.id, codes)
    db.session.commit()
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def use() -> None:
        with app.app_context():
            barrier.wait()
            ok = svc.recovery_codes.consume(user.id, codes[0])
            db.session.commit()
            with lock:
                results.append(ok)
            db.session.remove()

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    db.session.expire_all()
    assert svc.recovery_codes.remaining(user.id) == 15

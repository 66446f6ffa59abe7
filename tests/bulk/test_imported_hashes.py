"""Imported password hash formats: published vectors verify, hostile hashes are refused at import
and never verify, and `verify_password` hands everything but argon2id and bcrypt to them."""

from __future__ import annotations

import pytest

from app.authenticators import imported_hashes
from app.authenticators.password import hash_password, needs_rehash, verify_password
from app.errors import Invalid
from tests.bulk.vectors import HASHES

pytestmark = pytest.mark.embedded


@pytest.mark.parametrize(("type_", "hashed", "password"), HASHES, ids=[f"{h[0]}-{i}" for i, h in enumerate(HASHES)])
def test_vectors_verify(type_, hashed, password):
    assert imported_hashes.validate(type_, hashed) == hashed
    assert imported_hashes.type_of(hashed) == type_
    assert verify_password(hashed, password)
    assert not verify_password(hashed, password + " ")
    assert not verify_password(hashed, password.upper() if password != password.upper() else password.lower())
    assert not verify_password(hashed, "")
    assert needs_rehash(hashed)


def test_current_hashes_are_not_imported_ones():
    current = hash_password("Current-pass-1")
    assert verify_password(current, "Current-pass-1") and not needs_rehash(current)
    assert imported_hashes.validate("argon2", current) == current  # an argon2id PHC string imports as it is


@pytest.mark.parametrize(
    ("type_", "hashed", "reason"),
    [
        ("bcrypt", "", "InvalidBcryptHash"),
        ("bcrypt", "$2b$10$short", "InvalidBcryptHash"),
        ("bcrypt", "$2b$03$" + "a" * 53, "InvalidBcryptHash"),  # cost below 4
        ("bcrypt", "$2b$17$" + "a" * 53, "InvalidBcryptHash"),  # cost above 16
        ("bcrypt", "$2y$31$" + "a" * 53, "InvalidBcryptHash"),
        ("bcrypt", "$2x$10$" + "a" * 53, "InvalidBcryptHash"),
        ("bcrypt", "$2b$10$" + "a" * 52 + "!", "InvalidBcryptHash"),
        ("argon2", "$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "InvalidPasswordHash"),
        ("argon2", "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "InvalidPasswordHash"),  # 4 GiB
        ("argon2", "$argon2id$v=19$m=64,t=100,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "InvalidPasswordHash"),
        ("argon2", "$argon2id$v=19$m=1048577,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "InvalidPasswordHash"),  # 1 GiB + 1 KiB
        ("argon2", "$argon2id$v=19$m=1048576,t=5,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "InvalidPasswordHash"),  # m*t
        ("argon2", "$argon2i$v=19$m=65536,t=3,p=17$c2FsdHNhbHQ$aGFzaGhhc2g", "InvalidPasswordHash"),
        ("argon2", "$argon2id$v=19$m=16,t=1,p=4$c2FsdHNhbHQ$aGFzaGhhc2g", "InvalidPasswordHash"),  # m < 8p
        ("scrypt", "$scrypt$ln=24,r=8,p=1$c2FsdA$aGFzaA", "InvalidPasswordHash"),  # 16 GiB
        ("scrypt", "scrypt$1000$salt$8$1$aGFzaA==", "InvalidPasswordHash"),  # N not a power of two
        ("scrypt", "$scrypt$ln=10,r=8$c2FsdA$aGFzaA", "InvalidPasswordHash"),
        ("scrypt", "$scrypt$ln=10,r=8,p=1$c2FsdA$not base64!", "InvalidPasswordHash"),
        ("pbkdf2_sha256", "pbkdf2_sha256$99999999$salt$aGFzaA==", "InvalidPasswordHash"),
        ("pbkdf2_sha256", "pbkdf2_sha256$-1$salt$aGFzaA==", "InvalidPasswordHash"),
        ("pbkdf2_sha256", "pbkdf2_sha256$1000$salt", "InvalidPasswordHash"),
        ("pbkdf2_sha256", "pbkdf2_sha512$1000$salt$aGFzaA==", "InvalidPasswordHash"),  # the other digest
        ("pbkdf2_sha512", "$pbkdf2-sha512$1000$c2FsdA$", "InvalidPasswordHash"),
        (
            "firebase_scrypt",
            "$firebase_scrypt$rounds=8,mem_cost=14$Bw==$c2lnbmVy$c2FsdA==$aGFzaA==",
            "InvalidPasswordHash",
        ),  # hash and signer key of different lengths
        (
            "firebase_scrypt",
            "$firebase_scrypt$rounds=8,mem_cost=30$Bw==$c2lnbmVy$c2FsdA==$aGFzaGhh",
            "InvalidPasswordHash",
        ),
        ("sha256", "$sha256$middle$salt$" + "0" * 64, "InvalidPasswordHash"),
        ("sha256", "$sha256$prefix$salt$" + "0" * 63, "InvalidPasswordHash"),
        ("sha512", "$sha512$prefix$salt$" + "z" * 128, "InvalidPasswordHash"),
        ("sha256", "$sha512$prefix$salt$" + "0" * 128, "InvalidPasswordHash"),
        ("sha256", "$sha256$prefix$" + "s" * 300 + "$" + "0" * 64, "InvalidPasswordHash"),  # too long to store
        ("md5", "5f4dcc3b5aa765d61d8327deb882cf99", "InvalidPasswordHash"),
    ],
)
def test_hostile_hashes_are_refused(type_, hashed, reason):
    with pytest.raises(Invalid) as caught:
        imported_hashes.validate(type_, hashed)
    assert caught.value.reason == reason
    assert caught.value.to_dict()["code"] == 400
    assert not imported_hashes.verify(hashed, "password")  # and, stored anyway, they never match


@pytest.mark.parametrize(
    ("hashed", "problem"),
    [
        ("$argon2id$v=19$m=4194304,t=1,p=1$c2FsdA$aGFzaA", "argon2 memory m=4194304 KiB is above 1048576 KiB"),
        ("$argon2d$m=65536,t=17,p=1$c2FsdA$aGFzaA", "argon2 time t=17 is above 16"),
        (
            "$argon2id$v=19$m=1048576,t=8,p=4$c2FsdA$aGFzaA",
            "argon2 m*t=8388608 KiB is above 4194304 KiB",
        ),
        ("$argon2id$v=19$m=65536,t=3,p=99$c2FsdA$aGFzaA", "argon2 parallelism p=99 is above 16"),
        ("$argon2id$v=19$t=3,m=65536,p=1$c2FsdA$aGFzaA", "argon2 parameters m, t and p cannot be read"),
        ("$2b$20$" + "a" * 53, "bcrypt cost 20 is above 16"),
        ("$2b$x$" + "a" * 53, "the bcrypt cost cannot be read"),
        ("$scrypt$ln=24,r=8,p=1$c2FsdA$aGFzaA", "scrypt needs 16384 MiB, above 256 MiB"),
        ("pbkdf2_sha256$99999999$salt$aGFzaA==", "99999999 is above 5000000"),
        # Within the bounds, or unreadable in a way their parser refuses before any work.
        ("$argon2id$v=19$m=1048576,t=4,p=4$c2FsdA$aGFzaA", None),
        ("$argon2id$v=19$m=262144,t=16,p=16$c2FsdA$aGFzaA", None),
        ("$2b$16$" + "a" * 53, None),
        ("pbkdf2_sha256$870000$salt$aGFzaA==", None),
        ("pbkdf2_sha256$1000$salt", None),
        ("plaintext", None),
    ],
)
def test_cost_problem_names_the_parameter_and_bound(hashed, problem):
    assert imported_hashes.cost_problem(hashed) == problem
    if problem is not None:
        assert not verify_password(hashed, "password")


def test_published_vectors_are_within_the_cost_bounds():
    assert [h for _, h, _ in HASHES if imported_hashes.cost_problem(h) is not None] == []


def test_salts_with_dollar_signs_and_empty_salts():
    import hashlib

    digest = hashlib.sha256(b"pa$$word" + b"s$a$lt").hexdigest()
    assert verify_password(imported_hashes.validate("sha256", f"$sha256$suffix$s$a$lt${digest}"), "pa$$word")
    unsalted = hashlib.sha512(b"just-a-password").hexdigest()
    assert verify_password(f"$sha512$prefix$${unsalted}", "just-a-password")


def test_garbage_never_verifies():
    for stored in ("", "$", "$$$$", "$2b$", "$argon2id$", "$scrypt$ln=1", "$firebase_scrypt$", "plaintext", "$sha256$"):
        assert not verify_password(stored, "plaintext")
        assert not verify_password(stored, "")

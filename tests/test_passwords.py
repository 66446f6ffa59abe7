"""Password authenticators: argon2id hashes, bcrypt import and upgrade, policy, history, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bcrypt
import pytest
from sqlalchemy import select

from app.audit import AuditLog, AuditLogWriter
from app.authenticators import password as pw
from app.authenticators.models import Authenticator, PasswordHistory
from app.authenticators.service import PasswordService
from app.config import deep_merge
from app.errors import Invalid
from app.extensions import db
from tests.factories import make_user, random_password

pytestmark = pytest.mark.embedded


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def password_service(svc, clock, **config) -> PasswordService:
    section = deep_merge(svc.config.project["authenticator"]["password"], config)
    return PasswordService(section, AuditLogWriter(clock), clock)


def stored_hash(auth_id: str) -> str:
    db.session.expire_all()
    return db.session.get(Authenticator, auth_id).password_hash


def policy_causes(fn, *args) -> list[dict]:
    with pytest.raises(Invalid) as info:
        fn(*args)
    err = info.value.to_dict()
    assert err["name"] == "Invalid" and err["reason"] == "PasswordPolicyViolated" and err["code"] == 400
    return err["info"]["causes"]


# -- hashes -----------------------------------------------------------------------------------------


def test_new_hashes_are_argon2id_with_owasp_parameters(svc):
    password = random_password()
    user = make_user(svc, password=password)
    phc = stored_hash(svc.passwords.get(user.id).id)
    algorithm, version, params, salt, digest = phc.split("$")[1:]
    assert algorithm == "argon2id"
    assert version == "v=19"
    assert params == "m=19456,t=2,p=1"
    assert salt and digest
    assert password not in phc
    assert not pw.needs_rehash(phc)


def test_same_password_gets_a_fresh_salt():
    assert pw.hash_password("same-password") != pw.hash_password("same-password")


def test_verify_right_and_wrong_password(svc):
    password = random_password()
    user = make_user(svc, password=password)
    auth = svc.passwords.verify(user.id, password)
    assert auth is not None and auth.user_id == user.id
    assert svc.passwords.verify(user.id, password + "x") is None
    assert svc.passwords.verify(user.id, "") is None
    assert svc.passwords.verify(user.id, password.upper()) is None


def bcrypt_hash(password: str, prefix: str) -> str:
    """The bcrypt package makes $2a$ and $2b$; PHP's $2y$ is the same algorithm under another marker."""
    marker = b"2b" if prefix == "$2y$" else prefix.strip("$").encode()
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=marker)).decode()
    return prefix + hashed[4:]


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_hashes_verify_and_upgrade_to_argon2id(svc, prefix):
    password = "imported-" + prefix.strip("$")
    hashed = bcrypt_hash(password, prefix)
    assert hashed.startswith(prefix)
    user = make_user(svc)
    auth = svc.passwords.create_from_hash(user.id, hashed)
    db.session.commit()

    assert svc.passwords.verify(user.id, password + "!") is None
    db.session.commit()
    assert stored_hash(auth.id) == hashed  # a failed check does not touch the hash

    assert svc.passwords.verify(user.id, password) is not None
    db.session.commit()
    upgraded = stored_hash(auth.id)
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert svc.passwords.verify(user.id, password) is not None
    assert svc.passwords.verify(user.id, password + "!") is None


def test_bcrypt_compares_only_the_first_72_bytes_like_bcrypt_does(svc):
    password = "b" * 80
    user = make_user(svc)
    svc.passwords.create_from_hash(user.id, bcrypt.hashpw(password[:72].encode(), bcrypt.gensalt(rounds=4)).decode())
    assert svc.passwords.verify(user.id, password) is not None


@pytest.mark.parametrize("broken", ["$2b$04$tooshort", "$argon2id$v=19$m=19456,t=2,p=1$garbage", "plaintext", ""])
def test_broken_stored_hashes_never_match_and_never_raise(svc, broken):
    user = make_user(svc)
    auth = svc.passwords.create_from_hash(user.id, broken)
    db.session.commit()
    assert svc.passwords.verify(user.id, "plaintext") is None
    assert svc.passwords.verify(user.id, broken) is None
    assert stored_hash(auth.id) == broken


def test_user_without_password_costs_an_argon2_check(svc, monkeypatch):
    calls: list[str] = []
    real = pw.ARGON2

    class CountingHasher:
        def verify(self, hashed, password):
            calls.append(hashed)
            return real.verify(hashed, password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(pw, "ARGON2", CountingHasher())
    user = make_user(svc)  # no password
    assert svc.passwords.verify(user.id, "whatever-password") is None
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")
    assert svc.passwords.verify(None, "whatever-password") is None
    assert svc.passwords.verify("00000000-0000-4000-8000-000000000000", "whatever-password") is None
    assert len(calls) == 3


# Hashes beyond the cost bounds, written as strings (computing them would take minutes and gigabytes).
_SALT, _DIGEST = "c2FsdHNhbHRzYWx0c2FsdA", "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
OVER_COST_HASHES = {
    "argon2id-4GiB": f"$argon2id$v=19$m=4194304,t=3,p=1${_SALT}${_DIGEST}",
    "argon2id-1GiB-5-passes": f"$argon2id$v=19$m=1048576,t=5,p=4${_SALT}${_DIGEST}",
    "argon2id-t1000": f"$argon2id$v=19$m=65536,t=1000,p=1${_SALT}${_DIGEST}",
    "argon2id-p64": f"$argon2id$v=19$m=65536,t=3,p=64${_SALT}${_DIGEST}",
    "argon2id-no-version": f"$argon2id$m=4194304,t=1,p=1${_SALT}${_DIGEST}",  # the argon2 library reads it
    "argon2i-4GiB": f"$argon2i$v=19$m=4194304,t=1,p=1${_SALT}${_DIGEST}",
    "bcrypt-31": "$2b$31$" + "N" * 53,
    "bcrypt-2y-17": "$2y$17$" + "N" * 53,
}


@pytest.mark.parametrize("hashed", OVER_COST_HASHES.values(), ids=OVER_COST_HASHES.keys())
def test_stored_hashes_beyond_the_cost_bounds_are_never_computed(svc, monkeypatch, caplog, hashed):
    computed: list[str] = []
    real_argon2, real_checkpw = pw.ARGON2, bcrypt.checkpw

    class RecordingHasher:
        def verify(self, stored, password):
            computed.append(stored)
            return real_argon2.verify(stored, password)

        def __getattr__(self, name):
            return getattr(real_argon2, name)

    def recording_checkpw(password, stored):
        computed.append(stored.decode())
        return real_checkpw(password, stored)

    monkeypatch.setattr(pw, "ARGON2", RecordingHasher())
    monkeypatch.setattr(bcrypt, "checkpw", recording_checkpw)
    monkeypatch.setattr(pw.imported_hashes, "_ARGON2_VERIFIER", RecordingHasher())
    user = make_user(svc)
    auth = svc.passwords.create_from_hash(user.id, hashed)  # a row written directly, not imported
    db.session.commit()

    with caplog.at_level("WARNING", logger="gatehouse.passwords"):
        assert svc.passwords.verify(user.id, "the-right-password-for-all-we-know") is None
    assert hashed not in computed
    assert computed == [pw._DUMMY_HASH]  # one dummy check, as for a wrong password
    assert stored_hash(auth.id) == hashed
    warnings = [r.getMessage() for r in caplog.records if r.name == "gatehouse.passwords"]
    assert len(warnings) == 1 and user.id in warnings[0] and "above" in warnings[0]
    assert _SALT not in caplog.text and _DIGEST not in caplog.text and "N" * 53 not in caplog.text
    assert "the-right-password" not in caplog.text


def test_stored_hashes_at_the_cost_bounds_are_verified(svc, caplog):
    password = random_password()
    user = make_user(svc)
    within = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    svc.passwords.create_from_hash(user.id, within)
    with caplog.at_level("WARNING", logger="gatehouse.passwords"):
        assert svc.passwords.verify(user.id, password + "x") is None
        assert svc.passwords.verify(user.id, password) is not None
    assert not [r for r in caplog.records if r.name == "gatehouse.passwords"]
    # The largest accepted parameters are not refused before the check (the digest then decides).
    for edge in (
        f"$argon2id$v=19$m=1048576,t=4,p=4${_SALT}${_DIGEST}",
        f"$argon2id$v=19$m=262144,t=16,p=16${_SALT}${_DIGEST}",
        "$2b$16$" + "N" * 53,
    ):
        assert pw.imported_hashes.cost_problem(edge) is None, edge


# -- policy -------------------------------------------------------------------------------------------


RULES = [
    ({"min_length": 12}, "short1A!", "PasswordTooShort"),
    ({"uppercase_required": True}, "lowercase-only-1", "PasswordUppercaseRequired"),
    ({"lowercase_required": True}, "UPPERCASE-ONLY-1", "PasswordLowercaseRequired"),
    ({"alphabet_required": True}, "1234567890!!", "PasswordAlphabetRequired"),
    ({"digit_required": True}, "no-digits-here", "PasswordDigitRequired"),
    ({"symbol_required": True}, "NoSymbolsHere123", "PasswordSymbolRequired"),
    ({"excluded_keywords": ["gatehouse"]}, "my-GateHouse-pw-1", "PasswordContainingExcludedKeywords"),
    ({"minimum_guessable_level": 4}, "password123", "PasswordBelowGuessableLevel"),
]


@pytest.mark.parametrize(("policy", "password", "name"), RULES, ids=[r[2] for r in RULES])
def test_each_policy_rule_is_enforced(svc, policy, password, name):
    clock = FakeClock()
    service = password_service(svc, clock, policy=policy)
    user = make_user(svc)
    causes = policy_causes(service.create, user.id, password)
    assert [c["Name"] for c in causes] == [name]
    db.session.rollback()
    assert service.get(user.id) is None


def test_policy_causes_carry_authgear_info(svc):
    service = password_service(svc, FakeClock(), policy={"min_length": 10, "minimum_guessable_level": 5})
    causes = policy_causes(service.policy.check, "abc")
    by_name = {c["Name"]: c for c in causes}
    assert by_name["PasswordTooShort"]["Info"] == {"min_length": 10, "pw_length": 3}
    assert by_name["PasswordBelowGuessableLevel"]["Info"]["min_level"] == 5
    assert 1 <= by_name["PasswordBelowGuessableLevel"]["Info"]["pw_level"] < 5


def test_all_violations_are_reported_together(svc):
    everything = {
        "min_length": 20,
        "uppercase_required": True,
        "digit_required": True,
        "symbol_required": True,
    }
    service = password_service(svc, FakeClock(), policy=everything)
    names = [c["Name"] for c in policy_causes(service.policy.check, "abc")]
    assert names == [
        "PasswordTooShort",
        "PasswordUppercaseRequired",
        "PasswordDigitRequired",
        "PasswordSymbolRequired",
    ]


def test_strong_password_passes_every_rule(svc):
    strict = {
        "min_length": 12,
        "uppercase_required": True,
        "lowercase_required": True,
        "alphabet_required": True,
        "digit_required": True,
        "symbol_required": True,
        "excluded_keywords": ["gatehouse"],
        "minimum_guessable_level": 5,
    }
    service = password_service(svc, FakeClock(), policy=strict)
    user = make_user(svc)
    auth = service.create(user.id, "Violet-Tractor-93-Quantum!")
    assert auth.password_hash.startswith("$argon2id$")


def test_default_policy_is_min_length_8(svc):
    user = make_user(svc)
    assert [c["Name"] for c in policy_causes(svc.passwords.create, user.id, "1234567")] == ["PasswordTooShort"]
    assert svc.passwords.create(user.id, "12345678") is not None


def test_policy_is_enforced_on_change(svc):
    clock = FakeClock()
    service = password_service(svc, clock, policy={"digit_required": True})
    user = make_user(svc)
    auth = service.create(user.id, "first-password-1")
    assert [c["Name"] for c in policy_causes(service.change, auth, "no-digits-at-all")] == ["PasswordDigitRequired"]


# -- history ------------------------------------------------------------------------------------------


def test_history_refuses_a_reused_password(svc):
    clock = FakeClock()
    service = password_service(svc, clock, policy={"history_size": 2})
    user = make_user(svc)
    auth = service.create(user.id, "first-password-1")
    clock.advance(minutes=1)
    service.change(auth, "second-password-2")
    clock.advance(minutes=1)
    db.session.commit()

    for reused in ("first-password-1", "second-password-2"):
        causes = policy_causes(service.change, auth, reused)
        assert causes == [{"Name": "PasswordReused", "Info": {"history_size": 2, "history_days": 0}}]
    assert service.verify(user.id, "second-password-2") is not None

    service.change(auth, "third-password-3")
    clock.advance(minutes=1)
    # "first" is now the third most recent: outside a history of 2.
    service.change(auth, "first-password-1")
    db.session.commit()
    assert service.verify(user.id, "first-password-1") is not None


def test_history_by_days(svc):
    clock = FakeClock()
    service = password_service(svc, clock, policy={"history_days": 30})
    user = make_user(svc)
    auth = service.create(user.id, "first-password-1")
    clock.advance(days=1)
    service.change(auth, "second-password-2")
    clock.advance(days=10)
    assert [c["Name"] for c in policy_causes(service.change, auth, "first-password-1")] == ["PasswordReused"]
    clock.advance(days=25)  # "first" was set 36 days ago
    service.change(auth, "first-password-1")


def test_history_rows_hold_hashes_only_and_only_when_enabled(svc):
    clock = FakeClock()
    user = make_user(svc)
    password_service(svc, clock).create(user.id, "not-remembered-1")
    db.session.commit()
    assert db.session.scalars(select(PasswordHistory)).all() == []

    other = make_user(svc)
    password_service(svc, clock, policy={"history_size": 3}).create(other.id, "remembered-2")
    db.session.commit()
    rows = db.session.scalars(select(PasswordHistory)).all()
    assert len(rows) == 1 and rows[0].user_id == other.id
    assert rows[0].password_hash.startswith("$argon2id$") and "remembered" not in rows[0].password_hash


def test_without_history_the_same_password_may_be_set_again(svc):
    user = make_user(svc)
    auth = svc.passwords.create(user.id, "same-password-1")
    svc.passwords.change(auth, "same-password-1")
    assert svc.passwords.verify(user.id, "same-password-1") is not None


# -- must_change ------------------------------------------------------------------------------------


def test_must_change_when_expire_after_has_passed(svc):
    clock = FakeClock()
    service = password_service(svc, clock)
    user = make_user(svc)
    auth = service.create(user.id, "good-password-1")
    assert service.must_change(auth, "good-password-1") is None
    auth.expire_after = clock.now + timedelta(hours=1)
    assert service.must_change(auth, "good-password-1") is None
    clock.advance(hours=1)
    assert service.must_change(auth, "good-password-1") == "expiry"
    service.change(auth, "fresh-password-2")
    assert auth.expire_after is None
    assert service.must_change(auth, "fresh-password-2") is None


def test_must_change_after_the_configured_duration_since_last_update(svc):
    clock = FakeClock()
    service = password_service(
        svc, clock, expiry={"force_change": {"enabled": True, "duration_since_last_update": "720h"}}
    )
    user = make_user(svc)
    auth = service.create(user.id, "good-password-1")
    clock.advance(days=29, hours=23)
    assert service.must_change(auth, "good-password-1") is None
    clock.advance(hours=1)
    assert service.must_change(auth, "good-password-1") == "expiry"
    service.change(auth, "new-password-2")
    assert service.must_change(auth, "new-password-2") is None


def test_must_change_when_the_password_violates_a_newer_policy(svc):
    clock = FakeClock()
    user = make_user(svc)
    auth = password_service(svc, clock).create(user.id, "weakbutlong")
    stricter = password_service(svc, clock, policy={"digit_required": True})
    assert stricter.must_change(auth, "weakbutlong") == "policy"
    relaxed = password_service(svc, clock, policy={"digit_required": True}, force_change=False)
    assert relaxed.must_change(auth, "weakbutlong") is None


def test_imported_hash_skips_policy_but_login_reports_it(svc):
    user = make_user(svc)
    auth = svc.passwords.create_from_hash(user.id, bcrypt.hashpw(b"short", bcrypt.gensalt(rounds=4)).decode())
    assert svc.passwords.verify(user.id, "short") is not None
    assert svc.passwords.must_change(auth, "short") == "policy"


def test_password_changes_are_audited_without_the_password(svc):
    user = make_user(svc)
    auth = svc.passwords.create(user.id, "audited-password-1")
    svc.passwords.change(auth, "audited-password-2")
    db.session.commit()
    rows = db.session.scalars(select(AuditLog).where(AuditLog.user_id == user.id).order_by(AuditLog.id)).all()
    types = [r.activity_type for r in rows]
    assert types[-2:] == ["authenticator.password.created", "authenticator.password.changed"]
    assert all("audited-password" not in str(r.data) for r in rows)

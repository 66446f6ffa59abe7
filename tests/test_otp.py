"""One-time codes by email (real SMTP) and SMS (webhook), and the OOB OTP authenticator rows."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from app.authenticators.otp import OTPService, mask
from app.errors import Forbidden, InvariantViolated, TooManyRequest
from app.kvstore import KVStore
from app.messaging.service import MessageSender
from app.ratelimit import RateLimiter
from tests.factories import make_user, random_email
from tests.fakes import FakeClock, fresh_store
from tests.test_messaging import make_config


@pytest.fixture
def kv(redis_prefix: str) -> Iterator[KVStore]:
    yield from fresh_store(redis_prefix)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def build(kv, clock, smtp_server, sms_webhook) -> Callable[..., OTPService]:
    """An OTPService whose email reaches `smtp_server` and SMS `sms_webhook`."""

    def make(**overrides: Any) -> OTPService:
        config = make_config({**smtp_server.secret, **sms_webhook.secret}, **overrides)
        limiter = RateLimiter(kv, clock)
        return OTPService(kv, MessageSender(config, clock), limiter, config.project, clock)

    return make


@pytest.fixture
def otp(build) -> OTPService:
    return build()


def _invalid(exc: pytest.ExceptionInfo[Forbidden]) -> None:
    assert (exc.value.status, exc.value.name, exc.value.reason) == (403, "Forbidden", "InvalidOTPCode")


@pytest.mark.embedded
def test_code_arrives_by_email_and_works_once(otp, smtp_server, clock):
    to = random_email()
    can_resend_at = otp.send("verification", "email", to, locale="en", ip="10.0.0.1")
    assert can_resend_at == clock() + timedelta(seconds=60)
    msg = smtp_server.wait_for(to)
    assert msg["Subject"] == "gatehouse-test: your verification code"
    code = smtp_server.last_code(to)
    otp.verify("verification", to, code, ip="10.0.0.1")
    with pytest.raises(Forbidden) as exc:
        otp.verify("verification", to, code, ip="10.0.0.1")
    _invalid(exc)


@pytest.mark.embedded
def test_templates_follow_the_purpose(otp, smtp_server, clock):
    subjects = {}
    for purpose in ("verification", "setup", "login", "account_recovery"):
        to = random_email()
        otp.send(purpose, "email", to)
        subjects[purpose] = smtp_server.wait_for(to)["Subject"]
    assert subjects == {
        "verification": "gatehouse-test: your verification code",
        "setup": "gatehouse-test: your verification code",
        "login": "gatehouse-test: your login code",
        "account_recovery": "gatehouse-test: reset your password",
    }


def test_wrong_code_is_invalid_and_the_right_one_still_works(otp, smtp_server):
    to = random_email()
    otp.send("login", "email", to)
    code = smtp_server.last_code(to)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for bad in (wrong, "", code[:5], code + "0"):
        with pytest.raises(Forbidden) as exc:
            otp.verify("login", to, bad)
        _invalid(exc)
    otp.verify("login", to, code)


@pytest.mark.parametrize("bad", ["abcdef", " " * 6, "x" * 100_000, "１２３４５６", None, 123456, ["123456"]])
def test_hostile_codes_are_just_wrong(otp, smtp_server, bad):
    to = random_email()
    otp.send("login", "email", to)
    with pytest.raises(Forbidden) as exc:
        otp.verify("login", to, bad)  # type: ignore[arg-type]
    _invalid(exc)
    otp.verify("login", to, smtp_server.last_code(to))


def test_unknown_target_is_invalid(otp):
    with pytest.raises(Forbidden) as exc:
        otp.verify("login", random_email(), "123456")
    _invalid(exc)
    assert otp.status("login", "nobody@example.com")["failed_attempt_rate_limit_exceeded"] is False


def test_code_is_compared_after_trimming_and_target_case_is_ignored(otp, smtp_server):
    to = "Mixed.Case@Example.com"
    otp.send("verification", "email", to)
    otp.verify("verification", "mixed.case@example.com", f"  {smtp_server.last_code(to)} ")


def test_five_failures_revoke_the_code(otp, smtp_server, clock):
    to = random_email()
    otp.send("verification", "email", to)
    code = smtp_server.last_code(to)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(4):
        with pytest.raises(Forbidden):
            otp.verify("verification", to, wrong)
    assert otp.status("verification", to)["failed_attempt_rate_limit_exceeded"] is False
    with pytest.raises(TooManyRequest) as exc:
        otp.verify("verification", to, wrong)
    assert exc.value.reason == "RateLimited"
    assert exc.value.info["bucket_name"] == "TrackFailedOTPAttemptBucket"
    with pytest.raises(TooManyRequest):
        otp.verify("verification", to, code)  # even the right code
    assert otp.status("verification", to)["failed_attempt_rate_limit_exceeded"] is True
    # A new code (after the cooldown) starts a fresh count.
    clock.advance(60)
    otp.send("verification", "email", to)
    assert otp.status("verification", to)["failed_attempt_rate_limit_exceeded"] is False
    otp.verify("verification", to, smtp_server.last_code(to))


def test_parallel_guesses_get_no_more_than_five_tries(otp, smtp_server):
    to = random_email()
    otp.send("verification", "email", to)
    code = smtp_server.last_code(to)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(30)

    def guess() -> None:
        barrier.wait()
        try:
            otp.verify("verification", to, wrong)
        except Forbidden:
            outcome = "invalid"
        except TooManyRequest:
            outcome = "limited"
        else:
            outcome = "ok"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=guess) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("invalid") == 4 and results.count("limited") == 26
    with pytest.raises(TooManyRequest):
        otp.verify("verification", to, code)


def test_parallel_right_codes_succeed_once(otp, smtp_server):
    to = random_email()
    otp.send("login", "email", to)
    code = smtp_server.last_code(to)
    ok: list[bool] = []
    barrier = threading.Barrier(10)

    def use() -> None:
        barrier.wait()
        try:
            otp.verify("login", to, code)
            ok.append(True)
        except (Forbidden, TooManyRequest):
            ok.append(False)

    threads = [threading.Thread(target=use) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ok.count(True) == 1


@pytest.mark.embedded
@pytest.mark.parametrize(
    "purpose,overrides,valid_seconds",
    [
        ("verification", {}, 300),
        ("verification", {"verification": {"code_valid_period": "2m"}}, 120),
        ("login", {"authenticator": {"oob_otp": {"email": {"valid_periods": {"code": "90s"}}}}}, 90),
        ("setup", {"authenticator": {"oob_otp": {"email": {"valid_periods": {"code": "90s"}}}}}, 90),
        ("account_recovery", {"forgot_password": {"valid_periods": {"code": "10m"}}}, 600),
    ],
)
def test_codes_expire_after_the_configured_period(build, smtp_server, clock, purpose, overrides, valid_seconds):
    otp = build(**overrides)
    early, late = random_email(), random_email()
    otp.send(purpose, "email", early)
    otp.send(purpose, "email", late)
    minutes = max(1, round(valid_seconds / 60))
    assert f"expires in {minutes} minute" in smtp_server.wait_for(early).get_body(("plain",)).get_content()
    clock.advance(valid_seconds - 1)
    otp.verify(purpose, early, smtp_server.last_code(early))
    clock.advance(1)
    with pytest.raises(Forbidden) as exc:
        otp.verify(purpose, late, smtp_server.last_code(late))
    _invalid(exc)


def test_resend_cooldown_and_the_new_code_replaces_the_old(otp, smtp_server, clock):
    to = random_email()
    first_until = otp.send("verification", "email", to)
    first = smtp_server.last_code(to)
    assert otp.status("verification", to)["can_resend_at"] == first_until
    clock.advance(30)
    with pytest.raises(TooManyRequest) as exc:
        otp.send("verification", "email", to)
    assert exc.value.info == {"bucket_name": "VerificationCooldownEmail"}  # Authgear's cooldowns name no rate limit
    assert len(smtp_server.all_for(to)) == 1
    clock.advance(30)
    assert otp.status("verification", to)["can_resend_at"] == clock()
    second_until = otp.send("verification", "email", to)
    assert second_until == clock() + timedelta(seconds=60)
    second = smtp_server.last_code(to)
    assert len(smtp_server.all_for(to)) == 2
    if first != second:
        with pytest.raises(Forbidden):
            otp.verify("verification", to, first)
    otp.verify("verification", to, second)


def test_cooldown_is_configurable_and_shared_by_login_and_setup(build, smtp_server, clock):
    otp = build(verification={"rate_limits": {"email": {"trigger_cooldown": "5m"}}})
    to = random_email()
    assert otp.send("verification", "email", to) == clock() + timedelta(minutes=5)
    otp.send("login", "email", to)  # another bucket: the OOB OTP cooldown
    with pytest.raises(TooManyRequest) as exc:
        otp.send("setup", "email", to)
    assert exc.value.info["bucket_name"] == "OOBOTPCooldownEmail"
    otp.send("account_recovery", "email", to)
    with pytest.raises(TooManyRequest) as exc:
        otp.send("account_recovery", "email", to)
    assert exc.value.info["bucket_name"] == "ForgotPasswordCooldownEmail"


def test_per_ip_trigger_limit(build, smtp_server):
    otp = build(
        verification={"rate_limits": {"email": {"trigger_per_ip": {"enabled": True, "period": "1m", "burst": 3}}}}
    )
    for _ in range(3):
        otp.send("verification", "email", random_email(), ip="10.0.0.1")
    with pytest.raises(TooManyRequest) as exc:
        otp.send("verification", "email", random_email(), ip="10.0.0.1")
    assert exc.value.info["bucket_name"] == "VerificationTriggerEmailPerIP"
    otp.send("verification", "email", random_email(), ip="10.0.0.2")


def test_per_ip_validate_limit(build, smtp_server):
    otp = build(
        verification={"rate_limits": {"email": {"validate_per_ip": {"enabled": True, "period": "1m", "burst": 2}}}}
    )
    to = random_email()
    otp.send("verification", "email", to)
    code = smtp_server.last_code(to)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(2):
        with pytest.raises(Forbidden):
            otp.verify("verification", to, wrong, ip="10.0.0.1")
    with pytest.raises(TooManyRequest) as exc:
        otp.verify("verification", to, code, ip="10.0.0.1")
    assert exc.value.info["bucket_name"] == "VerificationValidateEmailPerIP"
    otp.verify("verification", to, code, ip="10.0.0.2")


def test_messaging_per_target_limit(build, smtp_server, clock):
    otp = build(messaging={"rate_limits": {"email_per_target": {"enabled": True, "period": "24h", "burst": 2}}})
    to = random_email()
    for _ in range(2):
        otp.send("verification", "email", to)
        clock.advance(61)
    with pytest.raises(TooManyRequest) as exc:
        otp.send("verification", "email", to)
    assert exc.value.info["bucket_name"] == "MessagingEmailPerTarget"


@pytest.mark.embedded
def test_purposes_do_not_share_codes(otp, smtp_server):
    to = random_email()
    otp.send("verification", "email", to)
    with pytest.raises(Forbidden):
        otp.verify("login", to, smtp_server.last_code(to))
    otp.verify("verification", to, smtp_server.last_code(to))


def test_sms_code_goes_to_the_webhook(otp, sms_webhook, smtp_server):
    phone = "+85298765432"
    otp.send("login", "sms", phone, locale="en")
    body = sms_webhook.wait_for(phone)
    assert body["template"] == "otp_login" and body["body"].endswith("is your gatehouse-test login code.")
    otp.verify("login", phone, sms_webhook.last_code(phone))


@pytest.mark.embedded
@pytest.mark.parametrize(
    "purpose,channel,target",
    [
        ("signup", "email", "a@example.com"),
        ("login", "whatsapp", "a@example.com"),
        ("login", "email", "+85298765432"),
        ("login", "sms", "a@example.com"),
    ],
)
def test_unknown_purposes_channels_and_mismatched_targets_are_programming_errors(otp, purpose, channel, target):
    with pytest.raises(ValueError):
        otp.send(purpose, channel, target)


def test_only_the_hash_is_stored_and_no_code_is_logged(otp, kv, smtp_server, sms_webhook, caplog):
    caplog.set_level(logging.DEBUG)
    to, phone = random_email(), "+85291234567"
    otp.send("verification", "email", to, ip="10.0.0.9")
    otp.send("login", "sms", phone, ip="10.0.0.9")
    codes = [smtp_server.last_code(to), sms_webhook.last_code(phone)]
    raw = kv.get(otp._code_key("verification", to))
    assert raw is not None and codes[0].encode() not in raw and to.lower().encode() not in raw
    with pytest.raises(Forbidden):
        otp.verify("verification", to, "000000" if codes[0] != "000000" else "111111", ip="10.0.0.9")
    otp.verify("verification", to, codes[0], ip="10.0.0.9")
    otp.verify("login", phone, codes[1], ip="10.0.0.9")
    for code in codes:
        assert code not in caplog.text
    assert mask(to) in caplog.text


@pytest.mark.embedded
def test_outbox_mode_logs_no_code(kv, clock, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    config = make_config(config_dir=tmp_path)
    otp = OTPService(kv, MessageSender(config, clock), RateLimiter(kv, clock), config.project, clock)
    otp.send("account_recovery", "email", "grace@example.com")
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    text = eml.read_text()
    code = next(w for w in text.split() if w.isdigit() and len(w) == 6)
    assert code not in caplog.text
    otp.verify("account_recovery", "grace@example.com", code)


@pytest.mark.embedded
@pytest.mark.parametrize(
    "target,masked",
    [("john@example.com", "j****@example.com"), ("+85298765432", "+8529876****"), ("+14155550123", "+1415555****")],
)
def test_mask(target, masked):
    assert mask(target) == masked


# -- OOB OTP authenticator rows ------------------------------------------------------------------
@pytest.mark.embedded
def test_oob_authenticators_are_created_and_listed(svc):
    user = make_user(svc)
    email = svc.oob.create(user.id, "email", "otp@example.com", "primary")
    phone = svc.oob.create(user.id, "sms", "+85298765432", "secondary")
    assert (email.type, email.kind, email.oob_target, email.is_default) == (
        "oob_otp_email",
        "primary",
        "otp@example.com",
        False,
    )
    assert (phone.type, phone.kind, phone.is_default) == ("oob_otp_sms", "secondary", True)
    assert [a.id for a in svc.oob.list_for_user(user.id)] == [email.id, phone.id]
    assert [a.id for a in svc.oob.list_for_user(user.id, "secondary")] == [phone.id]
    assert svc.oob.list_for_user(make_user(svc).id) == []
    with pytest.raises(InvariantViolated) as exc:
        svc.oob.create(user.id, "email", "OTP@example.com", "primary")
    assert exc.value.info == {"cause": {"kind": "DuplicatedAuthenticator"}}
    for channel, kind in (("whatsapp", "primary"), ("email", "tertiary")):
        with pytest.raises(ValueError):
            svc.oob.create(user.id, channel, "x@example.com", kind)

"""Rate limits, cooldowns and account lockout on Redis and on the in-process store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from app.errors import TooManyRequest
from app.kvstore import KVStore, MemoryStore
from app.ratelimit import AccountLockout, RateLimiter
from tests.fakes import FakeClock, fresh_store

RULE = {"enabled": True, "period": "1m", "burst": 5}


@pytest.fixture(params=[pytest.param("configured", marks=pytest.mark.embedded), "memory"])
def kv(request: pytest.FixtureRequest, redis_prefix: str) -> Iterator[KVStore]:
    """The backend of this pass (Redis, or MemoryStore in the embedded pass), and MemoryStore."""
    if request.param == "memory":
        yield MemoryStore()
        return
    yield from fresh_store(redis_prefix)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _outcomes(n: int, attempt: Callable[[], object]) -> tuple[int, list[BaseException]]:
    """Run `attempt` from n threads at once; (successes, errors)."""
    barrier = threading.Barrier(n)
    lock = threading.Lock()
    ok = 0
    errors: list[BaseException] = []

    def run() -> None:
        nonlocal ok
        barrier.wait()
        try:
            attempt()
        except BaseException as exc:  # noqa: BLE001 (collected and asserted on)
            with lock:
                errors.append(exc)
        else:
            with lock:
                ok += 1

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok, errors


def test_burst_then_rate_limited_with_authgear_info(kv, clock):
    limiter = RateLimiter(kv, clock)
    for _ in range(5):
        limiter.check("authentication.password", "VerifyPasswordPerIP", "10.0.0.1", RULE)
    with pytest.raises(TooManyRequest) as exc:
        limiter.check("authentication.password", "VerifyPasswordPerIP", "10.0.0.1", RULE)
    err = exc.value
    assert (err.status, err.reason) == (429, "RateLimited")
    # Authgear's ErrRateLimited: the rate limit's name is `<group>.<kind of bucket>`.
    assert err.to_dict()["info"] == {
        "bucket_name": "VerifyPasswordPerIP",
        "rate_limit": {"name": "authentication.password.per_ip", "group": "authentication.password"},
        "rate_limit_name": "authentication.password",
    }
    # Other scopes and other buckets have their own counts.
    limiter.check("authentication.password", "VerifyPasswordPerIP", "10.0.0.2", RULE)
    limiter.check("authentication.signup", "SignupPerIP", "10.0.0.1", RULE)


@pytest.mark.parametrize(
    ("group", "bucket", "name"),
    [
        ("authentication.password", "VerifyPasswordPerUserPerIP", "authentication.password.per_user_per_ip"),
        ("verification.sms.trigger", "VerificationTriggerSMSPerUser", "verification.sms.trigger.per_user"),
        ("messaging.sms", "MessagingSMSPerTarget", "messaging.sms.per_target"),
        ("authentication.account_enumeration", "AccountEnumerationPerIP", "authentication.account_enumeration.per_ip"),
    ],
)
def test_rate_limit_names_follow_the_bucket_kind(kv, clock, group, bucket, name):
    limiter = RateLimiter(kv, clock)
    limiter.check(group, bucket, "s", {"enabled": True, "period": "1m", "burst": 1})
    with pytest.raises(TooManyRequest) as exc:
        limiter.check(group, bucket, "s", {"enabled": True, "period": "1m", "burst": 1})
    assert exc.value.info["rate_limit"] == {"name": name, "group": group}


def test_weights_count_an_attempt_as_more_less_or_nothing(kv, clock):
    """Authgear's rate limit weights (a blocking hook's `rate_limits`): an attempt reserves `weight`
    of the burst; 0 reserves nothing."""
    limiter = RateLimiter(kv, clock)
    for _ in range(100):
        limiter.check("g", "FreePerIP", "s", RULE, weight=0)
    limiter.check("g", "HeavyPerIP", "s", RULE, weight=2.5)
    limiter.check("g", "HeavyPerIP", "s", RULE, weight=2.5)
    with pytest.raises(TooManyRequest):
        limiter.check("g", "HeavyPerIP", "s", RULE, weight=0.5)  # 5.5 > burst 5
    for _ in range(10):
        limiter.check("g", "LightPerIP", "s", RULE, weight=0.5)
    with pytest.raises(TooManyRequest):
        limiter.check("g", "LightPerIP", "s", RULE, weight=0.5)


def test_parallel_callers_never_get_more_than_burst_through(kv, clock):
    limiter = RateLimiter(kv, clock)
    rule = {"enabled": True, "period": "1m", "burst": 10}
    ok, errors = _outcomes(40, lambda: limiter.check("g", "Bucket", "scope", rule))
    assert ok == 10
    assert len(errors) == 30 and all(isinstance(e, TooManyRequest) for e in errors)
    # Refused attempts were refunded: a second wave in the same window still finds the limit at 10.
    ok, _ = _outcomes(20, lambda: limiter.check("g", "Bucket", "scope", rule))
    assert ok == 0


def test_disabled_or_missing_rule_never_limits(kv, clock):
    limiter = RateLimiter(kv, clock)
    for _ in range(50):
        limiter.check("g", "Off", "s", {"enabled": False, "period": "1m", "burst": 1})
        limiter.check("g", "None", "s", None)


def test_the_window_slides_so_a_boundary_does_not_double_the_burst(kv, clock):
    limiter = RateLimiter(kv, clock)
    clock.advance(50)  # late in a window
    for _ in range(5):
        limiter.check("g", "Slide", "s", RULE)
    clock.advance(20)  # 10 s into the next window: the last 60 s still hold 5 attempts
    with pytest.raises(TooManyRequest):
        limiter.check("g", "Slide", "s", RULE)
    clock.advance(45)  # 55 s into the window: about 5 * 5/60 of the old attempts still count
    for _ in range(4):
        limiter.check("g", "Slide", "s", RULE)
    with pytest.raises(TooManyRequest):
        limiter.check("g", "Slide", "s", RULE)


def test_refused_attempts_do_not_count_against_the_next_window(kv, clock):
    limiter = RateLimiter(kv, clock)
    for _ in range(5):
        limiter.check("g", "Refund", "s", RULE)
    for _ in range(20):
        with pytest.raises(TooManyRequest):
            limiter.check("g", "Refund", "s", RULE)
    clock.advance(90)  # half of the previous window (5 admitted, not 25 attempted) still counts
    for _ in range(2):
        limiter.check("g", "Refund", "s", RULE)
    with pytest.raises(TooManyRequest):
        limiter.check("g", "Refund", "s", RULE)


def test_cooldown_refuses_until_it_ends(kv, clock):
    limiter = RateLimiter(kv, clock)
    until = limiter.cooldown("VerificationCooldownEmail", "t", 60)
    assert until == clock() + timedelta(seconds=60)
    assert limiter.cooldown_until("VerificationCooldownEmail", "t") == until
    with pytest.raises(TooManyRequest) as exc:
        limiter.cooldown("VerificationCooldownEmail", "t", 60)
    # Authgear's cooldown buckets belong to no rate limit: the bucket's name only.
    assert exc.value.to_dict()["info"] == {"bucket_name": "VerificationCooldownEmail"}
    assert exc.value.to_dict()["message"] == "request rate limited"
    limiter.cooldown("VerificationCooldownEmail", "other", 60)
    clock.advance(59)
    with pytest.raises(TooManyRequest):
        limiter.cooldown("VerificationCooldownEmail", "t", 60)
    clock.advance(1)
    assert limiter.cooldown_until("VerificationCooldownEmail", "t") is None
    assert limiter.cooldown("VerificationCooldownEmail", "t", 60) == until + timedelta(seconds=60)


def test_parallel_cooldown_lets_exactly_one_through(kv, clock):
    limiter = RateLimiter(kv, clock)
    ok, errors = _outcomes(20, lambda: limiter.cooldown("Cooldown", "t", 60))
    assert ok == 1 and len(errors) == 19 and all(isinstance(e, TooManyRequest) for e in errors)
    clock.advance(61)
    ok, _ = _outcomes(20, lambda: limiter.cooldown("Cooldown", "t", 60))
    assert ok == 1


LOCKOUT = {
    "max_attempts": 3,
    "history_duration": "1h",
    "minimum_duration": "1m",
    "maximum_duration": "5m",
    "backoff_factor": 2,
    "lockout_type": "per_user",
}


def test_lockout_disabled_by_default(kv, clock):
    lockout = AccountLockout(kv, {"max_attempts": 0}, clock)
    for _ in range(50):
        lockout.record_failure("u1", "10.0.0.1")
    lockout.check("u1", "10.0.0.1")


def test_lockout_locks_with_backoff_and_reports_until(kv, clock):
    lockout = AccountLockout(kv, LOCKOUT, clock)
    lockout.record_failure("u1", "10.0.0.1")
    lockout.record_failure("u1", "10.0.0.1")
    lockout.check("u1", "10.0.0.1")
    lockout.record_failure("u1", "10.0.0.1")
    with pytest.raises(TooManyRequest) as exc:
        lockout.check("u1", "10.0.0.1")
    assert (exc.value.status, exc.value.reason) == (429, "AccountLockout")
    assert exc.value.info == {"until": "2030-01-01T12:01:00Z"}
    lockout.record_failure("u1", "10.0.0.1")  # refused while locked: not counted
    clock.advance(60)
    lockout.check("u1", "10.0.0.1")
    lockout.record_failure("u1", "10.0.0.1")  # 4th failure: 1m * 2
    with pytest.raises(TooManyRequest) as exc:
        lockout.check("u1", "10.0.0.1")
    assert exc.value.info == {"until": "2030-01-01T12:03:00Z"}
    clock.advance(120)
    lockout.record_failure("u1", "10.0.0.1")  # 5th: 4m
    clock.advance(240)
    lockout.record_failure("u1", "10.0.0.1")  # 6th: 8m, capped at the 5m maximum
    with pytest.raises(TooManyRequest) as exc:
        lockout.check("u1", "10.0.0.1")
    assert exc.value.info == {"until": "2030-01-01T12:12:00Z"}
    lockout.check("u2", "10.0.0.1")


def test_per_user_lockout_counts_every_ip_and_locks_everywhere(kv, clock):
    lockout = AccountLockout(kv, LOCKOUT, clock)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        lockout.record_failure("u1", ip)
    with pytest.raises(TooManyRequest):
        lockout.check("u1", "192.168.1.1")


def test_per_user_per_ip_lockout_keeps_other_ips_open(kv, clock):
    lockout = AccountLockout(kv, {**LOCKOUT, "lockout_type": "per_user_per_ip"}, clock)
    for _ in range(3):
        lockout.record_failure("u1", "10.0.0.1")
    with pytest.raises(TooManyRequest):
        lockout.check("u1", "10.0.0.1")
    lockout.check("u1", "10.0.0.2")
    lockout.record_failure("u1", "10.0.0.2")
    lockout.record_failure("u1", "10.0.0.2")
    lockout.check("u1", "10.0.0.2")


def test_reset_forgets_only_the_succeeding_ips_failures(kv, clock):
    lockout = AccountLockout(kv, LOCKOUT, clock)
    lockout.record_failure("u1", "attacker")
    lockout.record_failure("u1", "home")
    lockout.reset("u1", "home")  # the user logs in from home
    lockout.record_failure("u1", "attacker")
    lockout.check("u1", "attacker")
    lockout.record_failure("u1", "attacker")  # the attacker's 3rd failure still locks
    with pytest.raises(TooManyRequest):
        lockout.check("u1", "home")


def test_reset_without_ip_clears_the_users_count(kv, clock):
    lockout = AccountLockout(kv, LOCKOUT, clock)
    lockout.record_failure("u1", "10.0.0.1")
    lockout.record_failure("u1", "10.0.0.2")
    lockout.reset("u1")
    lockout.record_failure("u1", "10.0.0.1")
    lockout.record_failure("u1", "10.0.0.1")
    lockout.check("u1", "10.0.0.1")


def test_parallel_failures_all_count(kv, clock):
    lockout = AccountLockout(kv, {**LOCKOUT, "max_attempts": 10}, clock)
    _outcomes(10, lambda: lockout.record_failure("u1", "10.0.0.1"))
    with pytest.raises(TooManyRequest):
        lockout.check("u1", "10.0.0.1")

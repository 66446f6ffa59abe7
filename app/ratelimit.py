"""Rate limits, cooldowns and account lockout (contract section 10), kept in the key-value store.

Buckets live in Redis when configured (shared by every web node) or in the in-process store.
The store offers atomic INCR and SET NX only, so:

* `RateLimiter.check` is a sliding-window counter of weighted attempts (weight 1 unless a blocking
  hook's `rate_limits` answer says otherwise, as Authgear's ResolveWeight): the current fixed window
  plus the previous one weighted by how much of it still falls inside the last `period`. Each
  attempt increments the current window first and is refunded when refused, so the counter never
  drops below the number of admitted attempts and N parallel callers can never get more than
  `burst` through. Refused attempts do not consume, as in Authgear's GCRA where a non-conforming
  request is not counted.
* `RateLimiter.cooldown` (burst 1, e.g. the 60 s OTP resend cooldown) keeps "blocked until" and
  moves it forward with a claim key derived from the previous value: a compare-and-set that only
  one of several racing callers wins.
* `AccountLockout` follows Authgear's lockout: failures are counted per user and per (user, IP)
  "contributor" within `history_duration`; reaching `max_attempts` locks for
  `minimum_duration * backoff_factor ** (attempts - max_attempts)`, at most `maximum_duration`.

Times come from the injected clock and are stored in the values; store TTLs only clean up.
Scopes (IPs, user IDs, addresses) are hashed into the keys so the store holds no personal data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import parse_duration
from app.crypto import sha256_hex
from app.db import Clock, utcnow
from app.errors import TooManyRequest
from app.kvstore import KVStore


def _scope_key(scope: str) -> str:
    return sha256_hex(scope)[:32]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# The kind of an Authgear bucket, by the end of its name: the rate limit is `<group>.<kind>`
# (VerifyPasswordPerIP of authentication.password is authentication.password.per_ip).
_BUCKET_KINDS = (
    ("PerUserPerIP", "per_user_per_ip"),
    ("PerIP", "per_ip"),
    ("PerUser", "per_user"),
    ("PerTarget", "per_target"),
    ("PerClient", "per_client"),
    ("PerProject", "per_project"),
)


def rate_limited(group: str | None, bucket: str, message: str = "request rate limited") -> TooManyRequest:
    """Authgear's `TooManyRequest/RateLimited` (its ErrRateLimited, contract 0.2): `bucket_name`, and,
    for a bucket of a named rate limit, `rate_limit` {name, group} and `rate_limit_name` (the group).
    Cooldowns and buckets of no group have no rate limit name, as in Authgear."""
    info: dict[str, Any] = {"bucket_name": bucket}
    kind = next((k for suffix, k in _BUCKET_KINDS if bucket.endswith(suffix)), None) if group else None
    if group and kind:
        info["rate_limit"] = {"name": f"{group}.{kind}", "group": group}
        info["rate_limit_name"] = group
    return TooManyRequest("RateLimited", message, info=info)


@dataclass(frozen=True)
class VerifyLimit:
    """Authgear's rate limits of checking one kind of authenticator: the group, the key of its rules
    under `authentication.rate_limits`, its buckets' common name and the rules it counts per IP and
    per user per IP (None: not here). Its rules fall back to `general`'s, and so does the weight a
    hook gives it."""

    group: str
    key: str
    bucket: str
    per_ip: str | None = "per_ip"
    per_user_per_ip: str | None = "per_user_per_ip"

    def rule(self, rules: dict[str, Any], kind: str) -> dict[str, Any] | None:
        """Authgear's resolveConfig: the group's own rule when it sets `enabled` (true or false),
        `general`'s otherwise."""
        node: Any = rules
        for part in self.key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        own = node.get(kind) if isinstance(node, dict) else None
        if isinstance(own, dict) and "enabled" in own:
            return own
        return (rules.get("general") or {}).get(kind.removeprefix("validate_"))


PASSWORD_LIMIT = VerifyLimit("authentication.password", "password", "VerifyPassword")
TOTP_LIMIT = VerifyLimit("authentication.totp", "totp", "VerifyTOTP")
RECOVERY_CODE_LIMIT = VerifyLimit("authentication.recovery_code", "recovery_code", "VerifyRecoveryCode")
PASSKEY_LIMIT = VerifyLimit("authentication.passkey", "passkey", "VerifyPasskey", per_user_per_ip=None)


def verification_rule(rules: dict[str, Any], bucket: str) -> dict[str, Any] | None:
    """The rule behind a bucket of the limits above (e.g. VerifyPasswordPerUserPerIP), or None."""
    for limit in (PASSWORD_LIMIT, TOTP_LIMIT, RECOVERY_CODE_LIMIT, PASSKEY_LIMIT):
        for suffix, kind in (("PerIP", limit.per_ip), ("PerUserPerIP", limit.per_user_per_ip)):
            if kind and bucket == limit.bucket + suffix:
                return limit.rule(rules, kind)
    return None


def oob_otp_limit(channel: str) -> VerifyLimit:
    """Validating an OOB OTP of the authenticate step: per user per IP here (per IP: the OTP
    service). WhatsApp codes count in the SMS group under buckets of their own, as in Authgear."""
    rules_channel = "email" if channel == "email" else "sms"
    bucket = "OOBOTPValidate" + {"email": "Email", "sms": "SMS"}.get(channel, "Whatsapp")
    group = f"authentication.oob_otp.{rules_channel}.validate"
    return VerifyLimit(group, f"oob_otp.{rules_channel}", bucket, None, "validate_per_user_per_ip")


# The weight keys a blocking hook may answer (Authgear's hook response schema): the verification
# groups above take `authentication.general`'s, account enumeration its own.
GENERAL_WEIGHT = "authentication.general"
ACCOUNT_ENUMERATION_WEIGHT = "authentication.account_enumeration"


def hook_weight(weights: dict[str, Any] | None, key: str) -> float:
    """Authgear's ResolveWeight: the hook's weight for `key`, else 1; never below 0."""
    entry = (weights or {}).get(key)
    weight = entry.get("weight", 1) if isinstance(entry, dict) else 1
    return max(float(weight), 0.0)


class RateLimiter:
    def __init__(self, store: KVStore, clock: Clock = utcnow, disabled: bool = False) -> None:
        """`disabled`: authgear.features.yaml `rate_limits.disabled`, every limit and cooldown off (as
        Authgear's Limiter; the account lockout is not a rate limit and stays)."""
        self.store = store
        self.clock = clock
        self.disabled = disabled

    def check(self, group: str | None, name: str, scope: str, rule: dict[str, Any] | None, weight: float = 1.0) -> None:
        """Count an attempt of `name` for `scope`, as `weight` attempts; `TooManyRequest/RateLimited`
        past `rule.burst` per period.

        `rule` is Authgear's `{"enabled": bool, "period": "1m", "burst": 60}`; a missing rule or
        `enabled: false` means no limit; so does a weight of 0 (Authgear reserves nothing then)."""
        if not rule or not rule.get("enabled", True) or "period" not in rule or "burst" not in rule:
            return
        if weight <= 0 or self.disabled:
            return
        period = parse_duration(rule["period"])
        burst = int(rule["burst"])
        if period <= 0 or burst <= 0:
            return
        now = self.clock().timestamp()
        window = math.floor(now / period)
        overlap = 1.0 - (now - window * period) / period
        base = f"ratelimit:{name}:{_scope_key(scope)}:"
        key = base + str(window)
        # Keys must outlive the next window, which reads them as its `previous`.
        ttl = 2 * period + 1
        # The previous window's count and this attempt's increment: one round trip.
        raw_previous, count = self.store.get_and_add(base + str(window - 1), key, ttl, weight)
        previous = float(raw_previous or 0)
        if count + previous * overlap > burst:
            self.store.add(key, ttl, -weight)
            raise rate_limited(group, name)

    def check_verification(
        self, limit: VerifyLimit, rules: dict[str, Any], ip: str, user_id: str | None, weight: float = 1.0
    ) -> None:
        """A check of an authenticator (`limit`): per IP, and per user per IP when the user is known."""
        if limit.per_ip:
            self.check(limit.group, limit.bucket + "PerIP", ip, limit.rule(rules, limit.per_ip), weight)
        if user_id and limit.per_user_per_ip:
            rule = limit.rule(rules, limit.per_user_per_ip)
            self.check(limit.group, limit.bucket + "PerUserPerIP", f"{user_id}:{ip}", rule, weight)

    def cooldown(self, name: str, scope: str, seconds: float) -> datetime:
        """Start a cooldown of `seconds` for `scope`, or `TooManyRequest/RateLimited` while one runs.

        Returns when the next cooldown may start (e.g. an OTP's `can_resend_at`)."""
        now = self.clock()
        if seconds <= 0 or self.disabled:
            return now
        key = f"cooldown:{name}:{_scope_key(scope)}"
        current = self.store.get(key)
        if current is not None and float(current) > now.timestamp():
            raise rate_limited(None, name)
        # Only one caller may replace this particular value: the claim is keyed by it. The claim
        # lives no longer than the value it guards, so an expired "no value" state can recur.
        claim = f"{key}:after:{current.decode() if current is not None else '-'}"
        if not self.store.set(claim, "1", ttl=seconds, only_new=True):
            raise rate_limited(None, name)
        until = now + timedelta(seconds=seconds)
        self.store.set(key, f"{until.timestamp():.6f}", ttl=seconds + 5)
        return until

    def end_cooldown(self, name: str, scope: str) -> None:
        """End a running cooldown now. The value becomes this instant, which no claim is keyed by
        yet, so exactly one next `cooldown` may start."""
        self.store.set(f"cooldown:{name}:{_scope_key(scope)}", f"{self.clock().timestamp():.6f}", ttl=5)

    def cooldown_until(self, name: str, scope: str) -> datetime | None:
        """The end of the running cooldown of `name` for `scope`, or None."""
        current = self.store.get(f"cooldown:{name}:{_scope_key(scope)}")
        if current is None:
            return None
        until = datetime.fromtimestamp(float(current), UTC)
        return until if until > self.clock() else None


class AccountLockout:
    """`authentication.lockout`: lock a user (or a user from one IP) after repeated failures."""

    BUCKET = "AccountAuthentication"

    def __init__(self, store: KVStore, lockout_config: dict[str, Any], clock: Clock = utcnow) -> None:
        self.store = store
        self.clock = clock
        self.max_attempts = int(lockout_config.get("max_attempts", 0) or 0)
        self.history = parse_duration(lockout_config.get("history_duration", "1h"))
        self.minimum = parse_duration(lockout_config.get("minimum_duration", "1m"))
        self.maximum = parse_duration(lockout_config.get("maximum_duration", "1h"))
        self.backoff = float(lockout_config.get("backoff_factor", 2))
        self.per_ip = lockout_config.get("lockout_type", "per_user") == "per_user_per_ip"

    @property
    def enabled(self) -> bool:
        return self.max_attempts > 0

    def _keys(self, user_id: str, ip: str) -> tuple[str, str, str]:
        base = f"lockout:{_scope_key(user_id)}"
        contributor = f"{base}:ip:{_scope_key(ip)}"
        lock = f"{base}:lock:{_scope_key(ip)}" if self.per_ip else f"{base}:lock"
        return f"{base}:total", contributor, lock

    def locked_until(self, user_id: str, ip: str) -> datetime | None:
        if not self.enabled:
            return None
        value = self.store.get(self._keys(user_id, ip)[2])
        if value is None:
            return None
        until = datetime.fromtimestamp(float(value), UTC)
        return until if until > self.clock() else None

    def check(self, user_id: str, ip: str) -> None:
        """`TooManyRequest/AccountLockout` (info.until, RFC 3339) while the account is locked."""
        until = self.locked_until(user_id, ip)
        if until is not None:
            raise TooManyRequest("AccountLockout", "account locked", info={"until": rfc3339(until)})

    def record_failure(self, user_id: str, ip: str) -> None:
        if not self.enabled or self.locked_until(user_id, ip) is not None:
            # As in Authgear, attempts made while locked are refused, not counted.
            return
        total_key, contributor_key, lock_key = self._keys(user_id, ip)
        total = self.store.incr(total_key, self.history)
        contributed = self.store.incr(contributor_key, self.history)
        attempts = contributed if self.per_ip else total
        if attempts < self.max_attempts:
            return
        exponent = min(attempts - self.max_attempts, 64)
        duration = min(self.minimum * self.backoff**exponent, self.maximum)
        # Whole seconds, rounded up, so the `until` a client sees is never before the real end.
        until = math.ceil(self.clock().timestamp() + duration)
        self.store.set(lock_key, str(until), ttl=duration + 1)

    def clear(self, user_id: str) -> None:
        """An administrator's unlock (Admin API `resetAccountLockout`): the user's failure total and
        its lock go now. Per-IP locks (lockout_type per_user_per_ip) are keyed by IP, which the store
        cannot list, so those still end on their own."""
        total_key, _, lock_key = self._keys(user_id, "")
        self.store.delete(total_key, *([] if self.per_ip else [lock_key]))

    def reset(self, user_id: str, ip: str | None = None) -> None:
        """Forget failures after a successful authentication.

        With `ip` (Authgear's behaviour) only that IP's failures are forgotten, so a user who logs
        in from home does not wipe an attacker's count from elsewhere. Without it the user's total
        is cleared; per-IP counts (lockout_type per_user_per_ip) then stay until they expire.
        A running lock is kept: it ends on its own."""
        if not self.enabled:
            return
        total_key, contributor_key, _ = self._keys(user_id, ip or "")
        if ip is None:
            self.store.delete(total_key)
            return
        contributed = int(self.store.take(contributor_key) or 0)  # one round trip when there were none
        if contributed and self.store.get(total_key) is not None:
            if self.store.incr(total_key, self.history, -contributed) <= 0:
                self.store.delete(total_key)

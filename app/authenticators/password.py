"""Password hashing and policy.

New hashes are argon2id (m=19456 KiB, t=2, p=1, OWASP). bcrypt hashes (`$2a$`, `$2b$`, `$2y$`) from
imports are verified and upgraded to argon2id on the next successful login. A check against a
user who has no password still costs one argon2id verification, so timing does not tell who exists.
A stored hash whose work factors exceed `imported_hashes`' bounds (`MAX_ARGON2_*`, `MAX_BCRYPT_COST`,
...) is never computed: the check fails as a wrong password does, and a warning names the user.

A stored hash whose check costs more than ~100 ms (`imported_hashes.is_expensive`: imported bcrypt
cost >= 11, argon2 m*t about 5x ours, scrypt, Django PBKDF2, ...) is a lever on the CPU, so its
checks are bounded twice: `before_expensive` (the caller's per-user rate limit,
`authentication.rate_limits.password.x_expensive_hash_per_user`) runs first, and at most
`MAX_CONCURRENT_EXPENSIVE` of them run at once in a process. A check that finds every slot taken
waits up to `EXPENSIVE_WAIT_SECONDS`, then is refused with `TooManyRequest/RateLimited` (bucket
`PasswordExpensiveHashConcurrency`): a bounded wait instead of an unbounded queue, and the error
that Authgear clients already read as "try again later"; it is not a failed attempt (no lockout
count). Cheap checks, ours included, never wait for these slots, so a flood of expensive checks
cannot hold up ordinary logins. The first successful login replaces any such hash with argon2id.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.authenticators import imported_hashes
from app.errors import Invalid
from app.ratelimit import rate_limited

log = logging.getLogger("gatehouse.passwords")

ARGON2 = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# A hash of a random string: verifying against it spends the same time as a real check.
_DUMMY_HASH = ARGON2.hash("gatehouse-timing-equalizer")


# Rate-limit names of the expensive checks (group and buckets, as Authgear names its own).
EXPENSIVE_GROUP = "authentication.password"
EXPENSIVE_PER_USER_BUCKET = "PasswordExpensiveHashPerUser"
EXPENSIVE_CONCURRENCY_BUCKET = "PasswordExpensiveHashConcurrency"
# Half the cores: expensive checks (up to seconds and 1 GiB each) never take the whole machine.
MAX_CONCURRENT_EXPENSIVE = max(1, (os.cpu_count() or 2) // 2)
EXPENSIVE_WAIT_SECONDS = 2.0
_EXPENSIVE_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_EXPENSIVE)


@contextmanager
def _expensive_slot() -> Iterator[None]:
    if not _EXPENSIVE_SLOTS.acquire(timeout=EXPENSIVE_WAIT_SECONDS):
        log.warning("expensive password hash check refused: %d already running", MAX_CONCURRENT_EXPENSIVE)
        raise rate_limited(EXPENSIVE_GROUP, EXPENSIVE_CONCURRENCY_BUCKET, "too many password checks in progress")
    try:
        yield
    finally:
        _EXPENSIVE_SLOTS.release()


def hash_password(password: str) -> str:
    return ARGON2.hash(password)


def is_bcrypt(hashed: str) -> bool:
    return hashed.startswith(_BCRYPT_PREFIXES)


def _spend_one_check(password: str) -> None:
    try:
        ARGON2.verify(_DUMMY_HASH, password)
    except VerificationError:
        pass


def verify_password(
    hashed: str | None,
    password: str,
    user_id: str | None = None,
    before_expensive: Callable[[], None] | None = None,
) -> bool:
    """True when `password` matches `hashed`. A missing hash, or one beyond the cost bounds, spends a
    dummy argon2id check and is False; `user_id` only names the user in that warning. For an
    expensive hash `before_expensive` runs first (it may raise), then the check takes a slot."""
    if hashed is None:
        _spend_one_check(password)
        return False
    problem = imported_hashes.cost_problem(hashed)
    if problem is not None:
        # The reason names the parameter (e.g. "argon2 memory m=4194304 KiB is above ..."), never
        # the salt or digest.
        log.warning("stored password hash of user %s not verified: %s", user_id, problem)
        _spend_one_check(password)
        return False
    if not imported_hashes.is_expensive(hashed):
        return _check(hashed, password)
    if before_expensive is not None:
        before_expensive()
    with _expensive_slot():
        return _check(hashed, password)


def _check(hashed: str, password: str) -> bool:
    if is_bcrypt(hashed):
        try:
            # PHP's $2y$ is the same algorithm as $2b$.
            candidate = hashed.replace("$2y$", "$2b$", 1).encode()
            return bcrypt.checkpw(password.encode()[:72], candidate)
        except ValueError:
            return False
    if not hashed.startswith("$argon2id$"):
        # argon2i, scrypt, PBKDF2, Firebase scrypt and salted SHA-2 hashes from the User Import API.
        return imported_hashes.verify(hashed, password)
    try:
        return ARGON2.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """Anything but an argon2id hash with the current parameters is upgraded on login."""
    if not hashed.startswith("$argon2id$"):
        return True
    try:
        return ARGON2.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


def guessable_level(password: str) -> int:
    """Authgear's guessable level: the zxcvbn score (0-4) plus one."""
    # Imported here: its word lists take about 12 MB in every process that imports it, and only
    # a policy with `minimum_guessable_level` needs them.
    from zxcvbn import zxcvbn

    # zxcvbn's cost grows with length; past 100 characters the score no longer changes.
    return int(zxcvbn(password[:100])["score"]) + 1


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 8
    uppercase_required: bool = False
    lowercase_required: bool = False
    alphabet_required: bool = False
    digit_required: bool = False
    symbol_required: bool = False
    minimum_guessable_level: int = 0
    excluded_keywords: tuple[str, ...] = ()
    history_size: int = 0
    history_days: int = 0

    @classmethod
    def from_config(cls, policy: dict[str, Any]) -> PasswordPolicy:
        fields = {k: v for k, v in policy.items() if k in cls.__dataclass_fields__}
        fields["excluded_keywords"] = tuple(fields.get("excluded_keywords") or ())
        return cls(**fields)

    def violations(self, password: str) -> list[dict[str, Any]]:
        """Authgear's `PasswordPolicyViolated` causes: `{"Name": ..., "Info": ...}`."""
        out: list[dict[str, Any]] = []
        if len(password) < self.min_length:
            out.append(
                {"Name": "PasswordTooShort", "Info": {"min_length": self.min_length, "pw_length": len(password)}}
            )
        if self.uppercase_required and not re.search(r"[A-Z]", password):
            out.append({"Name": "PasswordUppercaseRequired"})
        if self.lowercase_required and not re.search(r"[a-z]", password):
            out.append({"Name": "PasswordLowercaseRequired"})
        if self.alphabet_required and not re.search(r"[A-Za-z]", password):
            out.append({"Name": "PasswordAlphabetRequired"})
        if self.digit_required and not re.search(r"[0-9]", password):
            out.append({"Name": "PasswordDigitRequired"})
        if self.symbol_required and not re.search(r"[^A-Za-z0-9]", password):
            out.append({"Name": "PasswordSymbolRequired"})
        lowered = password.lower()
        if any(k.lower() in lowered for k in self.excluded_keywords if k):
            out.append({"Name": "PasswordContainingExcludedKeywords"})
        if self.minimum_guessable_level > 0:
            level = guessable_level(password)
            if level < self.minimum_guessable_level:
                out.append(
                    {
                        "Name": "PasswordBelowGuessableLevel",
                        "Info": {"min_level": self.minimum_guessable_level, "pw_level": level},
                    }
                )
        return out

    def check(self, password: str) -> None:
        causes = self.violations(password)
        if causes:
            raise Invalid("PasswordPolicyViolated", "password violates the policy", {"causes": causes})

    def to_api(self) -> dict[str, Any]:
        """The `password_policy` object of the flow API (contract 6.6); absent key = not required."""
        out: dict[str, Any] = {"minimum_length": self.min_length}
        for name in (
            "uppercase_required",
            "lowercase_required",
            "alphabet_required",
            "digit_required",
            "symbol_required",
        ):
            if getattr(self, name):
                out[name] = True
        if self.minimum_guessable_level:
            out["minimum_zxcvbn_score"] = max(0, self.minimum_guessable_level - 1)
        history = {"enabled": bool(self.history_size or self.history_days)}
        if self.history_size:
            history["size"] = self.history_size
        if self.history_days:
            history["days"] = self.history_days
        out["history"] = history
        if self.excluded_keywords:
            out["excluded_keywords"] = list(self.excluded_keywords)
        return out

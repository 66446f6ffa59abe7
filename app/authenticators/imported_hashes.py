"""Password hashes brought in by the User Import API, besides argon2id and bcrypt.

An imported hash is stored as it is and verified here until the user's next successful login,
when `PasswordService.verify` replaces it with an argon2id hash (`needs_rehash` is true for
anything that is not argon2id with the current parameters). Every accepted format is
self-describing, so the stored string alone says how to check it:

| import `type`     | `password_hash` format (example)                                                      |
|-------------------|---------------------------------------------------------------------------------------|
| `bcrypt`          | `$2b$12$...` (also `$2a$`, `$2y$`); verified in `app.authenticators.password`         |
| `argon2`          | PHC string: `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>` or `$argon2i$...`           |
| `scrypt`          | passlib: `$scrypt$ln=16,r=8,p=1$<b64 salt>$<b64 hash>` (32-byte key)                  |
|                   | Django: `scrypt$16384$<salt>$8$1$<b64 hash>` (`scrypt$N$salt$r$p$hash`, 64-byte key)  |
| `pbkdf2_sha256`   | Django: `pbkdf2_sha256$870000$<salt>$<b64 hash>`                                      |
|                   | passlib: `$pbkdf2-sha256$29000$<ab64 salt>$<ab64 hash>`                               |
| `pbkdf2_sha512`   | Django layout: `pbkdf2_sha512$<iterations>$<salt>$<b64 hash>`                         |
|                   | passlib: `$pbkdf2-sha512$25000$<ab64 salt>$<ab64 hash>`                               |
| `firebase_scrypt` | `$firebase_scrypt$rounds=8,mem_cost=14$<salt separator>$<signer key>$<salt>$<hash>`   |
|                   | (all four base64, as Firebase's `auth:export` and project hash config give them)    |
| `sha256`/`sha512` | `$sha256$<prefix|suffix>$<salt>$<hex digest>`: the digest of salt+password (prefix)  |
|                   | or password+salt (suffix); the salt is text and may be empty                          |

Django salts are text (UTF-8), passlib's are "adapted base64" (`.` for `+`, no padding).
Work factors are bounded (the `MAX_*` constants below) so that one crafted hash cannot make a
login cost minutes or gigabytes: a hash beyond them is refused at import (`validate`), and a stored
one is never computed (`cost_problem`, checked by `verify_password` before any work).
All comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

import bcrypt as _bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.errors import Invalid

IMPORT_TYPES = (
    "bcrypt",
    "argon2",
    "scrypt",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "firebase_scrypt",
    "sha256",
    "sha512",
)
MAX_STORED_LENGTH = 300  # authenticators.password_hash

# Work-factor bounds: the most one verification may cost, at import and at login. They admit every
# published configuration: OWASP's argon2id options (7-46 MiB, t 1-5, p 1), the defaults of PHP
# (64 MiB, t=4), argon2-cffi and RFC 9106's second choice (64 MiB, t=3, p=4), Django (100 MiB, t=2,
# p=8), libsodium's presets up to "sensitive" (1 GiB, t=4); bcrypt costs 10-14 (OWASP: 10 or more).
# The worst accepted hash takes about 5 s and 1 GiB (argon2id: ~1.4 ms per MiB per pass on one
# core; bcrypt doubles per cost step, 14 ~ 1 s), instead of minutes and 4 GiB+ unbounded.
MAX_ARGON2_MEMORY_KIB = 1024 * 1024  # m, KiB: 1 GiB
MAX_ARGON2_TIME = 16  # t, passes
MAX_ARGON2_LANES = 16  # p, lanes (argon2 runs one thread per lane)
MAX_ARGON2_WORK_KIB = 4 * 1024 * 1024  # m * t: the time a check takes, 1 GiB x 4 passes
MIN_BCRYPT_COST = 4
MAX_BCRYPT_COST = 16
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
MAX_SCRYPT_P = 16
MAX_PBKDF2_ITERATIONS = 5_000_000

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_BCRYPT_COST = re.compile(r"^\$2[aby]\$(\d+)\$")
_ARGON2 = re.compile(r"^\$argon2(id|i)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")
# What the argon2 library itself reads (any variant, version optional): cost bounds apply to it all.
_ARGON2_PARAMETERS = re.compile(r"^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=(\d+),t=(\d+),p=(\d+)\$")
_ARGON2_VERIFIER = PasswordHasher()


class InvalidBcryptHash(Invalid):
    def __init__(self, why: str = "") -> None:
        super().__init__("InvalidBcryptHash", f"invalid bcrypt hash: {why}" if why else "invalid bcrypt hash")


class CostTooHigh(ValueError):
    """A work factor beyond the bounds above; the message names the parameter, never the hash."""


class InvalidPasswordHash(Invalid):
    def __init__(self, type_: str, why: str) -> None:
        super().__init__("InvalidPasswordHash", f"invalid {type_} hash: {why}", {"type": type_})


@dataclass(frozen=True)
class _Parsed:
    """What a check needs: a function of the password that gives the expected bytes."""

    expected: bytes
    derive: Callable[[bytes], bytes]


def _b64(text: str, *, adapted: bool = False) -> bytes:
    """Standard base64 (padding optional); `adapted` reads passlib's `.` for `+`."""
    if adapted:
        text = text.replace(".", "+")
    if not re.fullmatch(r"[A-Za-z0-9+/]*=*", text):
        raise ValueError("not base64")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _int(text: str, low: int, high: int) -> int:
    """A work factor: `ValueError` below `low`, `CostTooHigh` above `high` (every caller's bound)."""
    if not text.isascii() or not text.isdigit():
        raise ValueError("not a number")
    value = int(text)
    if value < low:
        raise ValueError(f"{value} is outside {low}..{high}")
    if value > high:
        raise CostTooHigh(f"{value} is above {high}")
    return value


def _scrypt(salt: bytes, n: int, r: int, p: int, dklen: int) -> Callable[[bytes], bytes]:
    if n < 2 or n & (n - 1):
        raise ValueError("N must be a power of two")
    memory = 128 * r * (n + p + 2)
    if memory > MAX_SCRYPT_MEMORY:
        raise CostTooHigh(f"scrypt needs {memory // (1024 * 1024)} MiB, above {MAX_SCRYPT_MEMORY // (1024 * 1024)} MiB")
    return lambda pw: hashlib.scrypt(pw, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=memory + 1024 * 1024)


def _parse_scrypt(text: str) -> _Parsed:
    if text.startswith("$scrypt$"):
        # passlib: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<key>
        parts = text.split("$")
        if len(parts) != 5:
            raise ValueError("expected $scrypt$ln=..,r=..,p=..$salt$hash")
        params = dict(item.partition("=")[::2] for item in parts[2].split(","))
        if set(params) != {"ln", "r", "p"}:
            raise ValueError("parameters must be ln, r and p")
        ln, r, p = _int(params["ln"], 1, 30), _int(params["r"], 1, 64), _int(params["p"], 1, MAX_SCRYPT_P)
        salt, expected = _b64(parts[3]), _b64(parts[4])
        return _Parsed(expected, _scrypt(salt, 1 << ln, r, p, len(expected)))
    # Django: scrypt$<N>$<salt>$<r>$<p>$<key>
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("expected scrypt$N$salt$r$p$hash or $scrypt$...")
    n, r, p = _int(parts[1], 2, 1 << 30), _int(parts[3], 1, 64), _int(parts[4], 1, MAX_SCRYPT_P)
    expected = _b64(parts[5])
    return _Parsed(expected, _scrypt(parts[2].encode(), n, r, p, len(expected)))


def _parse_pbkdf2(text: str, digest: str) -> _Parsed:
    django_prefix, passlib_prefix = f"pbkdf2_{digest}$", f"$pbkdf2-{digest}$"
    parts = text.split("$")
    if text.startswith(passlib_prefix):
        if len(parts) != 5:
            raise ValueError(f"expected $pbkdf2-{digest}$rounds$salt$hash")
        iterations, salt, expected = parts[2], _b64(parts[3], adapted=True), _b64(parts[4], adapted=True)
    elif text.startswith(django_prefix):
        if len(parts) != 4:
            raise ValueError(f"expected pbkdf2_{digest}$iterations$salt$hash")
        iterations, salt, expected = parts[1], parts[2].encode(), _b64(parts[3])
    else:
        raise ValueError(f"expected pbkdf2_{digest}$... (Django) or $pbkdf2-{digest}$... (passlib)")
    rounds = _int(iterations, 1, MAX_PBKDF2_ITERATIONS)
    if not expected:
        raise ValueError("empty hash")
    return _Parsed(expected, lambda pw: hashlib.pbkdf2_hmac(digest, pw, salt, rounds, len(expected)))


def _parse_firebase(text: str) -> _Parsed:
    # Firebase's modified scrypt: key = scrypt(password, salt + separator, N=2^mem_cost, r=rounds,
    # p=1); the hash is the signer key encrypted with AES-256-CTR under the first 32 key bytes,
    # counter block all zero (github.com/firebase/scrypt).
    parts = text.split("$")
    if len(parts) != 7 or parts[1] != "firebase_scrypt":
        raise ValueError("expected $firebase_scrypt$rounds=..,mem_cost=..$separator$signer_key$salt$hash")
    params = dict(item.partition("=")[::2] for item in parts[2].split(","))
    if set(params) != {"rounds", "mem_cost"}:
        raise ValueError("parameters must be rounds and mem_cost")
    rounds, mem_cost = _int(params["rounds"], 1, 64), _int(params["mem_cost"], 1, 20)
    separator, signer_key, salt, expected = (_b64(p) for p in parts[3:7])
    if not signer_key or len(expected) != len(signer_key):
        raise ValueError("the hash must be as long as the signer key")
    key_of = _scrypt(salt + separator, 1 << mem_cost, rounds, 1, 32)

    def derive(pw: bytes) -> bytes:
        encryptor = Cipher(algorithms.AES(key_of(pw)), modes.CTR(b"\x00" * 16)).encryptor()
        return encryptor.update(signer_key) + encryptor.finalize()

    return _Parsed(expected, derive)


def _parse_salted(text: str, digest: str) -> _Parsed:
    # $sha256$<prefix|suffix>$<salt, may contain $>$<hex digest>
    parts = text.split("$")
    if len(parts) < 5 or parts[1] != digest or parts[2] not in ("prefix", "suffix"):
        raise ValueError(f"expected ${digest}$prefix|suffix$salt$hexdigest")
    position, salt, hex_digest = parts[2], "$".join(parts[3:-1]).encode(), parts[-1]
    size = hashlib.new(digest).digest_size
    if len(hex_digest) != 2 * size:
        raise ValueError(f"the digest must be {2 * size} hex characters")
    expected = bytes.fromhex(hex_digest)
    if position == "prefix":
        return _Parsed(expected, lambda pw: hashlib.new(digest, salt + pw).digest())
    return _Parsed(expected, lambda pw: hashlib.new(digest, pw + salt).digest())


def _check_argon2_cost(text: str) -> None:
    """`CostTooHigh` for argon2 parameters beyond the bounds; `ValueError` when they cannot be read."""
    match = _ARGON2_PARAMETERS.match(text)
    if match is None:
        raise ValueError("argon2 parameters m, t and p cannot be read")
    m, t, p = (int(g) for g in match.groups())
    if m > MAX_ARGON2_MEMORY_KIB:
        raise CostTooHigh(f"argon2 memory m={m} KiB is above {MAX_ARGON2_MEMORY_KIB} KiB")
    if t > MAX_ARGON2_TIME:
        raise CostTooHigh(f"argon2 time t={t} is above {MAX_ARGON2_TIME}")
    if p > MAX_ARGON2_LANES:
        raise CostTooHigh(f"argon2 parallelism p={p} is above {MAX_ARGON2_LANES}")
    if m * t > MAX_ARGON2_WORK_KIB:
        raise CostTooHigh(f"argon2 m*t={m * t} KiB is above {MAX_ARGON2_WORK_KIB} KiB")


def _check_argon2(text: str) -> None:
    match = _ARGON2.match(text)
    if match is None:
        raise ValueError("expected a PHC string $argon2id$v=19$m=..,t=..,p=..$salt$hash (or $argon2i$)")
    _check_argon2_cost(text)
    m, t, p = (int(g) for g in match.groups()[1:])
    if m < 8 * p or t < 1 or p < 1:
        raise ValueError("argon2 needs t >= 1, p >= 1 and m >= 8 * p")


def _check_bcrypt_cost(text: str) -> int:
    """The cost of a bcrypt hash; `CostTooHigh` above the bound, `ValueError` when unreadable."""
    match = _BCRYPT_COST.match(text)
    if match is None:
        raise ValueError("the bcrypt cost cannot be read")
    cost = int(match.group(1))
    if cost > MAX_BCRYPT_COST:
        raise CostTooHigh(f"bcrypt cost {cost} is above {MAX_BCRYPT_COST}")
    return cost


_PARSERS: dict[str, Callable[[str], _Parsed]] = {
    "scrypt": _parse_scrypt,
    "pbkdf2_sha256": lambda t: _parse_pbkdf2(t, "sha256"),
    "pbkdf2_sha512": lambda t: _parse_pbkdf2(t, "sha512"),
    "firebase_scrypt": _parse_firebase,
    "sha256": lambda t: _parse_salted(t, "sha256"),
    "sha512": lambda t: _parse_salted(t, "sha512"),
}


def type_of(stored: str) -> str | None:
    """The import type a stored hash belongs to, from its prefix; None when unknown."""
    if _BCRYPT.match(stored):
        return "bcrypt"
    if stored.startswith(("$argon2id$", "$argon2i$")):
        return "argon2"
    if stored.startswith(("$scrypt$", "scrypt$")):
        return "scrypt"
    for digest in ("sha256", "sha512"):
        if stored.startswith((f"pbkdf2_{digest}$", f"$pbkdf2-{digest}$")):
            return f"pbkdf2_{digest}"
        if stored.startswith(f"${digest}$"):
            return digest
    if stored.startswith("$firebase_scrypt$"):
        return "firebase_scrypt"
    return None


def cost_problem(stored: str) -> str | None:
    """Why verifying `stored` would cost more than the bounds allow, or None. An argon2 or bcrypt
    hash whose cost cannot be read counts too: nothing else bounds what its library would do. Other
    unreadable hashes are None here and fail in their parsers before any work."""
    try:
        if stored.startswith(_BCRYPT_PREFIXES):
            _check_bcrypt_cost(stored)
        elif stored.startswith("$argon2"):
            _check_argon2_cost(stored)
        elif (type_ := type_of(stored)) in _PARSERS:
            _PARSERS[type_](stored)
    except CostTooHigh as exc:
        return str(exc)
    except (ValueError, binascii.Error) as exc:
        if stored.startswith((*_BCRYPT_PREFIXES, "$argon2")):
            return str(exc)
    return None


# What one verification of a stored hash roughly costs on one core, in milliseconds, measured with
# the libraries used here: argon2 ~0.0006 ms per KiB per pass (ours, 19 MiB x 2, ~20 ms; 64 MiB x 3 ~ 120 ms), bcrypt
# ~0.06 ms x 2^cost (10 ~ 63 ms, 12 ~ 300 ms), scrypt ~0.00045 ms per N*r*p (2^14 x 8 ~ 60 ms),
# PBKDF2 ~0.28 us per SHA-256 iteration (Django's 870,000 ~ 240 ms; SHA-512 about 1.5x).
# A hash above EXPENSIVE_MS is "expensive": its checks go through the per-user limit and the
# process-wide cap of `app.authenticators.password` (an attacker's lever on the CPU).
EXPENSIVE_MS = 100.0
_MS_PER_ARGON2_KIB_PASS = 0.0006
_MS_PER_BCRYPT_ROUND = 0.06
_MS_PER_SCRYPT_NRP = 0.00045
_MS_PER_PBKDF2 = {"sha256": 0.00028, "sha512": 0.00042}


def estimated_ms(stored: str) -> float:
    """The rough CPU time of one check of `stored` (0 for hashes that are cheap or unreadable)."""
    try:
        if stored.startswith(_BCRYPT_PREFIXES):
            return _MS_PER_BCRYPT_ROUND * 2 ** _check_bcrypt_cost(stored)
        if stored.startswith("$argon2"):
            match = _ARGON2_PARAMETERS.match(stored)
            if match is None:
                return 0.0
            m, t, _ = (int(g) for g in match.groups())
            return _MS_PER_ARGON2_KIB_PASS * m * t
        type_ = type_of(stored)
        if type_ == "scrypt":
            if stored.startswith("$scrypt$"):
                params = dict(item.partition("=")[::2] for item in stored.split("$")[2].split(","))
                n, r, p = 1 << int(params["ln"]), int(params["r"]), int(params["p"])
            else:
                parts = stored.split("$")
                n, r, p = int(parts[1]), int(parts[3]), int(parts[4])
            return _MS_PER_SCRYPT_NRP * n * r * p
        if type_ == "firebase_scrypt":
            params = dict(item.partition("=")[::2] for item in stored.split("$")[2].split(","))
            return _MS_PER_SCRYPT_NRP * (1 << int(params["mem_cost"])) * int(params["rounds"])
        if type_ in ("pbkdf2_sha256", "pbkdf2_sha512"):
            parts = stored.split("$")
            iterations = int(parts[2] if stored.startswith("$") else parts[1])
            return _MS_PER_PBKDF2[type_[-6:]] * iterations
    except (ValueError, KeyError, IndexError):
        return 0.0
    return 0.0


def is_expensive(stored: str) -> bool:
    return estimated_ms(stored) >= EXPENSIVE_MS


def validate(type_: str, password_hash: str) -> str:
    """The hash to store for an imported `{type, password_hash}`, or `InvalidBcryptHash` /
    `InvalidPasswordHash` (also for work factors beyond the bounds, with the bound in the message)."""
    if type_ == "bcrypt":
        match = _BCRYPT.match(password_hash)
        if match is None:
            raise InvalidBcryptHash()
        try:
            cost = _check_bcrypt_cost(password_hash)
        except CostTooHigh as exc:
            raise InvalidBcryptHash(str(exc)) from None
        if cost < MIN_BCRYPT_COST:
            raise InvalidBcryptHash(f"bcrypt cost {cost} is below {MIN_BCRYPT_COST}")
        return password_hash
    if type_ not in IMPORT_TYPES:
        raise InvalidPasswordHash(type_, "unknown type")
    if len(password_hash) > MAX_STORED_LENGTH:
        raise InvalidPasswordHash(type_, f"longer than {MAX_STORED_LENGTH} characters")
    if type_of(password_hash) != type_:
        raise InvalidPasswordHash(type_, "the hash is not in a format of this type")
    try:
        if type_ == "argon2":
            _check_argon2(password_hash)
        else:
            _PARSERS[type_](password_hash)
    except (ValueError, binascii.Error) as exc:
        raise InvalidPasswordHash(type_, str(exc)) from None
    return password_hash


def verify(stored: str, password: str) -> bool:
    """Whether `password` matches an imported hash; False for anything unreadable."""
    type_ = type_of(stored)
    secret = password.encode()
    try:
        if type_ == "bcrypt":
            _check_bcrypt_cost(stored)
            return _bcrypt.checkpw(secret[:72], stored.replace("$2y$", "$2b$", 1).encode())
        if type_ == "argon2":
            _check_argon2(stored)
            try:
                return _ARGON2_VERIFIER.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False
        if type_ is None:
            return False
        parsed = _PARSERS[type_](stored)
        return hmac.compare_digest(parsed.derive(secret), parsed.expected)
    except (ValueError, binascii.Error, MemoryError):
        return False

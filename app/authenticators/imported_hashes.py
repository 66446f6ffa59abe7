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
Work factors are capped so that one imported hash cannot make a login cost seconds or gigabytes.
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

# Work-factor caps (a login must stay well under a second and 256 MiB).
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
MAX_SCRYPT_P = 16
MAX_PBKDF2_ITERATIONS = 5_000_000
MAX_ARGON2_MEMORY_KIB = 256 * 1024
MAX_ARGON2_TIME = 16
MAX_ARGON2_LANES = 16

_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_ARGON2 = re.compile(r"^\$argon2(id|i)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")
_ARGON2_VERIFIER = PasswordHasher()


class InvalidBcryptHash(Invalid):
    def __init__(self) -> None:
        super().__init__("InvalidBcryptHash", "invalid bcrypt hash")


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
    if not text.isdigit() or len(text) > 10:
        raise ValueError("not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is outside {low}..{high}")
    return value


def _scrypt(salt: bytes, n: int, r: int, p: int, dklen: int) -> Callable[[bytes], bytes]:
    if n < 2 or n & (n - 1):
        raise ValueError("N must be a power of two")
    memory = 128 * r * (n + p + 2)
    if memory > MAX_SCRYPT_MEMORY:
        raise ValueError("scrypt parameters need too much memory")
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


def _check_argon2(text: str) -> None:
    match = _ARGON2.match(text)
    if match is None:
        raise ValueError("expected a PHC string $argon2id$v=19$m=..,t=..,p=..$salt$hash (or $argon2i$)")
    m, t, p = (int(g) for g in match.groups()[1:])
    if not (8 <= m <= MAX_ARGON2_MEMORY_KIB and 1 <= t <= MAX_ARGON2_TIME and 1 <= p <= MAX_ARGON2_LANES):
        raise ValueError("argon2 parameters are outside the accepted range")


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


def validate(type_: str, password_hash: str) -> str:
    """The hash to store for an imported `{type, password_hash}`, or `InvalidBcryptHash` /
    `InvalidPasswordHash`."""
    if type_ == "bcrypt":
        match = _BCRYPT.match(password_hash)
        if match is None or not 4 <= int(match.group(1)) <= 31:
            raise InvalidBcryptHash()
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

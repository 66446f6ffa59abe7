"""Random secrets, their at-rest hashes and constant-time comparison."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

_ALNUM = string.ascii_letters + string.digits


def random_alnum(length: int = 32) -> str:
    """Opaque tokens, codes and refresh secrets: 32 chars of [A-Za-z0-9] (contract 0.4).

    Uniform: random bytes below 248 (4 x 62) map onto the alphabet, the others are dropped."""
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(_ALNUM[b % 62] for b in secrets.token_bytes(length + 8) if b < 248)
    return "".join(chars[:length])


def random_base32(length: int = 32) -> str:
    """Uniform over RFC 4648 base32 letters: each one is 5 random bits."""
    return base64.b32encode(secrets.token_bytes(length * 5 // 8 + 1)).decode()[:length]


def random_digits(length: int = 6) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(length))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""Password hashes of every importable type with the password each was made from.

Where a published test vector exists it is used as it is (RFC 7914 for PBKDF2-HMAC-SHA256 and
scrypt, the passlib documentation's scrypt example, Firebase's own sample from
github.com/firebase/scrypt, FIPS 180 "abc" digests), laid out in each format's documented
string, so these do not depend on how Gatehouse computes anything.
"""

from __future__ import annotations

import base64

import bcrypt
from argon2 import PasswordHasher, Type


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _ab64(data: bytes) -> str:
    """passlib's adapted base64: `.` instead of `+`, no padding."""
    return base64.b64encode(data).decode().rstrip("=").replace("+", ".")


# RFC 7914 section 11: PBKDF2-HMAC-SHA256(P="passwd", S="salt", c=1, dkLen=64).
PBKDF2_SHA256 = bytes.fromhex(
    "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
    "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
)
# The widely published PBKDF2-HMAC-SHA512(P="password", S="salt", c=1, dkLen=64).
PBKDF2_SHA512 = bytes.fromhex(
    "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
    "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
)
# RFC 7914 section 12: scrypt(P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64).
SCRYPT_RFC = bytes.fromhex(
    "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
    "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
)
FIREBASE = (
    "$firebase_scrypt$rounds=8,mem_cost=14$Bw==$"
    "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$42xEC+ixf3L2lw==$"
    "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
)

# (import type, password_hash, password)
HASHES: list[tuple[str, str, str]] = [
    ("bcrypt", bcrypt.hashpw(b"bcrypt-password", bcrypt.gensalt(4)).decode(), "bcrypt-password"),
    ("bcrypt", bcrypt.hashpw(b"php-password", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1), "php-password"),
    ("argon2", PasswordHasher(time_cost=1, memory_cost=64, type=Type.ID).hash("argon2id-pass"), "argon2id-pass"),
    ("argon2", PasswordHasher(time_cost=1, memory_cost=64, type=Type.I).hash("argon2i-pass"), "argon2i-pass"),
    ("scrypt", "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E", "password"),
    ("scrypt", f"scrypt$1024$NaCl$8$16${_b64(SCRYPT_RFC)}", "password"),
    ("pbkdf2_sha256", f"pbkdf2_sha256$1$salt${_b64(PBKDF2_SHA256[:32])}", "passwd"),
    ("pbkdf2_sha256", f"$pbkdf2-sha256$1${_ab64(b'salt')}${_ab64(PBKDF2_SHA256[:32])}", "passwd"),
    ("pbkdf2_sha512", f"pbkdf2_sha512$1$salt${_b64(PBKDF2_SHA512)}", "password"),
    ("pbkdf2_sha512", f"$pbkdf2-sha512$1${_ab64(b'salt')}${_ab64(PBKDF2_SHA512)}", "password"),
    ("firebase_scrypt", FIREBASE, "user1password"),
    # FIPS 180-2 SHA-256("abc") and SHA-512("abc"): salt "ab" before "c", salt "bc" after "a".
    ("sha256", "$sha256$prefix$ab$ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "c"),
    (
        "sha512",
        "$sha512$suffix$bc$ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "a",
    ),
]

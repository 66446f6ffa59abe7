"""Recovery codes: the one-time codes a user keeps for when the second factor is lost.

Like Authgear: 10 characters of Crockford's base32 alphabet (no I, L, O, U), shown as
`XXXXX-XXXXX`. Input is normalized as Crockford specifies (case, spaces and dashes ignored; O
reads as 0, I and L as 1), so a code read aloud or typed from paper still works. Only the SHA-256
of the normalized code is stored; using a code marks it consumed in one conditional UPDATE, so two
requests with the same code cannot both succeed.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, select, update

from app.audit import AuditLogWriter
from app.authenticators.models import RecoveryCode
from app.context import RequestContext
from app.crypto import sha256_hex
from app.db import Clock, utcnow
from app.extensions import db

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None, "\t": None})


def generate(count: int = 16) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))
    return sorted(codes)


def format_for_human(code: str) -> str:
    return f"{code[: LENGTH // 2]}-{code[LENGTH // 2 :]}"


def normalize(code: str) -> str | None:
    """The canonical form of a typed code, or None when it cannot be a recovery code."""
    if not isinstance(code, str) or len(code) > 64:
        return None
    value = code.upper().translate(_READ_AS)
    if len(value) != LENGTH or any(c not in ALPHABET for c in value):
        return None
    return value


class RecoveryCodeService:
    def __init__(self, audit: AuditLogWriter, clock: Clock = utcnow) -> None:
        self.audit = audit
        self.clock = clock

    def replace(self, user_id: str, codes: list[str], ctx: RequestContext | None = None) -> None:
        """Store `codes` (hashed) as the user's recovery codes; earlier ones stop working."""
        normalized = [normalize(c) for c in codes]
        if any(n is None for n in normalized):
            raise ValueError("not a recovery code")
        now = self.clock()
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        for code in dict.fromkeys(normalized):
            row = RecoveryCode(user_id=user_id, code_hash=sha256_hex(code), created_at=now, updated_at=now)
            db.session.add(row)
        db.session.flush()
        self.audit.write("authenticator.recovery_codes.replaced", ctx, user_id, {"count": len(codes)})

    def consume(self, user_id: str, code: str) -> bool:
        """True once for each stored code; False for anything else."""
        value = normalize(code)
        if value is None:
            return False
        result = db.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == sha256_hex(value),
                RecoveryCode.consumed.is_(False),
            )
            .values(consumed=True, updated_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def remaining(self, user_id: str) -> int:
        stmt = select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.consumed.is_(False))
        return int(db.session.scalar(stmt) or 0)

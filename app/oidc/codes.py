"""Authorization codes (RFC 6749 section 4.1): one use, five minutes, stored as SHA-256 hashes.

A code is marked used (not deleted) when it is exchanged, and the code row remembers what it
issued, so that a second exchange can revoke those tokens (RFC 6749 section 4.1.2, RFC 9700 4.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin
from sqlalchemy import delete, select, update

from app.crypto import random_alnum, sha256_hex
from app.db import Clock
from app.extensions import db
from app.sessions.models import AccessToken, IdPSession, OAuthCode, OfflineGrant

CODE_LIFETIME = timedelta(minutes=5)
MAX_CODE_LENGTH = 200


@dataclass(frozen=True)
class SessionlessLogin:
    """A login that made no IdP session (`x_suppress_idp_session_cookie`): what a code needs of one."""

    user_id: str
    authenticated_at: datetime
    amr: list[str]
    id: None = None


@dataclass(eq=False)
class CodeRecord(AuthorizationCodeMixin):
    """authlib's view of a stored code; `code_challenge*` are read by its PKCE extension."""

    row: OAuthCode

    @property
    def code_challenge(self) -> str | None:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str | None:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return " ".join(self.row.scopes)


class CodeService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def create(
        self,
        *,
        client_id: str,
        session: IdPSession | SessionlessLogin,
        redirect_uri: str,
        scopes: list[str],
        nonce: str | None,
        code_challenge: str | None,
        code_challenge_method: str | None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        code = random_alnum(32)
        now = self.clock()
        db.session.add(
            OAuthCode(
                code_hash=sha256_hex(code),
                client_id=client_id,
                user_id=session.user_id,
                idp_session_id=session.id,
                redirect_uri=redirect_uri,
                scopes=list(scopes),
                nonce=nonce,
                code_challenge=code_challenge,
                code_challenge_method=code_challenge_method,
                auth_time=session.authenticated_at,
                amr=list(session.amr or []),
                extra=dict(extra or {}),
                created_at=now,
                expires_at=now + CODE_LIFETIME,
            )
        )
        db.session.flush()
        return code

    def find(self, code: str) -> OAuthCode | None:
        if not code or len(code) > MAX_CODE_LENGTH:
            return None
        return db.session.scalar(select(OAuthCode).where(OAuthCode.code_hash == sha256_hex(code)))

    def is_expired(self, row: OAuthCode) -> bool:
        return row.expires_at <= self.clock()

    def consume(self, row: OAuthCode) -> bool:
        """Marks the code used; False when another request used it first (the row stays for replay checks)."""
        result = db.session.execute(
            update(OAuthCode)
            .where(OAuthCode.id == row.id, OAuthCode.used_at.is_(None))
            .values(used_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(row)
        return result.rowcount == 1

    @staticmethod
    def record_issued(row: OAuthCode, access_token_id: str, offline_grant_id: str | None) -> None:
        issued = {"access_token_id": access_token_id, "offline_grant_id": offline_grant_id}
        row.extra = {**(row.extra or {}), "issued": issued}
        db.session.flush()

    @staticmethod
    def revoke_issued(row: OAuthCode) -> None:
        """A replayed code: revoke the tokens its first exchange issued."""
        issued = (row.extra or {}).get("issued") or {}
        users = [row.user_id]
        if issued.get("offline_grant_id"):
            grant = delete(OfflineGrant).where(OfflineGrant.id == issued["offline_grant_id"])
            db.session.execute(grant.execution_options(changes_users=users))
        if issued.get("access_token_id"):
            token = delete(AccessToken).where(AccessToken.id == issued["access_token_id"])
            db.session.execute(token.execution_options(changes_users=users))
        db.session.flush()

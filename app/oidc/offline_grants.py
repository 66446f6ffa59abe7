"""Offline grants: what a refresh token stands for (contract 0.4, 1.4).

A refresh token is `<grant id>.<secret>`; only the secret's SHA-256 is stored. With
`refresh_token_rotation_enabled` every refresh returns a new secret and the old hash moves to
`previous_token_hashes`; presenting an old secret again means the token leaked, so the whole grant
is revoked (RFC 9700 section 4.14.2). A grant dies at its lifetime (`expires_at`) or after
`refresh_token_idle_timeout_seconds` without use.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update

from app.audit import AuditLogWriter
from app.context import RequestContext
from app.crypto import equal, random_alnum, sha256_hex
from app.db import Clock
from app.extensions import db
from app.identities.models import User
from app.oidc.claims import ClaimsService, UserFacts
from app.oidc.clients import OAuthClient
from app.sessions.models import OfflineGrant
from app.sessions.service import TOUCH_INTERVAL

_REFRESH_TOKEN = re.compile(r"^([0-9a-fA-F-]{36})\.([A-Za-z0-9]{32})$")
# Old hashes kept for reuse detection; a grant refreshed more often than this forgets the oldest.
MAX_PREVIOUS_HASHES = 100


class RefreshStatus(enum.Enum):
    OK = "ok"
    INVALID = "invalid"
    REUSED = "reused"


@dataclass(frozen=True)
class RefreshCheck:
    status: RefreshStatus
    grant: OfflineGrant | None = None
    token_hash: str | None = None
    user: User | None = None  # the grant's user, loaded with it
    facts: UserFacts | None = None  # and the user's facts (custom claims)


class OfflineGrantService:
    def __init__(self, audit: AuditLogWriter, clock: Clock, claims: ClaimsService) -> None:
        self.audit = audit
        self.clock = clock
        self.claims = claims
        # The grant, its user and the user's facts in one statement (the token endpoint needs all
        # three for a refresh); built once, since building it costs more than running it.
        self._grant_with_user = (
            select(OfflineGrant, User, *claims.facts_columns(User.id))
            .join(User, User.id == OfflineGrant.user_id)
            .where(OfflineGrant.id == bindparam("grant_id"))
        )

    def create(
        self,
        *,
        client: OAuthClient,
        user_id: str,
        scopes: list[str],
        idp_session_id: str | None,
        auth_time: datetime,
        amr: list[str],
        ctx: RequestContext,
    ) -> tuple[OfflineGrant, str]:
        """A new grant and its refresh token."""
        if client.config.get("x_max_concurrent_session") == 1:
            # One session per user for this client: the new grant replaces the old ones.
            db.session.execute(
                delete(OfflineGrant).where(OfflineGrant.user_id == user_id, OfflineGrant.client_id == client.client_id)
            )
        secret = random_alnum(32)
        now = self.clock()
        grant = OfflineGrant(
            user_id=user_id,
            client_id=client.client_id,
            idp_session_id=idp_session_id,
            refresh_token_hash=sha256_hex(secret),
            previous_token_hashes=[],
            scopes=list(scopes),
            created_at=now,
            authenticated_at=auth_time,
            last_access_at=now,
            expires_at=now + timedelta(seconds=client.refresh_token_lifetime),
            amr=list(amr),
            created_ip=ctx.ip or None,
            created_user_agent=ctx.user_agent or None,
            last_access_ip=ctx.ip or None,
            last_access_user_agent=ctx.user_agent or None,
        )
        db.session.add(grant)
        db.session.flush()
        self.audit.write("offline_grant.created", ctx, user_id, {"offline_grant_id": grant.id})
        return grant, f"{grant.id}.{secret}"

    def is_live(self, grant: OfflineGrant, client: OAuthClient | None) -> bool:
        now = self.clock()
        if client is None or grant.expires_at <= now:
            return False
        idle = client.refresh_token_idle_timeout
        return idle is None or grant.last_access_at + timedelta(seconds=idle) > now

    def check(self, refresh_token: str, client: OAuthClient | None) -> RefreshCheck:
        """Finds the grant of a refresh token; a rotated-out secret revokes the grant (REUSED)."""
        match = _REFRESH_TOKEN.match(refresh_token or "")
        if match is None:
            return RefreshCheck(RefreshStatus.INVALID)
        found = db.session.execute(self._grant_with_user, {"grant_id": match.group(1).lower()}).first()
        if found is None:
            return RefreshCheck(RefreshStatus.INVALID)
        grant, user = found[0], found[1]
        token_hash = sha256_hex(match.group(2))
        if equal(token_hash, grant.refresh_token_hash):
            if not self.is_live(grant, client):
                return RefreshCheck(RefreshStatus.INVALID)
            return RefreshCheck(RefreshStatus.OK, grant, token_hash, user, self.claims.facts_from_row(user.id, found))
        if any(equal(token_hash, old) for old in grant.previous_token_hashes or []):
            self.revoke(grant, RequestContext(extra={"reason": "refresh_token_reuse"}))
            return RefreshCheck(RefreshStatus.REUSED)
        return RefreshCheck(RefreshStatus.INVALID)

    def rotate(self, grant: OfflineGrant, old_hash: str) -> str | None:
        """A new refresh token for the grant; None when a concurrent refresh rotated it first."""
        secret = random_alnum(32)
        previous = [*(grant.previous_token_hashes or []), old_hash][-MAX_PREVIOUS_HASHES:]
        result = db.session.execute(
            update(OfflineGrant)
            .where(OfflineGrant.id == grant.id, OfflineGrant.refresh_token_hash == old_hash)
            .values(refresh_token_hash=sha256_hex(secret), previous_token_hashes=previous)
            .execution_options(synchronize_session=False, changes_users=[])  # the resolver never reads these
        )
        db.session.refresh(grant)
        if result.rowcount != 1:
            return None
        return f"{grant.id}.{secret}"

    def touch(self, grant: OfflineGrant, ctx: RequestContext) -> bool:
        """Record an access (written with the transaction); at most once per TOUCH_INTERVAL, as for
        IdP sessions, so that refreshing a token is not a write every time."""
        now = self.clock()
        if now - grant.last_access_at < TOUCH_INTERVAL:
            return False
        grant.last_access_at = now
        grant.last_access_ip = ctx.ip or grant.last_access_ip
        grant.last_access_user_agent = ctx.user_agent or grant.last_access_user_agent
        return True

    def revoke(self, grant: OfflineGrant, ctx: RequestContext | None = None) -> None:
        """Deletes the grant; its access tokens go with it (foreign key cascade)."""
        user_id, grant_id = grant.user_id, grant.id
        db.session.execute(
            delete(OfflineGrant).where(OfflineGrant.id == grant_id).execution_options(changes_users=[user_id])
        )
        db.session.expunge(grant)
        db.session.flush()
        self.audit.write("offline_grant.revoked", ctx, user_id, {"offline_grant_id": grant_id})

    @staticmethod
    def grant_to_revoke(refresh_token: str) -> OfflineGrant | None:
        """The grant a refresh token may revoke: its secret is current or rotated out, the grant
        expired or not. The grant ID alone is not enough: it is public in every `sid` claim."""
        match = _REFRESH_TOKEN.match(refresh_token or "")
        grant = db.session.get(OfflineGrant, match.group(1).lower()) if match else None
        if match is None or grant is None:
            return None
        token_hash = sha256_hex(match.group(2))
        known = [grant.refresh_token_hash, *(grant.previous_token_hashes or [])]
        return grant if any(equal(token_hash, h) for h in known) else None

    @staticmethod
    def list_for_user(user_id: str) -> list[OfflineGrant]:
        return list(db.session.scalars(select(OfflineGrant).where(OfflineGrant.user_id == user_id)))

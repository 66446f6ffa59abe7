"""IdP sessions: create, resolve from the session cookie, touch (throttled), list and revoke.

An app session (a row naming its offline grant, app/oidc/app_sessions.py) is not an IdP session here:
the session cookie never resolves to one, and it is neither listed nor revoked with them (it ends with
its grant)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import make_transient_to_detached

from app.audit import AuditLogWriter
from app.context import RequestContext
from app.crypto import random_alnum, sha256_hex
from app.db import CHANGES_USERS, Clock, new_id, utcnow
from app.extensions import db
from app.identities.models import User
from app.sessions.models import IdPSession, OfflineGrant

# A busy session writes its last access at most once per this many seconds.
TOUCH_INTERVAL = timedelta(seconds=60)
# Built once: on the resolver's path building a statement costs more than running it.
_SESSION_WITH_USER = (
    select(IdPSession, User)
    .join(User, User.id == IdPSession.user_id)
    .where(IdPSession.token_hash == bindparam("token_hash"), IdPSession.offline_grant_id.is_(None))
)
# A new session is one Core INSERT (a new credential changes no cached resolution: no user's).
_INSERT_SESSION = IdPSession.__table__.insert().execution_options(**{CHANGES_USERS: []})
_SESSION_COLUMNS = tuple(c.key for c in IdPSession.__table__.columns)


class SessionService:
    def __init__(self, session_config: dict[str, Any], audit: AuditLogWriter, clock: Clock = utcnow) -> None:
        self.lifetime = timedelta(seconds=session_config["lifetime_seconds"])
        self.idle_timeout = (
            timedelta(seconds=session_config["idle_timeout_seconds"])
            if session_config["idle_timeout_enabled"]
            else None
        )
        self.audit = audit
        self.clock = clock

    def create(
        self, user_id: str, amr: list[str], ctx: RequestContext | None = None, acr: str | None = None
    ) -> tuple[IdPSession, str]:
        """A new session and its token (the cookie value); only the token's hash is stored."""
        ctx = ctx or RequestContext()
        token = random_alnum(32)
        now = self.clock()
        session = IdPSession(
            id=new_id(),
            user_id=user_id,
            token_hash=sha256_hex(token),
            created_at=now,
            authenticated_at=now,
            last_access_at=now,
            expires_at=now + self.lifetime,
            amr=list(amr),
            acr=acr,
            created_ip=ctx.ip or None,
            created_user_agent=ctx.user_agent or None,
            last_access_ip=ctx.ip or None,
            last_access_user_agent=ctx.user_agent or None,
            offline_grant_id=None,
        )
        # A Core INSERT instead of the unit of work's flush (every login runs this), then the row is
        # attached to the session as the persistent row it now is: later changes to it (an app
        # session's fields) are flushed as UPDATEs.
        db.session.execute(_INSERT_SESSION, {c: getattr(session, c) for c in _SESSION_COLUMNS})
        make_transient_to_detached(session)
        db.session.add(session)
        self.audit.write("session.created", ctx, user_id, {"session_id": session.id, "amr": list(amr)})
        return session, token

    def is_live(self, session: IdPSession) -> bool:
        now = self.clock()
        if session.expires_at <= now:
            return False
        return not (self.idle_timeout is not None and session.last_access_at + self.idle_timeout <= now)

    def resolve(self, token: str | None) -> IdPSession | None:
        """The live session for a cookie value, or None."""
        if not token or len(token) > 200:
            return None
        stmt = select(IdPSession).where(
            IdPSession.token_hash == sha256_hex(token), IdPSession.offline_grant_id.is_(None)
        )
        session = db.session.scalar(stmt)
        if session is None or not self.is_live(session):
            return None
        return session

    def resolve_with_user(self, token: str | None) -> tuple[IdPSession, User] | None:
        """The live session for a cookie value and its user, in one statement (the resolver's path)."""
        if not token or len(token) > 200:
            return None
        found = db.session.execute(_SESSION_WITH_USER, {"token_hash": sha256_hex(token)}).first()
        if found is None or not self.is_live(found[0]):
            return None
        return found[0], found[1]

    def touch_due(self, session: IdPSession) -> bool:
        """Whether `touch` would write now (lets a caller skip building the request context)."""
        return self.clock() - session.last_access_at >= TOUCH_INTERVAL

    def touch(self, session: IdPSession, ctx: RequestContext) -> bool:
        """Record an access; returns True when it wrote (at most once per TOUCH_INTERVAL)."""
        now = self.clock()
        if now - session.last_access_at < TOUCH_INTERVAL:
            return False
        session.last_access_at = now
        session.last_access_ip = ctx.ip or session.last_access_ip
        session.last_access_user_agent = ctx.user_agent or session.last_access_user_agent
        db.session.flush()
        return True

    def list_for_user(self, user_id: str) -> list[IdPSession]:
        stmt = select(IdPSession).where(IdPSession.user_id == user_id, IdPSession.offline_grant_id.is_(None))
        stmt = stmt.order_by(IdPSession.last_access_at.desc())
        return [s for s in db.session.scalars(stmt) if self.is_live(s)]

    def revoke(self, session_id: str, ctx: RequestContext | None = None) -> bool:
        session = db.session.get(IdPSession, session_id)
        if session is None:
            return False
        user_id = session.user_id
        grants = delete(OfflineGrant).where(OfflineGrant.idp_session_id == session_id)
        db.session.execute(grants.execution_options(changes_users=[user_id]))
        db.session.delete(session)
        db.session.flush()
        self.audit.write("session.revoked", ctx, user_id, {"session_id": session_id})
        return True

    def sign_out(self, session: IdPSession, ctx: RequestContext) -> None:
        """The user signs out of this browser: the session and the grants of its SSO group go."""
        self.revoke(session.id, ctx)
        self.audit.write("user.signed_out", ctx, session.user_id)

    def revoke_all(self, user_id: str, except_session_id: str | None = None, ctx: RequestContext | None = None) -> int:
        stmt = select(IdPSession.id).where(IdPSession.user_id == user_id, IdPSession.offline_grant_id.is_(None))
        if except_session_id:
            stmt = stmt.where(IdPSession.id != except_session_id)
        ids = list(db.session.scalars(stmt))
        for sid in ids:
            self.revoke(sid, ctx)
        return len(ids)

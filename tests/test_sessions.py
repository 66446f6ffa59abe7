"""IdP sessions: hashed tokens, resolve, lifetime and idle expiry on an injected clock, throttled
touch, listing and revocation."""

from __future__ import annotations

import hashlib
import string
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.audit import AuditLog, AuditLogWriter
from app.context import RequestContext
from app.extensions import db
from app.sessions.models import IdPSession, OfflineGrant
from app.sessions.service import SessionService
from tests.factories import make_user

pytestmark = pytest.mark.embedded

LIFETIME = 7 * 24 * 3600
IDLE = 3600


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def service(clock: FakeClock, lifetime: int = LIFETIME, idle: int | None = IDLE) -> SessionService:
    config = {
        "lifetime_seconds": lifetime,
        "idle_timeout_enabled": idle is not None,
        "idle_timeout_seconds": idle or 2592000,
        "use_session_cookie": False,
    }
    return SessionService(config, AuditLogWriter(clock), clock)


@pytest.fixture
def sessions(svc, clock) -> SessionService:
    return service(clock)


@pytest.fixture
def user(svc):
    return make_user(svc)


def reload(session_id: str) -> IdPSession | None:
    db.session.expire_all()
    return db.session.get(IdPSession, session_id)


def test_create_stores_only_the_sha256_of_the_token(sessions, user):
    ctx = RequestContext(ip="203.0.113.5", user_agent="Browser/1.0")
    session, token = sessions.create(user.id, ["pwd"], ctx)
    db.session.commit()
    assert len(token) == 32 and set(token) <= set(string.ascii_letters + string.digits)
    row = reload(session.id)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.amr == ["pwd"]
    assert row.created_ip == "203.0.113.5" and row.created_user_agent == "Browser/1.0"
    columns = [getattr(row, c.key) for c in IdPSession.__table__.columns]
    assert not any(isinstance(v, str) and token in v for v in columns)
    audit = db.session.scalars(select(AuditLog).where(AuditLog.activity_type == "session.created")).one()
    assert audit.data["session_id"] == session.id
    assert token not in str(audit.data)


def test_tokens_are_unique(sessions, user):
    tokens = {sessions.create(user.id, ["pwd"])[1] for _ in range(20)}
    assert len(tokens) == 20


def test_resolve_by_token(sessions, user):
    session, token = sessions.create(user.id, ["pwd"])
    db.session.commit()
    resolved = sessions.resolve(token)
    assert resolved is not None and resolved.id == session.id and resolved.user_id == user.id


@pytest.mark.parametrize("bad", [None, "", "x", "A" * 32, "A" * 5000, "' OR 1=1 --", "\x00" * 32])
def test_resolve_unknown_or_hostile_tokens(sessions, user, bad):
    sessions.create(user.id, ["pwd"])
    assert sessions.resolve(bad) is None


def test_resolve_does_not_accept_the_stored_hash(sessions, user):
    session, _ = sessions.create(user.id, ["pwd"])
    assert sessions.resolve(session.token_hash) is None


def test_expiry_by_lifetime(clock, svc, user):
    sessions = service(clock, lifetime=3600, idle=None)
    session, token = sessions.create(user.id, ["pwd"])
    db.session.commit()
    assert reload(session.id).expires_at == clock.now + timedelta(seconds=3600)
    clock.advance(seconds=3599)
    assert sessions.resolve(token) is not None
    clock.advance(seconds=1)
    assert sessions.resolve(token) is None
    assert sessions.list_for_user(user.id) == []


def test_lifetime_is_not_extended_by_activity(clock, svc, user):
    sessions = service(clock, lifetime=3600, idle=600)
    session, token = sessions.create(user.id, ["pwd"])
    for _ in range(6):
        clock.advance(seconds=599)
        live = sessions.resolve(token)
        assert live is not None
        sessions.touch(live, RequestContext())
    clock.advance(seconds=599)  # idle for less than 10 min, but 3594 s + 599 s is past the 1 h lifetime
    assert sessions.resolve(token) is None


def test_expiry_by_idle_timeout(clock, svc, user):
    sessions = service(clock, lifetime=LIFETIME, idle=IDLE)
    session, token = sessions.create(user.id, ["pwd"])
    db.session.commit()
    clock.advance(seconds=IDLE - 1)
    assert sessions.resolve(token) is not None
    clock.advance(seconds=1)
    assert sessions.resolve(token) is None


def test_touch_keeps_an_active_session_alive(clock, svc, user):
    sessions = service(clock, lifetime=LIFETIME, idle=IDLE)
    session, token = sessions.create(user.id, ["pwd"])
    db.session.commit()
    clock.advance(seconds=IDLE - 10)
    assert sessions.touch(sessions.resolve(token), RequestContext(ip="198.51.100.1", user_agent="Other/2"))
    db.session.commit()
    clock.advance(seconds=IDLE - 10)
    assert sessions.resolve(token) is not None
    row = reload(session.id)
    assert row.last_access_ip == "198.51.100.1" and row.last_access_user_agent == "Other/2"


def test_idle_timeout_disabled(clock, svc, user):
    sessions = service(clock, lifetime=LIFETIME, idle=None)
    _, token = sessions.create(user.id, ["pwd"])
    clock.advance(days=6)
    assert sessions.resolve(token) is not None


def test_touch_is_throttled_to_once_a_minute(clock, sessions, user):
    session, token = sessions.create(user.id, ["pwd"], RequestContext(ip="203.0.113.1"))
    db.session.commit()
    created = clock.now

    clock.advance(seconds=59)
    assert sessions.touch(sessions.resolve(token), RequestContext(ip="203.0.113.2")) is False
    db.session.commit()
    row = reload(session.id)
    assert row.last_access_at == created and row.last_access_ip == "203.0.113.1"

    clock.advance(seconds=1)
    assert sessions.touch(sessions.resolve(token), RequestContext(ip="203.0.113.3")) is True
    db.session.commit()
    row = reload(session.id)
    assert row.last_access_at == created + timedelta(seconds=60) and row.last_access_ip == "203.0.113.3"

    clock.advance(seconds=30)
    assert sessions.touch(sessions.resolve(token), RequestContext(ip="203.0.113.4")) is False
    assert reload(session.id).last_access_ip == "203.0.113.3"


def test_list_for_user_shows_live_sessions_most_recent_first(clock, sessions, svc, user):
    other = make_user(svc)
    old, _ = sessions.create(user.id, ["pwd"])
    clock.advance(minutes=5)
    new, new_token = sessions.create(user.id, ["pwd", "otp"])
    sessions.create(other.id, ["pwd"])
    db.session.commit()
    assert [s.id for s in sessions.list_for_user(user.id)] == [new.id, old.id]

    clock.advance(seconds=IDLE - 60)  # `old` idles out, `new` has 5 min left
    assert [s.id for s in sessions.list_for_user(user.id)] == [new.id]
    assert sessions.list_for_user("00000000-0000-4000-8000-000000000000") == []


def add_offline_grant(clock: FakeClock, user_id: str, session_id: str) -> OfflineGrant:
    grant = OfflineGrant(
        user_id=user_id,
        client_id="spa-client",
        idp_session_id=session_id,
        refresh_token_hash=hashlib.sha256(session_id.encode()).hexdigest(),
        expires_at=clock.now + timedelta(days=1),
    )
    db.session.add(grant)
    db.session.flush()
    return grant


def test_revoke_ends_the_session_and_its_offline_grants(clock, sessions, user):
    session, token = sessions.create(user.id, ["pwd"])
    other, other_token = sessions.create(user.id, ["pwd"])
    grant = add_offline_grant(clock, user.id, session.id)
    kept = add_offline_grant(clock, user.id, other.id)
    db.session.commit()

    assert sessions.revoke(session.id, RequestContext(ip="192.0.2.1")) is True
    db.session.commit()
    assert sessions.resolve(token) is None
    assert reload(session.id) is None
    assert db.session.get(OfflineGrant, grant.id) is None
    assert db.session.get(OfflineGrant, kept.id) is not None
    assert sessions.resolve(other_token) is not None
    audit = db.session.scalars(select(AuditLog).where(AuditLog.activity_type == "session.revoked")).one()
    assert audit.user_id == user.id and audit.data == {"session_id": session.id} and audit.ip_address == "192.0.2.1"

    assert sessions.revoke(session.id) is False
    assert sessions.revoke("not-a-session") is False


def test_revoke_all_except_the_current_one(svc, sessions, user):
    current, current_token = sessions.create(user.id, ["pwd"])
    others = [sessions.create(user.id, ["pwd"]) for _ in range(3)]
    stranger = make_user(svc)
    _, stranger_token = sessions.create(stranger.id, ["pwd"])
    db.session.commit()

    assert sessions.revoke_all(user.id, except_session_id=current.id) == 3
    db.session.commit()
    assert sessions.resolve(current_token) is not None
    assert all(sessions.resolve(t) is None for _, t in others)
    assert sessions.resolve(stranger_token) is not None

    assert sessions.revoke_all(user.id) == 1
    db.session.commit()
    assert sessions.resolve(current_token) is None
    assert sessions.revoke_all(user.id) == 0
    assert sessions.resolve(stranger_token) is not None


def test_deleting_the_user_deletes_the_sessions(sessions, user):
    _, token = sessions.create(user.id, ["pwd"])
    db.session.commit()
    db.session.delete(user)
    db.session.commit()
    assert db.session.scalars(select(IdPSession)).all() == []

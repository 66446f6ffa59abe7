"""The resolver's cache: a repeated resolution reads no database, and every change that matters,
made after the resolution was cached, is seen by the very next request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app.extensions import db
from app.kvstore import MemoryStore
from app.resolver.cache import ResolutionCache
from app.sessions.models import AccessToken


@contextmanager
def statements(app) -> Iterator[list[str]]:
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _resolve(client, **headers) -> dict[str, str]:
    resp = client.get("/_resolver/resolve", headers=headers)
    assert resp.status_code == 200
    return {k: v for k, v in resp.headers.items() if k.lower().startswith("x-authgear-")}


def _signed_in(resolver_app, issuer):
    """A user, and a client carrying their IdP session cookie whose resolution is now cached."""
    user_id = issuer.user()
    _, cookie = issuer.session(user_id)
    client = resolver_app.test_client()
    client.set_cookie("session", cookie)
    for _ in range(2):
        assert _resolve(client)["X-Authgear-Session-Valid"] == "true"
    return user_id, client


@pytest.mark.embedded
def test_a_resolution_seen_before_reads_no_database(resolver_app, issuer):
    user_id = issuer.user()
    session_id, cookie = issuer.session(user_id)
    bearer = {"Authorization": f"Bearer {issuer.access_token(user_id, session_id)}"}
    client = resolver_app.test_client()
    client.set_cookie("session", cookie)
    plain = resolver_app.test_client()
    first = [_resolve(client), _resolve(plain, **bearer)]
    second = [_resolve(client), _resolve(plain, **bearer)]
    with statements(resolver_app) as seen:
        third = [_resolve(client), _resolve(plain, **bearer)]
    assert seen == []
    assert first == second == third
    assert third[0]["X-Authgear-User-Id"] == third[1]["X-Authgear-User-Id"] == user_id


def _disable(app, user_id: str, _session_id: str) -> None:
    svc = app.extensions["gatehouse"]
    svc.accounts.set_disabled(svc.users.get(user_id), True, "test")


def _revoke_session(app, _user_id: str, session_id: str) -> None:
    app.extensions["gatehouse"].sessions.revoke(session_id)


def _delete_tokens(app, _user_id: str, _session_id: str) -> None:
    db.session.query(AccessToken).delete()


def _schedule_deletion(app, user_id: str, _session_id: str) -> None:
    app.extensions["gatehouse"].users.get(user_id).delete_at = datetime.now(UTC) + timedelta(days=30)


INVALIDATING: dict[str, Callable[..., None]] = {
    "user disabled": _disable,
    "session revoked": _revoke_session,
    "access tokens deleted in bulk": _delete_tokens,
    "deletion scheduled": _schedule_deletion,
}


@pytest.mark.parametrize("change", INVALIDATING.values(), ids=INVALIDATING.keys())
def test_a_change_after_caching_makes_the_next_request_invalid(resolver_app, issuer, change):
    user_id = issuer.user()
    session_id, cookie = issuer.session(user_id)
    token = issuer.access_token(user_id, session_id)
    client = resolver_app.test_client()
    client.set_cookie("session", cookie)
    plain = resolver_app.test_client()
    for _ in range(3):
        assert _resolve(client)["X-Authgear-Session-Valid"] == "true"
        assert _resolve(plain, Authorization=f"Bearer {token}")["X-Authgear-Session-Valid"] == "true"
    with resolver_app.app_context():
        change(resolver_app, user_id, session_id)
        db.session.commit()
    assert _resolve(plain, Authorization=f"Bearer {token}") == {"X-Authgear-Session-Valid": "false"}
    if change is not _delete_tokens:
        assert _resolve(client) == {"X-Authgear-Session-Valid": "false"}


def test_revoking_through_the_revocation_endpoint_after_caching(resolver_app, issuer):
    user_id = issuer.user()
    session_id, _ = issuer.session(user_id)
    token = issuer.access_token(user_id, session_id)
    client = resolver_app.test_client()
    for _ in range(3):
        assert _resolve(client, Authorization=f"Bearer {token}")["X-Authgear-Session-Valid"] == "true"
    assert client.post("/oauth2/revoke", data={"token": token, "client_id": "spa-client"}).status_code == 200
    assert _resolve(client, Authorization=f"Bearer {token}") == {"X-Authgear-Session-Valid": "false"}


def test_roles_and_verification_changes_after_caching_show_at_once(resolver_app, issuer):
    user_id, client = _signed_in(resolver_app, issuer)
    before = _resolve(client)
    assert "X-Authgear-User-Roles" not in before and before["X-Authgear-User-Verified"] == "false"
    with resolver_app.app_context():
        svc = resolver_app.extensions["gatehouse"]
        svc.roles.create_role("editor")
        db.session.commit()
        svc.roles.add_user_to_roles(user_id, ["editor"])
        db.session.commit()
    assert _resolve(client)["X-Authgear-User-Roles"] == "editor"
    _resolve(client)
    with resolver_app.app_context():
        svc = resolver_app.extensions["gatehouse"]
        svc.roles.update_role(svc.roles.role_by_key("editor").id, key="writer")
        db.session.commit()
    assert _resolve(client)["X-Authgear-User-Roles"] == "writer"
    _resolve(client)
    with resolver_app.app_context():
        svc = resolver_app.extensions["gatehouse"]
        user = svc.users.get(user_id)
        email = next(i.login_id for i in user.identities if i.login_id_type == "email")
        svc.users.mark_verified(user_id, "email", email)
        db.session.commit()
    assert _resolve(client)["X-Authgear-User-Verified"] == "true"


def test_a_rolled_back_change_keeps_the_cached_resolution(resolver_app, issuer):
    user_id, client = _signed_in(resolver_app, issuer)
    with resolver_app.app_context():
        _disable(resolver_app, user_id, "")
        db.session.flush()
        db.session.rollback()
    with statements(resolver_app) as seen:
        assert _resolve(client)["X-Authgear-Session-Valid"] == "true"
    assert seen == []


def test_entries_end_at_their_deadline_or_when_their_user_changes():
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = MemoryStore()
    cache = ResolutionCache(store, lambda: now[0])
    key = cache.key("session", "cookie-value")
    cache.remember(key, "user-1", {"X-Authgear-Session-Valid": "true"}, None)
    assert cache.lookup(key) is None and cache.known_user(key) == "user-1"
    changes = cache.change_tokens("user-1")
    deadline = now[0] + timedelta(seconds=5)
    cache.remember(key, "user-1", {"X-Authgear-Session-Valid": "true"}, changes, [None, deadline])
    assert cache.lookup(key) == {"X-Authgear-Session-Valid": "true"}
    cache.invalidate(["user-2"])
    assert cache.lookup(key) is not None
    now[0] = deadline
    assert cache.lookup(key) is None
    now[0] = datetime(2026, 1, 1, tzinfo=UTC)
    cache.invalidate(["*"])
    assert cache.lookup(key) is None


def test_the_cache_holds_at_most_its_size():
    cache = ResolutionCache(MemoryStore(), lambda: datetime.now(UTC), max_entries=2)
    changes = cache.change_tokens("u")
    keys = [cache.key("token", str(n)) for n in range(3)]
    for key in keys:
        cache.remember(key, "u", {"X-Authgear-Session-Valid": "true"}, changes)
    assert cache.lookup(keys[0]) is None
    assert cache.lookup(keys[1]) is not None and cache.lookup(keys[2]) is not None


def test_new_credentials_keep_the_cache_and_a_removed_authenticator_does_not(resolver_app, issuer):
    from app.authenticators.models import Authenticator

    user_id, client = _signed_in(resolver_app, issuer)
    assert _resolve(client)["X-Authgear-User-Can-Reauthenticate"] == "true"
    issuer.access_token(user_id, issuer.session(user_id)[0])  # another device signs in
    with statements(resolver_app) as seen:
        assert _resolve(client)["X-Authgear-Session-Valid"] == "true"
    assert seen == []
    with resolver_app.app_context():
        for row in db.session.query(Authenticator).filter_by(user_id=user_id):
            db.session.delete(row)
        db.session.commit()
    assert _resolve(client)["X-Authgear-User-Can-Reauthenticate"] == "false"


def test_a_role_given_to_one_user_keeps_the_others_cached(resolver_app, issuer):
    alice_id, alice = _signed_in(resolver_app, issuer)
    bob_id, bob = _signed_in(resolver_app, issuer)
    with resolver_app.app_context():
        svc = resolver_app.extensions["gatehouse"]
        svc.roles.create_role("editor")
        db.session.commit()
    _resolve(alice)  # creating a role changes everyone's possible roles: read again once
    with resolver_app.app_context():
        resolver_app.extensions["gatehouse"].roles.add_role_to_users("editor", [bob_id])
        db.session.commit()
    with statements(resolver_app) as seen:
        assert "X-Authgear-User-Roles" not in _resolve(alice)
    assert seen == []
    assert _resolve(bob)["X-Authgear-User-Roles"] == "editor"
    with resolver_app.app_context():
        resolver_app.extensions["gatehouse"].roles.remove_user_from_roles(bob_id, ["editor"])
        db.session.commit()
    assert "X-Authgear-User-Roles" not in _resolve(bob)


def test_a_sign_out_changes_only_its_users_resolutions(resolver_app, issuer):
    alice_id, alice = _signed_in(resolver_app, issuer)
    bob_id, bob = _signed_in(resolver_app, issuer)
    bob_session, _ = issuer.session(bob_id)
    with resolver_app.app_context():
        resolver_app.extensions["gatehouse"].sessions.revoke(bob_session)  # deletes grants in bulk too
        db.session.commit()
    with statements(resolver_app) as seen:
        assert _resolve(alice)["X-Authgear-User-Id"] == alice_id
    assert seen == []
    assert _resolve(bob)["X-Authgear-User-Id"] == bob_id  # Bob's other session: read again, still valid

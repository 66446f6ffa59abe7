"""Sessions, app authorizations and account deletion on the settings pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.identities.models import User
from app.sessions.models import IdPSession, OAuthAuthorization, OfflineGrant
from tests.settings.conftest import audit_types, sign_in, text_of

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _other_session(acc, user_agent=FIREFOX_LINUX, ip="203.0.113.7"):
    from app.context import RequestContext

    with acc.app.app_context():
        session, token = acc.svc.sessions.create(acc.user_id, ["pwd"], RequestContext(ip=ip, user_agent=user_agent))
        db.session.commit()
        return session.id, token


def _grant(acc, client_id="spa-client", idp_session_id=None):
    with acc.app.app_context():
        now = acc.svc.clock()
        grant = OfflineGrant(
            user_id=acc.user_id,
            client_id=client_id,
            idp_session_id=idp_session_id,
            refresh_token_hash="h" * 60 + str(now.microsecond).zfill(4)[-4:],
            scopes=["openid", "offline_access"],
            created_at=now,
            authenticated_at=now,
            last_access_at=now,
            expires_at=now + timedelta(days=1),
            last_access_user_agent=CHROME_MAC,
            last_access_ip="198.51.100.2",
        )
        db.session.add(grant)
        db.session.commit()
        return grant.id


def _live_ids(acc):
    with acc.app.app_context():
        return {s.id for s in acc.svc.sessions.list_for_user(acc.user_id)}


def _resolve(acc, token):
    """What the resolver (contract 2) says about an IdP session cookie."""
    client = acc.app.test_client()
    client.set_cookie("session", token)
    return client.get("/_resolver/resolve").headers.get("X-Authgear-Session-Valid")


def test_sessions_list_device_ip_and_last_access(account):
    _other_session(account)
    _grant(account)
    html = text_of(account.get("/settings/sessions"))
    assert "Firefox on Linux" in html and "203.0.113.7" in html
    assert "This device" in html and "Last active:" in html
    assert "SPA" in html and "Chrome on macOS" in html and "198.51.100.2" in html


def test_revoking_another_session_makes_the_resolver_refuse_it(account):
    other_id, other_token = _other_session(account)
    assert _resolve(account, other_token) == "true"
    resp = account.post("/settings/sessions/revoke", {"id": other_id})
    assert resp.status_code == 303 and resp.headers["Location"] == "/settings/sessions"
    assert _resolve(account, other_token) == "false"
    assert _live_ids(account) == {account.session_id}
    assert "session.revoked" in audit_types(account.app, account.user_id)
    assert "That session has been signed out." in text_of(account.get("/settings/sessions"))


def test_the_current_session_and_other_users_sessions_cannot_be_revoked_here(settings_app):
    app = settings_app()
    acc, other = sign_in(app), sign_in(app)
    assert acc.post("/settings/sessions/revoke", {"id": acc.session_id}).status_code == 404
    assert acc.post("/settings/sessions/revoke", {"id": other.session_id}).status_code == 404
    assert _resolve(other, other.token) == "true" and _live_ids(acc) == {acc.session_id}


def test_revoke_all_others_keeps_this_one(account):
    _, token_a = _other_session(account)
    _, token_b = _other_session(account, ip="192.0.2.1")
    grant_here = _grant(account, idp_session_id=account.session_id)
    _grant(account)
    assert account.post("/settings/sessions/revoke_all").status_code == 303
    assert _live_ids(account) == {account.session_id}
    assert _resolve(account, token_a) == "false" and _resolve(account, token_b) == "false"
    assert _resolve(account, account.token) == "true"
    with account.app.app_context():
        assert [g.id for g in db.session.scalars(select(OfflineGrant))] == [grant_here]


def test_an_app_session_can_be_signed_out(account):
    grant_id = _grant(account)
    assert account.post("/settings/sessions/revoke", {"id": grant_id}).status_code == 303
    with account.app.app_context():
        assert db.session.get(OfflineGrant, grant_id) is None


def test_app_authorizations_are_listed_and_revocable(settings_app):
    app = settings_app()
    acc, other = sign_in(app), sign_in(app)
    with app.app_context():
        now = acc.svc.clock()
        mine = OAuthAuthorization(
            user_id=acc.user_id, client_id="confidential-client", scopes=["openid", "email"], created_at=now
        )
        theirs = OAuthAuthorization(
            user_id=other.user_id, client_id="confidential-client", scopes=["openid"], created_at=now
        )
        db.session.add_all([mine, theirs])
        db.session.commit()
        mine_id, theirs_id = mine.id, theirs.id
    grant_id = _grant(acc, client_id="confidential-client")
    html = text_of(acc.get("/settings/sessions"))
    assert "Web" in html and "Know who you are" in html and "See your email address" in html  # scopes in words
    assert acc.post("/settings/authorizations/revoke", {"id": theirs_id}).status_code == 404
    assert acc.post("/settings/authorizations/revoke", {"id": mine_id}).status_code == 303
    with app.app_context():
        assert db.session.get(OAuthAuthorization, mine_id) is None
        assert db.session.get(OAuthAuthorization, theirs_id) is not None
        assert db.session.get(OfflineGrant, grant_id) is None  # its refresh tokens go with it
    assert "authorization.deleted" in audit_types(app, acc.user_id)


# -- account deletion -------------------------------------------------------------------------------
def test_delete_account_schedules_deletion_and_signs_out(account):
    other_id, other_token = _other_session(account)
    page = text_of(account.get("/settings/delete_account"))
    assert "in 14 days" in page
    resp = account.post("/settings/delete_account", {})
    assert resp.status_code == 400  # the box must be ticked
    resp = account.post("/settings/delete_account", {"confirm": "y"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/settings/delete_account/success"
    assert any(c.startswith("session=;") for c in resp.headers.getlist("Set-Cookie"))
    with account.app.app_context():
        user = db.session.get(User, account.user_id)
        assert user.deletion_scheduled_by == "end_user" and user.is_disabled
        assert (
            timedelta(days=13, hours=23)
            < user.delete_at - account.svc.clock().replace(tzinfo=user.delete_at.tzinfo)
            <= timedelta(days=14)
        )
        assert db.session.scalars(select(IdPSession).where(IdPSession.user_id == account.user_id)).first() is None
    assert _resolve(account, other_token) == "false"
    done = account.get(resp.headers["Location"])
    assert done.status_code == 200 and "Your account will be deleted" in text_of(done)
    assert "user.deletion.scheduled" in audit_types(account.app, account.user_id)


@pytest.mark.embedded
def test_delete_account_is_not_offered_when_disabled(settings_app):
    acc = sign_in(settings_app({"account_deletion": {"scheduled_by_end_user_enabled": False}}))
    assert acc.get("/settings/delete_account").status_code == 404
    assert acc.post("/settings/delete_account", {"confirm": "y"}).status_code == 404
    assert "/settings/advanced_settings" not in text_of(acc.get("/settings"))
    with acc.app.app_context():
        assert db.session.get(User, acc.user_id).delete_at is None

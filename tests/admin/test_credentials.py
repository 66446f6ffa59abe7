"""Identities, authenticators, sessions and authorizations: their types and mutations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.authenticators.models import Authenticator
from app.context import RequestContext
from app.extensions import db
from app.identities.models import Identity
from app.sessions.models import IdPSession, OAuthAuthorization, OfflineGrant
from tests.admin.conftest import assert_mutation_audited, audit_entries, error_of, gid, ok
from tests.factories import make_user, random_password


def call(gql, name, selection, /, **fields):
    input_type = name[0].upper() + name[1:] + "Input"
    return gql(f"mutation($input: {input_type}!) {{ {name}(input: $input) {selection} }}", input=fields)


# -- identities ---------------------------------------------------------------------------------
@pytest.mark.embedded
def test_create_identity(gql, svc):
    user = make_user(svc)
    password = random_password()
    body = call(
        gql,
        "createIdentity",
        "{ identity { id type claims } user { loginIDs { id } primaryPassword { id } } }",
        userID=gid("User", user.id),
        definition={"loginID": {"key": "username", "value": "NewName"}},
        password=password,
    )
    data = ok(body)["createIdentity"]
    assert data["identity"]["type"] == "LOGIN_ID"
    assert data["identity"]["claims"]["preferred_username"] == "newname"
    assert data["identity"]["claims"]["https://authgear.com/claims/login_id/original_value"] == "NewName"
    assert len(data["user"]["loginIDs"]) == 2 and data["user"]["primaryPassword"] is not None
    db.session.remove()
    assert svc.passwords.verify(user.id, password) is not None
    assert_mutation_audited("create_identity", user.id)


def test_create_identity_errors(gql, svc):
    a = make_user(svc, email="taken@example.com")
    b = make_user(svc)
    sel = "{ identity { id } }"
    dup = call(
        gql,
        "createIdentity",
        sel,
        userID=gid("User", b.id),
        definition={"loginID": {"key": "email", "value": "TAKEN@example.com"}},
    )
    assert error_of(dup)["info"] == {"cause": {"kind": "DuplicatedIdentity"}}
    bad = call(
        gql, "createIdentity", sel, userID=gid("User", b.id), definition={"loginID": {"key": "phone", "value": "123"}}
    )
    assert error_of(bad)["reason"] == "ValidationFailed"
    empty = call(gql, "createIdentity", sel, userID=gid("User", b.id), definition={})
    assert error_of(empty)["reason"] == "ValidationFailed"
    nouser = call(gql, "createIdentity", sel, userID=gid("Identity", a.id), definition={})
    assert error_of(nouser) == {"errorName": "Invalid", "reason": "Invalid"}
    assert audit_entries("admin_api.mutation.create_identity.executed") == []


@pytest.mark.embedded
def test_update_identity(gql, svc):
    user = make_user(svc, email="before@example.com")
    identity = svc.users.identities_of(user.id)[0]
    make_user(svc, email="other@example.com")
    sel = '{ identity { claims(names: ["email"]) } user { standardAttributes } }'
    data = ok(
        call(
            gql,
            "updateIdentity",
            sel,
            userID=gid("User", user.id),
            identityID=gid("Identity", identity.id),
            definition={"loginID": {"key": "email", "value": "After@Example.com"}},
        )
    )["updateIdentity"]
    assert data["identity"]["claims"] == {"email": "after@example.com"}
    assert data["user"]["standardAttributes"]["email"] == "after@example.com"
    assert svc.users.find_identity("email", "after@example.com") is not None
    assert_mutation_audited("update_identity", user.id)
    clash = call(
        gql,
        "updateIdentity",
        sel,
        userID=gid("User", user.id),
        identityID=gid("Identity", identity.id),
        definition={"loginID": {"key": "email", "value": "other@example.com"}},
    )
    assert error_of(clash)["info"] == {"cause": {"kind": "DuplicatedIdentity"}}
    key_change = call(
        gql,
        "updateIdentity",
        sel,
        userID=gid("User", user.id),
        identityID=gid("Identity", identity.id),
        definition={"loginID": {"key": "username", "value": "someone"}},
    )
    assert error_of(key_change)["reason"] == "ValidationFailed"
    missing = call(
        gql,
        "updateIdentity",
        sel,
        userID=gid("User", user.id),
        identityID=gid("Identity", "00000000-0000-4000-8000-000000000000"),
        definition={"loginID": {"key": "email", "value": "x@example.com"}},
    )
    assert error_of(missing) == {"errorName": "NotFound", "reason": "IdentityNotFound"}


def test_update_identity_of_another_user_is_refused(gql, svc):
    a = make_user(svc)
    b = make_user(svc)
    identity = svc.users.identities_of(b.id)[0]
    body = call(
        gql,
        "updateIdentity",
        "{ identity { id } }",
        userID=gid("User", a.id),
        identityID=gid("Identity", identity.id),
        definition={"loginID": {"key": "email", "value": "z@example.com"}},
    )
    assert error_of(body)["info"] == {"cause": {"kind": "MismatchedUser"}}


@pytest.mark.embedded
def test_delete_identity(gql, svc):
    user = svc.users.create_user([("email", "one@example.com"), ("username", "two")])
    db.session.commit()
    email_identity, username_identity = svc.users.identities_of(user.id)
    data = ok(
        call(
            gql,
            "deleteIdentity",
            "{ user { loginIDs { id } standardAttributes } }",
            identityID=gid("Identity", email_identity.id),
        )
    )["deleteIdentity"]
    assert data["user"]["loginIDs"] == [{"id": gid("Identity", username_identity.id)}]
    assert "email" not in data["user"]["standardAttributes"]
    assert_mutation_audited("delete_identity", user.id)
    last = call(gql, "deleteIdentity", "{ user { id } }", identityID=gid("Identity", username_identity.id))
    assert error_of(last)["info"] == {"cause": {"kind": "RemoveLastIdentity"}}
    assert db.session.query(Identity).count() == 1


# -- authenticators -----------------------------------------------------------------------------
AUTH_SEL = "{ authenticator { id type kind isDefault claims } }"


@pytest.mark.embedded
def test_create_authenticators(gql, svc):
    user = make_user(svc)
    uid = gid("User", user.id)
    password = random_password()
    pw = ok(
        call(
            gql,
            "createAuthenticator",
            AUTH_SEL,
            userID=uid,
            definition={"kind": "PRIMARY", "type": "PASSWORD", "password": {"password": password}},
        )
    )
    assert pw["createAuthenticator"]["authenticator"]["type"] == "PASSWORD"
    assert pw["createAuthenticator"]["authenticator"]["claims"] == {}
    email = ok(
        call(
            gql,
            "createAuthenticator",
            AUTH_SEL,
            userID=uid,
            definition={"kind": "SECONDARY", "type": "OOB_OTP_EMAIL", "oobOtpEmail": {"email": "Mfa@Example.com"}},
        )
    )
    auth = email["createAuthenticator"]["authenticator"]
    assert auth["kind"] == "SECONDARY" and auth["isDefault"] is True
    assert auth["claims"] == {"https://authgear.com/claims/oob_otp/email": "mfa@example.com"}
    sms = ok(
        call(
            gql,
            "createAuthenticator",
            AUTH_SEL,
            userID=uid,
            definition={"kind": "SECONDARY", "type": "OOB_OTP_SMS", "oobOtpSMS": {"phone": "+85251234567"}},
        )
    )
    assert sms["createAuthenticator"]["authenticator"]["isDefault"] is False
    db.session.remove()
    assert svc.passwords.verify(user.id, password) is not None
    assert len(audit_entries("admin_api.mutation.create_authenticator.executed")) == 3


def test_create_authenticator_errors(gql, svc):
    user = make_user(svc, password=random_password())
    uid = gid("User", user.id)

    def create(definition):
        return error_of(call(gql, "createAuthenticator", AUTH_SEL, userID=uid, definition=definition))

    assert create({"kind": "PRIMARY", "type": "PASSWORD", "password": {"password": random_password()}})["info"] == {
        "cause": {"kind": "DuplicatedAuthenticator"}
    }
    assert (
        create({"kind": "SECONDARY", "type": "PASSWORD", "password": {"password": "x"}})["reason"]
        == "PasswordPolicyViolated"
    )
    assert create({"kind": "SECONDARY", "type": "PASSWORD"})["reason"] == "ValidationFailed"
    assert create({"kind": "SECONDARY", "type": "TOTP"})["reason"] == "ValidationFailed"
    assert (
        create({"kind": "SECONDARY", "type": "OOB_OTP_SMS", "oobOtpSMS": {"phone": "12345"}})["reason"]
        == "ValidationFailed"
    )
    assert (
        create({"kind": "SECONDARY", "type": "OOB_OTP_EMAIL", "oobOtpEmail": {"email": "nope"}})["reason"]
        == "ValidationFailed"
    )


@pytest.mark.embedded
def test_delete_authenticator(gql, svc):
    user = make_user(svc, password=random_password())
    auth = svc.passwords.get(user.id)
    data = ok(
        call(
            gql,
            "deleteAuthenticator",
            "{ user { primaryPassword { id } } }",
            authenticatorID=gid("Authenticator", auth.id),
        )
    )
    assert data["deleteAuthenticator"]["user"]["primaryPassword"] is None
    assert db.session.query(Authenticator).count() == 0
    assert_mutation_audited("delete_authenticator", user.id)
    again = call(gql, "deleteAuthenticator", "{ user { id } }", authenticatorID=gid("Authenticator", auth.id))
    assert error_of(again) == {"errorName": "NotFound", "reason": "AuthenticatorNotFound"}


# -- sessions and authorizations -------------------------------------------------------------------
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1"


def _grant(svc, user_id, client_id="spa-client", **fields):
    now = svc.clock()
    grant = OfflineGrant(
        user_id=user_id,
        client_id=client_id,
        refresh_token_hash=fields.pop("hash", "h" * 64),
        scopes=["openid", "offline_access"],
        created_at=now,
        authenticated_at=now,
        last_access_at=fields.pop("last_access_at", now),
        expires_at=fields.pop("expires_at", now + timedelta(days=30)),
        amr=["pwd"],
        created_ip="198.51.100.1",
        last_access_user_agent=IPHONE,
    )
    db.session.add(grant)
    db.session.flush()
    return grant


SESSIONS = """query($id: ID!) { node(id: $id) { ... on User { sessions {
  totalCount edges { node { id type clientID applicationName displayName createdAt updatedAt lastAccessedAt
  createdByIP lastAccessedByIP lastAccessedByIPCountryCode lastAccessedByIPEnglishCountryName userAgent acr amr
  } } } } } }"""


@pytest.mark.embedded
def test_sessions_list_idp_sessions_and_offline_grants(gql, svc):
    user = make_user(svc)
    idp, _ = svc.sessions.create(user.id, ["pwd", "otp"], RequestContext(ip="203.0.113.9", user_agent="curl/8.0"))
    grant = _grant(svc, user.id, last_access_at=svc.clock() + timedelta(seconds=5))
    _grant(svc, user.id, hash="e" * 64, expires_at=svc.clock() - timedelta(seconds=1))  # expired: hidden
    db.session.commit()
    conn = ok(gql(SESSIONS, id=gid("User", user.id)))["node"]["sessions"]
    assert conn["totalCount"] == 2
    first, second = (e["node"] for e in conn["edges"])
    assert first["id"] == gid("Session", grant.id) and first["type"] == "OFFLINE_GRANT"
    assert first["clientID"] == "spa-client" and first["applicationName"] == "SPA"
    assert first["displayName"] == "Safari 17 on iOS"
    assert second["id"] == gid("Session", idp.id) and second["type"] == "IDP"
    assert second["clientID"] is None and second["amr"] == ["pwd", "otp"]
    assert second["createdByIP"] == "203.0.113.9" and second["lastAccessedByIPCountryCode"] == ""
    assert second["displayName"] == "curl/8.0" and second["userAgent"] == "curl/8.0"


@pytest.mark.embedded
def test_revoke_session_and_all_sessions(gql, svc):
    user = make_user(svc)
    s1, _ = svc.sessions.create(user.id, ["pwd"], RequestContext())
    s2, _ = svc.sessions.create(user.id, ["pwd"], RequestContext())
    grant = _grant(svc, user.id)
    db.session.commit()
    sel = "{ user { sessions { totalCount } } }"
    data = ok(call(gql, "revokeSession", sel, sessionID=gid("Session", s1.id)))
    assert data["revokeSession"]["user"]["sessions"]["totalCount"] == 2
    data = ok(call(gql, "revokeSession", sel, sessionID=gid("Session", grant.id)))
    assert data["revokeSession"]["user"]["sessions"]["totalCount"] == 1
    missing = call(gql, "revokeSession", sel, sessionID=gid("Session", s1.id))
    assert error_of(missing) == {"errorName": "NotFound", "reason": "SessionNotFound"}
    _grant(svc, user.id, hash="f" * 64)
    db.session.commit()
    data = ok(call(gql, "revokeAllSessions", sel, userID=gid("User", user.id)))
    assert data["revokeAllSessions"]["user"]["sessions"]["totalCount"] == 0
    db.session.remove()
    assert db.session.query(IdPSession).count() == 0 and db.session.query(OfflineGrant).count() == 0
    assert len(audit_entries("admin_api.mutation.revoke_session.executed")) == 2
    assert_mutation_audited("revoke_all_sessions", user.id)
    del s2


@pytest.mark.embedded
def test_authorizations_and_delete_authorization(gql, svc):
    user = make_user(svc)
    authz = OAuthAuthorization(user_id=user.id, client_id="spa-client", scopes=["openid", "email"])
    db.session.add(authz)
    _grant(svc, user.id, client_id="spa-client")
    _grant(svc, user.id, client_id="confidential-client", hash="c" * 64)
    db.session.commit()
    query = """query($id: ID!) { node(id: $id) { ... on User { authorizations {
               totalCount edges { node { id clientID scopes createdAt updatedAt } } } } } }"""
    conn = ok(gql(query, id=gid("User", user.id)))["node"]["authorizations"]
    assert conn["totalCount"] == 1
    assert conn["edges"][0]["node"]["clientID"] == "spa-client"
    assert conn["edges"][0]["node"]["scopes"] == ["openid", "email"]
    data = ok(
        call(
            gql,
            "deleteAuthorization",
            "{ user { authorizations { totalCount } sessions { totalCount } } }",
            authorizationID=gid("Authorization", authz.id),
        )
    )
    assert data["deleteAuthorization"]["user"] == {"authorizations": {"totalCount": 0}, "sessions": {"totalCount": 1}}
    assert_mutation_audited("delete_authorization", user.id)
    again = call(gql, "deleteAuthorization", "{ user { id } }", authorizationID=gid("Authorization", authz.id))
    assert error_of(again) == {"errorName": "NotFound", "reason": "AuthorizationNotFound"}

"""The user facts of the resolver headers (and of the tokens' custom claims), computed in one
statement: verification criteria, which claims count, roles through groups, anonymous users."""

from __future__ import annotations

import secrets

import pytest

from app.extensions import db
from app.identities.models import Identity
from tests.factories import TEST_PROJECT
from tests.resolver.conftest import JWT_CLIENT


def _facts(app, user_id, issuer_cls):
    issuer = issuer_cls(app)
    _, cookie = issuer.session(user_id)
    client = app.test_client()
    client.set_cookie("session", cookie)
    headers = client.get("/_resolver/resolve").headers
    assert headers["X-Authgear-Session-Valid"] == "true"
    return headers


def _user_with_email_and_phone(app, verify):
    from tests.factories import make_user

    with app.app_context():
        svc = app.extensions["gatehouse"]
        phone = f"+1415555{secrets.randbelow(10_000):04d}"
        user = make_user(svc, password="Facts-pass-1", phone=phone)
        for identity in svc.users.identities_of(user.id):
            claim = {"email": "email", "phone": "phone_number"}[identity.login_id_type]
            if claim in verify:
                svc.users.mark_verified(user.id, claim, identity.login_id)
        db.session.commit()
        return user.id


def _app(make_app, verification):
    clients = list(TEST_PROJECT["oauth"]["clients"]) + [JWT_CLIENT]
    return make_app({"oauth": {"clients": clients}, "verification": verification})


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("criteria", "verify", "expected"),
    [
        ("any", set(), "false"),
        ("any", {"phone_number"}, "true"),
        ("all", {"email"}, "false"),
        ("all", {"email", "phone_number"}, "true"),
    ],
)
def test_verification_criteria(make_app, criteria, verify, expected):
    from tests.resolver.conftest import Issuer

    app = _app(make_app, {"criteria": criteria})
    user_id = _user_with_email_and_phone(app, verify)
    assert _facts(app, user_id, Issuer)["X-Authgear-User-Verified"] == expected


@pytest.mark.embedded
def test_a_claim_that_is_not_enabled_does_not_count(make_app):
    from tests.resolver.conftest import Issuer

    app = _app(make_app, {"claims": {"email": {"enabled": False}}})
    only_email = _user_with_email_and_phone(app, {"email"})
    assert _facts(app, only_email, Issuer)["X-Authgear-User-Verified"] == "false"
    both = _user_with_email_and_phone(app, {"email", "phone_number"})
    assert _facts(app, both, Issuer)["X-Authgear-User-Verified"] == "true"


@pytest.mark.embedded
def test_roles_come_directly_and_through_groups_once_each(resolver_app, issuer):
    user_id = issuer.user()
    with resolver_app.app_context():
        roles = resolver_app.extensions["gatehouse"].roles
        for key in ("reader", "writer", "zeta:admin"):
            roles.create_role(key)
        roles.create_group("staff")
        roles.add_group_to_roles("staff", ["writer", "reader"])
        roles.add_user_to_groups(user_id, ["staff"])
        roles.add_user_to_roles(user_id, ["reader", "zeta:admin"])
        db.session.commit()
    headers = _facts(resolver_app, user_id, type(issuer))
    assert headers["X-Authgear-User-Roles"] == "reader,writer,zeta:admin"


@pytest.mark.embedded
def test_anonymous_user_without_authenticator(resolver_app, issuer):
    from app.identities.models import User

    with resolver_app.app_context():
        user = User()
        db.session.add(user)
        db.session.flush()
        db.session.add(Identity(user_id=user.id, type="anonymous", dedup_key=f"anonymous:{user.id}"))
        db.session.commit()
        user_id = user.id
    headers = _facts(resolver_app, user_id, type(issuer))
    assert headers["X-Authgear-User-Anonymous"] == "true"
    assert headers["X-Authgear-User-Verified"] == "false"
    assert headers["X-Authgear-User-Can-Reauthenticate"] == "false"
    assert "X-Authgear-User-Roles" not in headers

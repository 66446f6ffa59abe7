"""client_credentials as Authgear's token endpoint: the `resource` must be registered and linked to
the client, the scopes among the client's scopes on it; the token is an RFC 9068 JWT for the
resource that the resolver and userinfo do not take as a user's session."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.audit import AuditLog
from app.extensions import db
from app.resources.service import ResourceService
from app.sessions.models import AccessToken
from tests.oidc.helpers import M2M, WEB, basic, client_secret, decode_jwt, register_resource

API = "https://api.example.com"
OTHER = "https://other.example.com"


@pytest.fixture
def m2m_token(oidc_client, oidc_app):
    """`m2m_token(**form)`: the token endpoint's response to the M2M client's client_credentials."""

    def post(**form):
        data = {"grant_type": "client_credentials", **{k: v for k, v in form.items() if v is not None}}
        return oidc_client.post("/oauth2/token", data=data, headers=basic(M2M, client_secret(oidc_app, M2M)))

    return post


def _error(resp):
    assert resp.status_code == 400, resp.get_json()
    body = resp.get_json()
    return body["error"], body.get("error_description")


def _claims(oidc_client, token):
    return decode_jwt(token, oidc_client.get("/oauth2/jwks").get_json())


@pytest.mark.embedded
def test_token_for_a_linked_resource_carries_all_the_clients_scopes(oidc_client, oidc_app, m2m_token):
    register_resource(oidc_app, API, [M2M], ["write:orders", "read:orders"])
    resp = m2m_token(resource=API)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert body["scope"] == "read:orders write:orders"
    token = _claims(oidc_client, body["access_token"])
    assert token.header["typ"] == "at+jwt" and token.header["alg"] == "RS256" and token.header["kid"]
    # Authgear's EncodeClientAccessToken: exactly these claims.
    claims = token.claims
    assert set(claims) == {"iss", "aud", "sub", "client_id", "scope", "iat", "exp", "jti"}
    assert claims["iss"] == "http://localhost:3000" and claims["aud"] == [API]
    assert claims["sub"] == f"client_id_{M2M}" and claims["client_id"] == M2M
    assert claims["scope"] == "read:orders write:orders" and claims["exp"] - claims["iat"] == 1800
    assert re.fullmatch(r"[0-9a-f]{64}", claims["jti"])


def test_asking_for_some_of_the_scopes(oidc_client, oidc_app, m2m_token):
    register_resource(oidc_app, API, [M2M], ["read:orders", "write:orders"])
    body = m2m_token(resource=API, scope="write:orders").get_json()
    assert body["scope"] == "write:orders"
    assert _claims(oidc_client, body["access_token"]).claims["scope"] == "write:orders"


def test_a_client_without_scopes_on_the_resource_gets_an_empty_scope(oidc_client, oidc_app, m2m_token):
    register_resource(oidc_app, API, [M2M])
    body = m2m_token(resource=API).get_json()
    assert body["scope"] == "" and _claims(oidc_client, body["access_token"]).claims["scope"] == ""


def test_scopes_outside_the_clients_are_invalid_scope(oidc_app, m2m_token):
    register_resource(oidc_app, API, [M2M], ["read:orders"])
    with oidc_app.app_context():
        # On the resource but not given to this client.
        ResourceService(lambda _: True).create_scope(API, "admin")
        db.session.commit()
    assert _error(m2m_token(resource=API, scope="read:orders admin")) == (
        "invalid_scope",
        "specified scope is not allowed: admin",
    )
    assert _error(m2m_token(resource=API, scope="openid")) == (
        "invalid_scope",
        "specified scope is not allowed: openid",
    )


def test_an_unregistered_resource_is_invalid_target(m2m_token):
    assert _error(m2m_token(resource=API)) == ("invalid_target", "resource not found")


def test_a_resource_of_other_clients_is_invalid_target(oidc_app, m2m_token):
    register_resource(oidc_app, API, [WEB], ["read:orders"])
    assert _error(m2m_token(resource=API)) == ("invalid_target", "client is not associated with the resource")


def test_unlinking_the_resource_stops_new_tokens(oidc_app, m2m_token):
    register_resource(oidc_app, API, [M2M], ["read:orders"])
    assert m2m_token(resource=API).status_code == 200
    with oidc_app.app_context():
        ResourceService(lambda _: True).remove_resource_from_client(API, M2M)
        db.session.commit()
    assert _error(m2m_token(resource=API)) == ("invalid_target", "client is not associated with the resource")


@pytest.mark.parametrize(
    ("resource", "description"),
    [
        (None, "resource is required"),
        ("http://localhost:3000/api", "resource URI must not be a prefixed by authgear endpoint"),
        (API + "/", "resource not found"),  # URIs match exactly
        ("x" * 3000, "resource not found"),
    ],
)
def test_resource_errors(oidc_app, m2m_token, resource, description):
    register_resource(oidc_app, API, [M2M])
    assert _error(m2m_token(resource=resource)) == ("invalid_target", description)


def test_one_resource_per_token(oidc_client, oidc_app, m2m_token):
    register_resource(oidc_app, API, [M2M], ["read"])
    register_resource(oidc_app, OTHER, [M2M], ["write"])
    token = m2m_token(resource=OTHER).get_json()["access_token"]
    claims = _claims(oidc_client, token).claims
    assert claims["aud"] == [OTHER] and claims["scope"] == "write"
    # A scope of another resource is not one of this resource's.
    assert _error(m2m_token(resource=OTHER, scope="read"))[0] == "invalid_scope"


def test_the_resolver_and_userinfo_do_not_take_a_client_token(oidc_client, oidc_app, m2m_token):
    """Authgear's resolver checks `aud` against its own origin, so a token for a resource is no
    session there; with no user behind it userinfo refuses it too."""
    register_resource(oidc_app, API, [M2M], ["read"])
    token = m2m_token(resource=API).get_json()["access_token"]
    resolved = oidc_client.get("/_resolver/resolve", headers={"Authorization": f"Bearer {token}"})
    assert resolved.status_code == 200 and resolved.headers["X-Authgear-Session-Valid"] == "false"
    assert "X-Authgear-User-ID" not in resolved.headers
    userinfo = oidc_client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert userinfo.status_code == 401


def test_a_client_token_is_not_stored_and_revoking_it_answers_200(oidc_client, oidc_app, m2m_token):
    """As Authgear: a client token is a signed statement, written nowhere (each grant writes only its
    `m2m.token.created` audit entry); RFC 7009 answers 200 for a token the server does not hold."""
    register_resource(oidc_app, API, [M2M], ["read"])
    with oidc_app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AccessToken))
    token = m2m_token(resource=API).get_json()["access_token"]
    with oidc_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccessToken)) == before
        audited = db.session.scalars(select(AuditLog.activity_type).order_by(AuditLog.id.desc())).first()
        assert audited == "m2m.token.created"
    revoked = oidc_client.post(
        "/oauth2/revoke", data={"token": token}, headers=basic(M2M, client_secret(oidc_app, M2M))
    )
    assert revoked.status_code == 200


def test_a_wrong_secret_is_refused_before_the_resource_is_looked_up(oidc_client, oidc_app):
    register_resource(oidc_app, API, [M2M])
    resp = oidc_client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "resource": "https://unregistered.example.com"},
        headers=basic(M2M, "not-the-secret"),
    )
    assert resp.status_code in (400, 401) and resp.get_json()["error"] == "invalid_client"

"""Passkeys in the Admin API: listed with Authgear's claims, and deleted as one credential."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.admin.ids import to_global_id
from app.authenticators.models import Authenticator
from app.extensions import db
from app.identities.models import Identity
from tests.admin.conftest import admin_headers, gql, ok, sign_admin_jwt  # noqa: F401  (fixtures)
from tests.passkeys.flow_helpers import option, send, start
from tests.passkeys.test_flow_api import _signed_up_with_passkey, _user

QUERY = """
query ($id: ID!) { node(id: $id) { ... on User {
  passkeys { id type claims }
  authenticators(authenticatorType: PASSKEY) { edges { node { id type kind claims } } }
} } }
"""
CLAIM = "https://authgear.com/claims/passkey/"


@pytest.fixture
def app(passkey_app):
    return passkey_app()


def _passkey_rows(app):
    with app.app_context():
        identities = db.session.scalar(select(func.count()).select_from(Identity).where(Identity.type == "passkey"))
        authenticators = db.session.scalar(
            select(func.count()).select_from(Authenticator).where(Authenticator.type == "passkey")
        )
        return identities, authenticators


def test_passkeys_are_listed_with_authgear_claims(app, gql):  # noqa: F811
    username, key = _signed_up_with_passkey(app)
    user = ok(gql(QUERY, id=to_global_id("User", _user(app, username))))["node"]
    [identity] = user["passkeys"]
    assert identity["type"] == "PASSKEY"
    assert identity["claims"] == {CLAIM + "credential_id": key.id, CLAIM + "display_name": username}
    [edge] = user["authenticators"]["edges"]
    assert (edge["node"]["type"], edge["node"]["kind"]) == ("PASSKEY", "PRIMARY")
    assert edge["node"]["claims"] == {CLAIM + "credential_id": key.id}


@pytest.mark.parametrize("which", ["identity", "authenticator"])
def test_deleting_either_half_deletes_the_passkey(app, gql, which):  # noqa: F811
    username, key = _signed_up_with_passkey(app)
    user = ok(gql(QUERY, id=to_global_id("User", _user(app, username))))["node"]
    if which == "identity":
        mutation = "mutation ($id: ID!) { deleteIdentity(input: {identityID: $id}) { user { id } } }"
        ok(gql(mutation, id=user["passkeys"][0]["id"]))
    else:
        mutation = "mutation ($id: ID!) { deleteAuthenticator(input: {authenticatorID: $id}) { user { id } } }"
        ok(gql(mutation, id=user["authenticators"]["edges"][0]["node"]["id"]))
    assert _passkey_rows(app) == (0, 0)
    client = app.test_client()
    state = start(client)
    request_options = option(state, "identification", "passkey")["request_options"]
    error = send(client, state, {"identification": "passkey", "assertion_response": key.get(request_options)}, 404)
    assert error["reason"] == "UserNotFound"

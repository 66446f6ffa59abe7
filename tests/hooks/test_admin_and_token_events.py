"""Events of the Admin API (triggered_by admin_api) and of token issuance: user.pre_create for
createUser, user.profile.pre_update with its mutations, the identity events, user.deleted, and the
token hooks oidc.id_token.pre_create / oidc.jwt.pre_create that may add claims but not change them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from app.config import deep_merge
from app.extensions import db
from app.identities.models import User
from tests.hooks.conftest import signup
from tests.oidc.helpers import JWT_SPA, SPA_CB, exchange, get_code, new_session, oidc_overrides, oidc_secrets

GRAPHQL = "/_api/admin/graphql"
CREATE = """mutation($v: String!) { createUser(input: {definition: {loginID: {key: "email", value: $v}}}) {
  user { id } } }"""


def _gql(app, query: str, **variables: Any) -> dict[str, Any]:
    keys = app.extensions["gatehouse"].config.secrets["admin-api.auth"]["keys"]
    key = KeySet.import_key_set({"keys": keys}).keys[0]
    now = int(time.time())
    token = jwt.encode(
        {"alg": "RS256", "typ": "JWT", "kid": key.kid},
        {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 300},
        key,
    )
    resp = app.test_client().post(
        GRAPHQL, json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_admin_create_user_raises_user_pre_create_as_admin_api(hook_app, receiver):
    receiver.answers["pre"] = lambda e: (200, {"is_allowed": False, "title": "No", "reason": "admin"})
    app = hook_app({"blocking_handlers": [{"event": "user.pre_create", "url": receiver.url("pre")}]})
    body = _gql(app, CREATE, v="admin-made@example.com")
    assert body["errors"][0]["extensions"]["reason"] == "HookDisallowed"
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []
    (event,) = receiver.events["pre"]
    assert event["context"]["triggered_by"] == "admin_api"
    assert event["payload"]["identities"][0]["claims"]["email"] == "admin-made@example.com"
    receiver.answers["pre"] = lambda e: (200, {"is_allowed": True})
    assert "errors" not in _gql(app, CREATE, v="admin-made@example.com")


def test_admin_update_user_raises_profile_pre_update_with_mutations(hook_app, receiver):
    def mutate(event):
        attrs = {**event["payload"]["user"]["standard_attributes"], "nickname": "from-hook"}
        return 200, {"is_allowed": True, "mutations": {"user": {"standard_attributes": attrs}}}

    receiver.answers["pre"] = mutate
    app = hook_app({"blocking_handlers": [{"event": "user.profile.pre_update", "url": receiver.url("pre")}]})
    user_id = _gql(app, CREATE, v="profile@example.com")["data"]["createUser"]["user"]["id"]
    query = """mutation($id: ID!) { updateUser(input: {userID: $id, standardAttributes: {given_name: "Ann"}}) {
      user { standardAttributes } } }"""
    attrs = _gql(app, query, id=user_id)["data"]["updateUser"]["user"]["standardAttributes"]
    assert attrs["given_name"] == "Ann" and attrs["nickname"] == "from-hook"
    (event,) = receiver.events["pre"]
    assert event["type"] == "user.profile.pre_update"
    assert event["context"]["triggered_by"] == "admin_api"
    assert event["payload"]["user"]["standard_attributes"]["given_name"] == "Ann"


@pytest.mark.embedded
def test_identity_events_and_user_deleted(hook_app, receiver):
    hook = {"non_blocking_handlers": [{"events": ["*"], "url": receiver.url("events")}]}
    app = hook_app(hook, redis_url=None)
    user_id = _gql(app, CREATE, v="first@example.com")["data"]["createUser"]["user"]["id"]
    added = """mutation($id: ID!) { createIdentity(input: {userID: $id,
      definition: {loginID: {key: "email", value: "second@example.com"}}}) { identity { id } } }"""
    identity_id = _gql(app, added, id=user_id)["data"]["createIdentity"]["identity"]["id"]
    updated = """mutation($u: ID!, $i: ID!) { updateIdentity(input: {userID: $u, identityID: $i,
      definition: {loginID: {key: "email", value: "third@example.com"}}}) { identity { id } } }"""
    assert "errors" not in _gql(app, updated, u=user_id, i=identity_id)
    removed = """mutation($i: ID!) { deleteIdentity(input: {identityID: $i}) { user { id } } }"""
    assert "errors" not in _gql(app, removed, i=identity_id)
    deleted = """mutation($u: ID!) { deleteUser(input: {userID: $u, reason: "gone"}) { deletedUserID } }"""
    assert "errors" not in _gql(app, deleted, u=user_id)
    got = {e["type"]: e for e in receiver.wait("events", 5, timeout=30)}
    assert {"user.created", "identity.email.added", "identity.email.updated"} <= set(got)
    assert {"identity.email.removed", "user.deleted"} <= set(got)
    assert all(e["context"]["triggered_by"] == "admin_api" for e in got.values())
    assert got["identity.email.added"]["payload"]["identity"]["claims"]["email"] == "second@example.com"
    change = got["identity.email.updated"]["payload"]
    assert change["old_identity"]["claims"]["email"] == "second@example.com"
    assert change["new_identity"]["claims"]["email"] == "third@example.com"
    assert change["old_identity"]["id"] == change["new_identity"]["id"]
    assert got["identity.email.removed"]["payload"]["identity"]["claims"]["email"] == "third@example.com"
    gone = got["user.deleted"]["payload"]["user"]
    assert gone["standard_attributes"]["email"] == "first@example.com"
    assert got["user.deleted"]["context"]["user_id"] == gone["id"]


def _token_app(make_app, secrets_items, hook_secrets, hook):
    secrets = {**oidc_secrets(secrets_items), "webhook": hook_secrets["webhook"]}
    return make_app(deep_merge(oidc_overrides(), {"hook": hook}), secrets=secrets)


def _tokens(app) -> dict[str, Any]:
    client = app.test_client()
    from app.transport import session_cookie_name

    with app.app_context():
        _, cookie = new_session(app.extensions["gatehouse"])
    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), cookie)
    code, verifier = get_code(client, JWT_SPA, SPA_CB, scope="openid")
    resp = exchange(client, code, verifier, JWT_SPA, SPA_CB)
    return {"status": resp.status_code, **resp.get_json()}


def _claims(app, token: str) -> dict[str, Any]:
    jwks = app.test_client().get("/oauth2/jwks").get_json()
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims


def test_token_hooks_add_claims(make_app, secrets_items, hook_secrets, receiver):
    def add(name):
        def answer(event):
            kind = "id_token" if event["type"] == "oidc.id_token.pre_create" else "jwt"
            claims = {**event["payload"][kind]["payload"], "x_added_by": name}
            return 200, {"is_allowed": True, "mutations": {kind: {"payload": claims}}}

        return answer

    receiver.answers["idt"] = add("id-token-hook")
    receiver.answers["at"] = add("jwt-hook")
    hook = {
        "blocking_handlers": [
            {"event": "oidc.id_token.pre_create", "url": receiver.url("idt")},
            {"event": "oidc.jwt.pre_create", "url": receiver.url("at")},
        ]
    }
    app = _token_app(make_app, secrets_items, hook_secrets, hook)
    tokens = _tokens(app)
    assert tokens["status"] == 200, tokens
    id_claims = _claims(app, tokens["id_token"])
    access_claims = _claims(app, tokens["access_token"])
    assert id_claims["x_added_by"] == "id-token-hook"
    assert access_claims["x_added_by"] == "jwt-hook"
    (event,) = receiver.events["idt"]
    assert event["payload"]["id_token"]["payload"]["sub"] == id_claims["sub"] == event["context"]["user_id"]
    assert {"user", "identities", "id_token"} == set(event["payload"])
    (event,) = receiver.events["at"]
    assert event["payload"]["jwt"]["payload"]["client_id"] == JWT_SPA


def test_token_hooks_may_not_change_or_remove_claims(make_app, secrets_items, hook_secrets, receiver):
    def tamper(event):
        claims = {**event["payload"]["jwt"]["payload"], "sub": "someone-else"}
        claims.pop("scope")
        return 200, {"is_allowed": True, "mutations": {"jwt": {"payload": claims}}}

    receiver.answers["at"] = tamper
    app = _token_app(
        make_app,
        secrets_items,
        hook_secrets,
        {"blocking_handlers": [{"event": "oidc.jwt.pre_create", "url": receiver.url("at")}]},
    )
    tokens = _tokens(app)
    assert tokens["status"] == 400, tokens
    assert tokens["error"] == {
        "name": "Invalid",
        "reason": "InvalidJWTMutations",
        "message": "invalid JWT mutations",
        "code": 400,
        "info": {"changed": ["sub"], "removed": ["scope"]},
    }


def test_signup_unaffected_by_token_hooks_config(hook_app, receiver):
    """A project with only token hooks signs up and logs in as before (the flows raise nothing)."""
    hook = {"blocking_handlers": [{"event": "oidc.jwt.pre_create", "url": receiver.url("at")}]}
    assert signup(hook_app(hook).test_client(), "plainsignup").status_code == 200
    assert receiver.events.get("at") is None

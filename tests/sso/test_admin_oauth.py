"""OAuth identities in the Admin API and the export, as Authgear has them: `deleteIdentity` removes one
(refusing the last identity), `createIdentity` takes only a login ID definition (Authgear's
IdentityDefinition has no OAuth member), and an export record lists the OAuth identity with the
provider's raw profile (`oauth.user_profile`)."""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from app.admin.ids import to_global_id
from app.extensions import db
from app.identities.models import Identity
from app.jobs.export_records import build_records, user_batches
from tests.sso.conftest import google_provider
from tests.sso.flowapi import sign_in_with


def _admin(app, client, query, variables=None):
    svc = app.extensions["gatehouse"]
    key = KeySet.import_key_set({"keys": svc.config.secrets["admin-api.auth"]["keys"]}).keys[0]
    now = int(time.time())
    token = jwt.encode(
        {"alg": "RS256", "kid": key.kid}, {"aud": [svc.config.project["id"]], "iat": now, "exp": now + 300}, key
    )
    resp = client.post(
        "/_api/admin/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
    )
    return resp.get_json()


DELETE = "mutation($id: ID!) { deleteIdentity(input: {identityID: $id}) { user { id } } }"


def _signed_up(sso_app, standins, sub):
    app = sso_app([google_provider()], {"google": "google-secret"})
    client = app.test_client()
    standins.next_user["google"] = {
        "sub": sub,
        "email": f"admin.{sub}@gmail.com",
        "name": "Ada",
        "email_verified": True,
    }
    sign_in_with(client, standins, "signup", "google")
    with app.app_context():
        identity = db.session.scalar(select(Identity).where(Identity.provider_subject_id == sub))
        return app, client, identity.user_id, identity.id


def test_delete_identity_removes_an_oauth_identity_but_not_the_last(sso_app, standins):
    app, client, user_id, identity_id = _signed_up(sso_app, standins, "3001")
    refused = _admin(app, client, DELETE, {"id": to_global_id("Identity", identity_id)})
    assert refused["errors"][0]["extensions"]["reason"] == "InvariantViolated"
    assert refused["errors"][0]["extensions"]["info"]["cause"]["kind"] == "RemoveLastIdentity"

    create = """mutation($user: ID!) { createIdentity(input: {userID: $user,
        definition: {loginID: {key: "email", value: "ada.admin@example.com"}}}) { identity { type } } }"""
    made = _admin(app, client, create, {"user": to_global_id("User", user_id)})
    assert made["data"]["createIdentity"]["identity"]["type"] == "LOGIN_ID"
    done = _admin(app, client, DELETE, {"id": to_global_id("Identity", identity_id)})
    assert "errors" not in done, done
    with app.app_context():
        assert db.session.get(Identity, identity_id) is None


def test_create_identity_takes_no_oauth_definition(sso_app, standins):
    app, client, user_id, _ = _signed_up(sso_app, standins, "3002")
    create = """mutation($user: ID!) { createIdentity(input: {userID: $user,
        definition: {oauth: {providerAlias: "google", subjectID: "x"}}}) { identity { type } } }"""
    refused = _admin(app, client, create, {"user": to_global_id("User", user_id)})
    assert refused.get("data") is None and refused["errors"]


def test_export_record_lists_the_oauth_identity_with_its_profile(sso_app, standins):
    app, _, user_id, _ = _signed_up(sso_app, standins, "3003")
    with app.app_context():
        records = [r for batch in user_batches() for r in build_records(batch, "http://localhost:3000")]
    (record,) = [r for r in records if r["sub"] == user_id]
    (identity,) = record["identities"]
    assert identity["type"] == "oauth"
    oauth = identity["oauth"]
    assert oauth["provider_alias"] == "google" and oauth["provider_type"] == "google"
    assert oauth["provider_subject_id"] == "3003"
    assert oauth["user_profile"]["sub"] == "3003" and oauth["user_profile"]["iss"] == "https://accounts.google.com"
    assert identity["claims"]["email"] == "admin.3003@gmail.com"

"""An OAuth identity in the Admin API's `identities`, with Authgear's claim names and the raw profile."""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.sso.conftest import google_provider
from tests.sso.flowapi import sign_in_with


def test_user_identities_show_the_oauth_identity(sso_app, standins):
    app = sso_app([google_provider()], {"google": "google-secret"})
    client = app.test_client()
    standins.next_user["google"] = {"sub": "1090001", "email": "dana@gmail.com", "name": "Dana", "email_verified": True}
    sign_in_with(client, standins, "signup", "google")
    svc = app.extensions["gatehouse"]
    key = KeySet.import_key_set({"keys": svc.config.secrets["admin-api.auth"]["keys"]}).keys[0]
    now = int(time.time())
    token = jwt.encode(
        {"alg": "RS256", "kid": key.kid}, {"aud": [svc.config.project["id"]], "iat": now, "exp": now + 300}, key
    )
    query = "{ users(first: 5) { edges { node { identities { edges { node { type claims } } } } } } }"
    resp = client.post("/_api/admin/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})
    node = resp.get_json()["data"]["users"]["edges"][0]["node"]["identities"]["edges"][0]["node"]
    claims = node["claims"]
    assert node["type"] == "OAUTH"
    assert claims["https://authgear.com/claims/oauth/provider_type"] == "google"
    assert claims["https://authgear.com/claims/oauth/provider_alias"] == "google"
    assert claims["https://authgear.com/claims/oauth/subject_id"] == "1090001"
    assert claims["https://authgear.com/claims/oauth/profile"]["iss"] == "https://accounts.google.com"
    assert claims["email"] == "dana@gmail.com"

"""Discovery (contract 1.2), JWKS, and key rotation by the CLI."""

from __future__ import annotations

import time

import pytest
import yaml

from app.config import load_config
from app.oidc.keys import rotate
from app.project_files import new_rsa_jwk
from tests.oidc.helpers import SPA, SPA_CB, continued, decode_jwt, new_session, oidc_overrides, pkce_pair, query_of

CONTRACT_KEYS = {
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "revocation_endpoint",
    "end_session_endpoint",
    "jwks_uri",
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "dpop_signing_alg_values_supported",
    "claims_supported",
}


@pytest.mark.embedded
def test_both_discovery_documents_have_the_contract_key_set(oidc_client):
    oidc = oidc_client.get("/.well-known/openid-configuration")
    rfc8414 = oidc_client.get("/.well-known/oauth-authorization-server")
    assert oidc.status_code == rfc8414.status_code == 200
    assert oidc.get_json() == rfc8414.get_json()
    doc = oidc.get_json()
    assert set(doc) == CONTRACT_KEYS
    origin = "http://localhost:3000"
    assert doc["issuer"] == origin
    assert doc["authorization_endpoint"] == f"{origin}/oauth2/authorize"
    assert doc["token_endpoint"] == f"{origin}/oauth2/token"
    assert doc["userinfo_endpoint"] == f"{origin}/oauth2/userinfo"
    assert doc["revocation_endpoint"] == f"{origin}/oauth2/revoke"
    assert doc["end_session_endpoint"] == f"{origin}/oauth2/end_session"
    assert doc["jwks_uri"] == f"{origin}/oauth2/jwks"
    assert oidc.headers["Access-Control-Allow-Origin"] == "*"


def test_discovery_advertises_exactly_what_is_implemented(oidc_client):
    doc = oidc_client.get("/.well-known/openid-configuration").get_json()
    assert doc["response_types_supported"] == [
        "code",
        "urn:authgear:params:oauth:response-type:settings-action",
        "none",
    ]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert doc["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["public"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"none", "client_secret_post", "client_secret_basic"}
    # Authgear's AllowedScopes, in its order (pkg/lib/oauth/scope.go).
    assert doc["scopes_supported"] == [
        "offline_access",
        "device_sso",
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "https://authgear.com/scopes/full-access",
        "https://authgear.com/scopes/full-userinfo",
        "https://authgear.com/scopes/pre-authenticated-url",
    ]
    assert doc["dpop_signing_alg_values_supported"] == []
    assert {"iss", "aud", "sub", "email", "email_verified", "updated_at", "address"} <= set(doc["claims_supported"])


def test_discovery_answers_cors_preflight(oidc_client):
    resp = oidc_client.options("/.well-known/openid-configuration", headers={"Origin": "https://any.example"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.embedded
def test_jwks_publishes_public_rsa_keys_with_kid(oidc_client, oidc_app):
    resp = oidc_client.get("/oauth2/jwks")
    assert resp.status_code == 200
    keys = resp.get_json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["kid"]
    assert set(key) <= {"kty", "kid", "use", "alg", "n", "e"}  # no private members
    secret_kid = oidc_app.extensions["gatehouse"].config.secrets["oauth"]["keys"][0]["kid"]
    assert key["kid"] == secret_kid
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_rotate_keeps_replaced_keys_until_their_tokens_expire():
    old = new_rsa_jwk()
    older = new_rsa_jwk()
    now = int(time.time())
    old["created_at"] = now - 100
    older["created_at"] = now - 10_000
    kept, kid = rotate([old, older], retire_after=3600, now=now)
    # `old` was replaced just now: still published. `older` was replaced 100 s ago by `old`: kept too.
    assert [k["kid"] for k in kept] == [kid, old["kid"], older["kid"]]
    kept, _ = rotate([old, older], retire_after=50, now=now)
    # With a 50 s lifetime, `older` (replaced 100 s ago) has nothing valid left to verify.
    assert [k["kid"] for k in kept][1:] == [old["kid"]]


def test_rotate_cli_makes_a_new_signing_key_and_keeps_the_old_one_published(
    tmp_path, make_app, secrets_items, database_url
):
    project = oidc_overrides()
    project.update({"id": "rotation-test"})
    (tmp_path / "authgear.yaml").write_text(yaml.safe_dump(project))
    (tmp_path / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": secrets_items}))
    old_kid = next(i for i in secrets_items if i["key"] == "oauth")["data"]["keys"][0]["kid"]
    env = {"GATEHOUSE_CONFIG_DIR": str(tmp_path), "DATABASE_URL": database_url}

    before = make_app(config_dir=tmp_path)
    result = before.test_cli_runner().invoke(args=["gatehouse", "rotate-oidc-key"])
    assert result.exit_code == 0, result.output
    assert "new signing key" in result.output

    rotated = load_config(env)
    keys = rotated.secrets["oauth"]["keys"]
    assert len(keys) == 2 and keys[1]["kid"] == old_kid
    new_kid = keys[0]["kid"]
    # The restarted app publishes both keys and signs with the new one.
    after = make_app(secrets=rotated.secrets)
    client = after.test_client()
    assert [k["kid"] for k in client.get("/oauth2/jwks").get_json()["keys"]] == [new_kid, old_kid]
    with after.app_context():
        _, token = new_session(after.extensions["gatehouse"])
    client.set_cookie("session", token)
    verifier, challenge = pkce_pair()
    loc = client.get(
        "/oauth2/authorize",
        query_string={
            "client_id": SPA,
            "redirect_uri": SPA_CB,
            "response_type": "code",
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    ).headers["Location"]
    code = query_of(client.get(continued(loc)).headers["Location"])["code"]
    body = client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": SPA_CB,
            "client_id": SPA,
            "code_verifier": verifier,
        },
    ).get_json()
    jwks = client.get("/oauth2/jwks").get_json()
    assert decode_jwt(body["id_token"], jwks).header["kid"] == new_kid

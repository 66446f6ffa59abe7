"""End to end against a live server, with authlib's OAuth client (`OAuth2Session`) as the relying
party and `requests` as the browser. The hosted login is simulated: the test creates the user's IdP
session and puts its cookie in the browser, as the flow engine does when a login finishes."""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc.helpers import (
    M2M,
    ROTATING,
    ROTATING_CB,
    SPA,
    SPA_CB,
    WEB,
    WEB_CB,
    client_secret,
    query_of,
    register_resource,
)
from tests.oidc.rp import Browser, discover, verify_id_token


def _rp(server, client_id=SPA, redirect_uri=SPA_CB, scope="openid offline_access", **kwargs) -> OAuth2Session:
    return OAuth2Session(
        client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge_method="S256",
        **kwargs,
    )


@pytest.mark.embedded
def test_code_with_pkce_userinfo_and_refresh(live_server):
    meta = discover(live_server)
    browser = Browser(live_server)
    user = browser.log_in()
    rp = _rp(live_server)
    verifier = "v" * 20 + "-verifier-" + "w" * 30
    url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce="n-123")
    callback = browser.authorize(url)
    assert query_of(callback)["state"] == state
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    claims = verify_id_token(live_server, token["id_token"], SPA, nonce="n-123").claims
    assert claims["sub"] == user.id

    # userinfo with the bearer token in the header (OAuth2Session adds it) ...
    info = rp.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"]
    # ... and in a form body (RFC 6750 section 2.2).
    by_body = requests.post(meta["userinfo_endpoint"], data={"access_token": token["access_token"]}, timeout=5)
    assert by_body.status_code == 200 and by_body.json()["sub"] == user.id

    refreshed = rp.refresh_token(meta["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] == token["refresh_token"]  # no rotation for this client
    assert rp.get(meta["userinfo_endpoint"]).json()["sub"] == user.id


def test_rotation_and_reuse_detection(live_server):
    meta = discover(live_server)
    browser = Browser(live_server)
    browser.log_in()
    rp = _rp(live_server, ROTATING, ROTATING_CB)
    verifier = "rotating-" + "r" * 50
    url, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=browser.authorize(url), code_verifier=verifier
    )
    first_refresh = token["refresh_token"]
    rotated = rp.refresh_token(meta["token_endpoint"])
    assert rotated["refresh_token"] != first_refresh

    # An attacker replays the first refresh token: refused, and the grant is revoked for everyone.
    thief = OAuth2Session(ROTATING, token={"refresh_token": first_refresh, "access_token": "x", "token_type": "Bearer"})
    with pytest.raises(OAuthError, match="invalid_grant"):
        thief.refresh_token(meta["token_endpoint"])
    with pytest.raises(OAuthError, match="invalid_grant"):
        rp.refresh_token(meta["token_endpoint"])
    assert rp.get(meta["userinfo_endpoint"]).status_code == 401


def test_confidential_client_with_basic_and_post_auth_then_revoke(live_server):
    meta = discover(live_server)
    browser = Browser(live_server)
    browser.log_in()
    secret = client_secret(live_server.app, WEB)
    for method in ("client_secret_basic", "client_secret_post"):
        rp = OAuth2Session(
            WEB, secret, redirect_uri=WEB_CB, scope="openid offline_access email", token_endpoint_auth_method=method
        )
        url, _ = rp.create_authorization_url(meta["authorization_endpoint"], nonce="n")
        token = rp.fetch_token(meta["token_endpoint"], authorization_response=browser.authorize(url))
        claims = verify_id_token(live_server, token["id_token"], WEB, nonce="n").claims
        assert "email" in claims  # confidential clients get the scope's claims in the ID token
        assert rp.get(meta["userinfo_endpoint"]).status_code == 200

        revoked = rp.revoke_token(meta["revocation_endpoint"], token["refresh_token"], token_type_hint="refresh_token")
        assert revoked.status_code == 200
        assert rp.get(meta["userinfo_endpoint"]).status_code == 401
        with pytest.raises(OAuthError, match="invalid_grant"):
            rp.refresh_token(meta["token_endpoint"])


def test_end_session(live_server):
    meta = discover(live_server)
    browser = Browser(live_server)
    browser.log_in()
    rp = _rp(live_server, scope="openid")
    verifier = "end-session-" + "e" * 40
    url, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=browser.authorize(url), code_verifier=verifier
    )
    resp = browser.http.get(
        meta["end_session_endpoint"],
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": "http://localhost:4000/bye",
            "state": "s1",
        },
        allow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["Location"] == "http://localhost:4000/bye?state=s1"
    assert "session" not in browser.http.cookies
    # The access token lived on the browser session, which is gone.
    assert rp.get(meta["userinfo_endpoint"]).status_code == 401
    # And the next silent authorization needs a login.
    url, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, prompt="none")
    again = browser.http.get(url, allow_redirects=False)
    assert query_of(again.headers["Location"])["error"] == "login_required"


@pytest.mark.embedded
def test_client_credentials(live_server):
    register_resource(live_server.app, "https://reports.example.com", [M2M], ["read:reports"])
    meta = discover(live_server)
    rp = OAuth2Session(M2M, client_secret(live_server.app, M2M), scope="read:reports")
    token = rp.fetch_token(
        meta["token_endpoint"], grant_type="client_credentials", resource="https://reports.example.com"
    )
    assert token["token_type"] == "Bearer" and token["scope"] == "read:reports"
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())
    access = jwt.decode(token["access_token"], keys, algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["aud"] == ["https://reports.example.com"] and access.claims["sub"] == f"client_id_{M2M}"


def test_pkce_code_challenge_from_authlib_matches_ours(live_server):
    """authlib's own S256 helper and the provider agree (RFC 7636 appendix B)."""
    meta = discover(live_server)
    browser = Browser(live_server)
    browser.log_in()
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert create_s256_code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    rp = _rp(live_server, scope="openid")
    url, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    assert rp.fetch_token(meta["token_endpoint"], authorization_response=browser.authorize(url), code_verifier=verifier)

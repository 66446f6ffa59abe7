"""The OpenID Foundation's Basic OP certification plan, one test per module, against a live server
with authlib's OAuth client as the relying party (see /work/shared/contract/oidc-basic-op-modules.md).

Unless noted, modules run with response_type `code` and `client_secret_basic`, like the suite: the
relying party is the `confidential` test client.

Covered (38 modules, 36 apply):
    oidcc-server                                  test_oidcc_server
    oidcc-response-type-missing                   test_oidcc_response_type_missing
    oidcc-idtoken-signature                       test_oidcc_idtoken_signature (static-client reading:
                                                  no algorithm registered, so the default RS256)
    oidcc-userinfo-get                            test_oidcc_userinfo_get
    oidcc-userinfo-post-header                    test_oidcc_userinfo_post_header
    oidcc-userinfo-post-body                      test_oidcc_userinfo_post_body
    oidcc-ensure-request-without-nonce-succeeds-for-code-flow
                                                  test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow
    oidcc-scope-profile                           test_oidcc_scope_profile
    oidcc-scope-email                             test_oidcc_scope_email
    oidcc-scope-address                           test_oidcc_scope_address
    oidcc-scope-phone                             test_oidcc_scope_phone
    oidcc-scope-all                               test_oidcc_scope_all
    oidcc-alternate-happy-flow                    test_oidcc_alternate_happy_flow
    oidcc-display-page                            test_oidcc_display_page
    oidcc-display-popup                           test_oidcc_display_popup
    oidcc-prompt-login                            test_oidcc_prompt_login
    oidcc-prompt-none-not-logged-in               test_oidcc_prompt_none_not_logged_in
    oidcc-prompt-none-logged-in                   test_oidcc_prompt_none_logged_in
    oidcc-max-age-1                               test_oidcc_max_age_1
    oidcc-max-age-10000                           test_oidcc_max_age_10000
    oidcc-ensure-request-with-unknown-parameter-succeeds
                                                  test_oidcc_ensure_request_with_unknown_parameter_succeeds
    oidcc-id-token-hint                           test_oidcc_id_token_hint
    oidcc-login-hint                              test_oidcc_login_hint
    oidcc-ui-locales                              test_oidcc_ui_locales
    oidcc-claims-locales                          test_oidcc_claims_locales
    oidcc-ensure-request-with-acr-values-succeeds test_oidcc_ensure_request_with_acr_values_succeeds
    oidcc-codereuse                               test_oidcc_codereuse
    oidcc-codereuse-30seconds                     test_oidcc_codereuse_30seconds
    oidcc-ensure-registered-redirect-uri          test_oidcc_ensure_registered_redirect_uri
    oidcc-ensure-post-request-succeeds            test_oidcc_ensure_post_request_succeeds
    oidcc-server-client-secret-post               test_oidcc_server_client_secret_post
    oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported
                                                  test_oidcc_request_uri_rejected_as_unsupported
    oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported
                                                  test_oidcc_unsigned_request_object_rejected_as_unsupported
    oidcc-claims-essential                        test_oidcc_claims_essential
    oidcc-ensure-request-object-with-redirect-uri test_oidcc_ensure_request_object_with_redirect_uri
    oidcc-refresh-token                           test_oidcc_refresh_token
    oidcc-ensure-request-with-valid-pkce-succeeds test_oidcc_ensure_request_with_valid_pkce_succeeds

Not applicable:
    oidcc-idtoken-unsigned   runs only in the dynamic-registration variant, where the RP registers
                             `id_token_signed_response_alg: none`. Gatehouse's clients are static
                             (`oauth.clients`) and every ID token is RS256 (discovery says so).
    (oidcc-idtoken-signature is likewise a dynamic-registration module; its static reading, "RS256
    when nothing was registered", is covered above.)
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import select

from app.extensions import db
from app.identities.models import User
from app.sessions.models import IdPSession
from tests.oidc.helpers import SPA, SPA_CB, WEB, WEB_CB, client_secret, query_of
from tests.oidc.rp import Browser, discover, verify_id_token

PROFILE = {
    "name": "Jane Q. Doe",
    "given_name": "Jane",
    "family_name": "Doe",
    "middle_name": "Quinn",
    "nickname": "JJ",
    "profile": "https://jane.example/profile",
    "picture": "https://jane.example/me.png",
    "website": "https://jane.example",
    "gender": "female",
    "birthdate": "1990-01-31",
    "zoneinfo": "Asia/Hong_Kong",
    "locale": "en-HK",
}
ADDRESS = {"formatted": "1 Main St, Hong Kong", "country": "HK"}
PHONE = "+85291234567"


class OP:
    """The provider under test, a browser, and relying parties for it."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.meta = discover(server)
        self.browser = Browser(server)

    def rp(self, method: str = "client_secret_basic", scope: str = "openid", **kwargs: Any) -> OAuth2Session:
        return OAuth2Session(
            WEB,
            client_secret(self.server.app, WEB),
            redirect_uri=WEB_CB,
            scope=scope,
            token_endpoint_auth_method=method,
            **kwargs,
        )

    def url(self, rp: OAuth2Session, **params: Any) -> tuple[str, str]:
        return rp.create_authorization_url(self.meta["authorization_endpoint"], **params)

    def token(self, rp: OAuth2Session, callback: str, **kwargs: Any) -> dict[str, Any]:
        return rp.fetch_token(self.meta["token_endpoint"], authorization_response=callback, **kwargs)

    def login_flow(self, scope: str = "openid", nonce: str | None = "n-0", **params: Any) -> tuple[OAuth2Session, dict]:
        rp = self.rp(scope=scope)
        if nonce:
            params["nonce"] = nonce
        url, state = self.url(rp, **params)
        callback = self.browser.authorize(url)
        assert query_of(callback)["state"] == state
        return rp, self.token(rp, callback)

    def set_profile(self, user: User, **attrs: Any) -> None:
        with self.server.app.app_context():
            row = db.session.get(User, user.id)
            row.standard_attributes = {**row.standard_attributes, **attrs}
            if "phone_number" in attrs:
                self.server.app.extensions["gatehouse"].users.mark_verified(user.id, "phone_number", PHONE)
            db.session.commit()

    def age_sessions(self, seconds: int) -> None:
        with self.server.app.app_context():
            for session in db.session.scalars(select(IdPSession)):
                session.authenticated_at -= timedelta(seconds=seconds)
            db.session.commit()


@pytest.fixture
def op(live_server) -> OP:
    return OP(live_server)


def _claims(op: OP, token: dict, nonce: str | None = "n-0") -> dict:
    return verify_id_token(op.server, token["id_token"], WEB, nonce=nonce).claims


@pytest.mark.embedded
def test_oidcc_server(op):
    op.browser.log_in()
    rp, token = op.login_flow()
    id_token = verify_id_token(op.server, token["id_token"], WEB, nonce="n-0")
    assert id_token.header["alg"] == "RS256"
    assert id_token.claims["exp"] > id_token.claims["iat"]


def test_oidcc_response_type_missing(op):
    rp = op.rp()
    url, state = op.url(rp)
    url = re.sub(r"response_type=code&?", "", url)
    resp = op.browser.start(url)
    query = query_of(resp.headers["Location"])
    assert resp.headers["Location"].startswith(WEB_CB)
    assert query["error"] in ("invalid_request", "unsupported_response_type") and query["state"] == state


def test_oidcc_idtoken_signature(op):
    op.browser.log_in()
    _, token = op.login_flow()
    assert verify_id_token(op.server, token["id_token"], WEB).header["alg"] == "RS256"
    assert op.meta["id_token_signing_alg_values_supported"] == ["RS256"]


def test_oidcc_userinfo_get(op):
    user = op.browser.log_in()
    rp, token = op.login_flow()
    info = rp.get(op.meta["userinfo_endpoint"]).json()
    assert info["sub"] == _claims(op, token)["sub"] == user.id


def test_oidcc_userinfo_post_header(op):
    op.browser.log_in()
    rp, token = op.login_flow()
    info = rp.post(op.meta["userinfo_endpoint"]).json()
    assert info["sub"] == _claims(op, token)["sub"]


def test_oidcc_userinfo_post_body(op):
    op.browser.log_in()
    _, token = op.login_flow()
    resp = requests.post(op.meta["userinfo_endpoint"], data={"access_token": token["access_token"]}, timeout=5)
    assert resp.status_code == 200 and resp.json()["sub"] == _claims(op, token)["sub"]


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(op):
    op.browser.log_in()
    _, token = op.login_flow(nonce=None)
    assert "nonce" not in _claims(op, token, nonce=None)


def _scope_claims(op: OP, scope: str) -> tuple[dict, dict]:
    user = op.browser.log_in()
    op.set_profile(user, **PROFILE, address=ADDRESS, phone_number=PHONE)
    rp, token = op.login_flow(scope=scope)
    return _claims(op, token), rp.get(op.meta["userinfo_endpoint"]).json()


def test_oidcc_scope_profile(op):
    id_claims, info = _scope_claims(op, "openid profile")
    for name, value in PROFILE.items():
        assert id_claims[name] == value and info[name] == value
    assert isinstance(id_claims["updated_at"], int)
    assert "email" not in id_claims and "address" not in id_claims


def test_oidcc_scope_email(op):
    id_claims, info = _scope_claims(op, "openid email")
    assert "@example.com" in id_claims["email"] and id_claims["email_verified"] is False
    assert info["email"] == id_claims["email"]
    assert "name" not in id_claims


def test_oidcc_scope_address(op):
    id_claims, info = _scope_claims(op, "openid address")
    assert id_claims["address"] == ADDRESS and info["address"] == ADDRESS


def test_oidcc_scope_phone(op):
    id_claims, info = _scope_claims(op, "openid phone")
    assert id_claims["phone_number"] == PHONE and id_claims["phone_number_verified"] is True
    assert info["phone_number"] == PHONE


def test_oidcc_scope_all(op):
    id_claims, _ = _scope_claims(op, "openid profile email address phone")
    assert id_claims["name"] == PROFILE["name"] and "email" in id_claims
    assert id_claims["address"] == ADDRESS and id_claims["phone_number"] == PHONE


def test_oidcc_alternate_happy_flow(op):
    op.browser.log_in()
    rp = op.rp(scope="email openid")
    url, state = op.url(rp, nonce="alt")
    base, query = url.split("?", 1)
    url = base + "?" + "&".join(reversed(query.split("&")))  # another parameter order
    callback = op.browser.authorize(url)
    token = op.token(rp, callback)
    assert _claims(op, token, nonce="alt")["email"]


def test_oidcc_display_page(op):
    op.browser.log_in()
    _, token = op.login_flow(display="page")
    assert _claims(op, token)["sub"]


def test_oidcc_display_popup(op):
    op.browser.log_in()
    _, token = op.login_flow(display="popup")
    assert _claims(op, token)["sub"]


def test_oidcc_prompt_login(op):
    op.browser.log_in()
    _, first = op.login_flow()
    first_auth_time = _claims(op, first)["auth_time"]
    op.age_sessions(5)  # the first login was a while ago
    rp = op.rp()
    url, _ = op.url(rp, nonce="n-0", prompt="login")
    resp = op.browser.start(url)
    assert resp.headers["Location"].startswith("/login?")  # the user must log in again
    op.browser.log_in()
    token = op.token(rp, op.browser.consent(resp.headers["Location"]).headers["Location"])
    assert _claims(op, token)["auth_time"] > first_auth_time - 5  # the aged login would say exactly that


def test_oidcc_prompt_none_not_logged_in(op):
    rp = op.rp()
    url, state = op.url(rp, prompt="none")
    location = op.browser.start(url).headers["Location"]
    assert location.startswith(WEB_CB)
    assert query_of(location) == {
        "error": "login_required",
        "error_description": "authentication required",
        "state": state,
    }


def test_oidcc_prompt_none_logged_in(op):
    user = op.browser.log_in()
    _, first = op.login_flow()
    rp = op.rp()
    url, _ = op.url(rp, nonce="n-0", prompt="none")
    resp = op.browser.start(url)
    assert resp.headers["Location"].startswith("/oauth2/consent?")  # no login page
    token = op.token(rp, op.browser.consent(resp.headers["Location"]).headers["Location"])
    claims = _claims(op, token)
    assert claims["sub"] == user.id and claims["auth_time"] == _claims(op, first)["auth_time"]


def test_oidcc_max_age_1(op):
    op.browser.log_in()
    _, first = op.login_flow()
    op.age_sessions(2)  # instead of sleeping: the login is now 2 s old
    rp = op.rp()
    url, _ = op.url(rp, nonce="n-0", max_age="1")
    resp = op.browser.start(url)
    assert resp.headers["Location"].startswith("/login?")
    op.browser.log_in()
    token = op.token(rp, op.browser.consent(resp.headers["Location"]).headers["Location"])
    assert _claims(op, token)["auth_time"] >= _claims(op, first)["auth_time"]


def test_oidcc_max_age_10000(op):
    op.browser.log_in()
    _, first = op.login_flow()
    rp = op.rp()
    url, _ = op.url(rp, nonce="n-0", max_age="10000")
    resp = op.browser.start(url)
    assert resp.headers["Location"].startswith("/authflow/v2/select_account?")  # no new login: "continue as"
    token = op.token(rp, op.browser.consent(resp.headers["Location"]).headers["Location"])
    assert _claims(op, token)["auth_time"] == _claims(op, first)["auth_time"]


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(op):
    op.browser.log_in()
    _, token = op.login_flow(extra_unknown_parameter="whatever", x_unknown="1")
    assert _claims(op, token)["sub"]


def test_oidcc_id_token_hint(op):
    user = op.browser.log_in()
    _, first = op.login_flow()
    rp = op.rp()
    url, _ = op.url(rp, nonce="n-0", prompt="none", id_token_hint=first["id_token"])
    callback = op.browser.authorize(url)
    assert _claims(op, op.token(rp, callback))["sub"] == user.id


def test_oidcc_login_hint(op):
    op.browser.log_in()
    hint = "https://authgear.com/login_hint?type=login_id&email=jane%40example.com"
    _, token = op.login_flow(login_hint=hint)
    assert _claims(op, token)["sub"]
    # A plain hint is refused the contract's way: invalid_request to the client, not a broken page.
    rp = op.rp()
    url, state = op.url(rp, login_hint="jane@example.com")
    query = query_of(op.browser.start(url).headers["Location"])
    assert query["error"] == "invalid_request" and query["state"] == state


def test_oidcc_ui_locales(op):
    op.browser.log_in()
    _, token = op.login_flow(ui_locales="zh-HK en")
    assert _claims(op, token)["sub"]


def test_oidcc_claims_locales(op):
    op.browser.log_in()
    _, token = op.login_flow(claims_locales="ja fr")
    assert _claims(op, token)["sub"]


def test_oidcc_ensure_request_with_acr_values_succeeds(op):
    op.browser.log_in()
    _, token = op.login_flow(acr_values="1 2")
    assert _claims(op, token)["sub"]


def _code_and_rp(op: OP) -> tuple[OAuth2Session, str]:
    op.browser.log_in()
    rp = op.rp()
    url, _ = op.url(rp, nonce="n-0")
    return rp, op.browser.authorize(url)


def test_oidcc_codereuse(op):
    rp, callback = _code_and_rp(op)
    op.token(rp, callback)
    with pytest.raises(OAuthError, match="invalid_grant"):
        op.token(op.rp(), callback)


def test_oidcc_codereuse_30seconds(op):
    rp, callback = _code_and_rp(op)
    token = op.token(rp, callback)
    assert rp.get(op.meta["userinfo_endpoint"]).status_code == 200
    with pytest.raises(OAuthError, match="invalid_grant"):
        op.token(op.rp(), callback)
    # The access token issued by the first exchange is revoked.
    resp = requests.get(
        op.meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5
    )
    assert resp.status_code == 401


def test_oidcc_ensure_registered_redirect_uri(op):
    op.browser.log_in()
    rp = OAuth2Session(WEB, redirect_uri="https://attacker.example/cb", scope="openid")
    url, _ = op.url(rp)
    resp = op.browser.start(url)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert "text/html" in resp.headers["Content-Type"]


def test_oidcc_ensure_post_request_succeeds(op):
    op.browser.log_in()
    rp = op.rp()
    url, state = op.url(rp, nonce="post")
    endpoint, query = url.split("?", 1)
    resp = op.browser.http.post(endpoint, data=dict(parse_qsl(query)), allow_redirects=False)
    callback = op.browser.consent(resp.headers["Location"]).headers["Location"]
    assert query_of(callback)["state"] == state
    assert _claims(op, op.token(rp, callback), nonce="post")["sub"]


def test_oidcc_server_client_secret_post(op):
    op.browser.log_in()
    rp = op.rp(method="client_secret_post")
    url, _ = op.url(rp, nonce="n-0")
    token = op.token(rp, op.browser.authorize(url))
    assert _claims(op, token)["aud"] == WEB


def test_oidcc_request_uri_rejected_as_unsupported(op):
    rp = op.rp()
    url, state = op.url(rp, request_uri="https://rp.example/request.jwt")
    query = query_of(op.browser.start(url).headers["Location"])
    assert query["error"] == "request_uri_not_supported" and query["state"] == state


def test_oidcc_unsigned_request_object_rejected_as_unsupported(op):
    rp = op.rp()
    url, state = op.url(rp, request="eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.")
    query = query_of(op.browser.start(url).headers["Location"])
    assert query["error"] == "request_not_supported" and query["state"] == state


def test_oidcc_claims_essential(op):
    user = op.browser.log_in()
    op.set_profile(user, name="Jane Q. Doe")
    rp, token = op.login_flow(claims='{"userinfo": {"name": {"essential": true}}}')
    assert _claims(op, token)["sub"] == user.id
    assert rp.get(op.meta["userinfo_endpoint"]).json()["name"] == "Jane Q. Doe"


def test_oidcc_ensure_request_object_with_redirect_uri(op):
    rp = op.rp()
    url, _ = op.url(rp, request="eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2V2aWwuZXhhbXBsZSJ9.")
    location = op.browser.start(url).headers["Location"]
    # Request objects are rejected, and the answer goes to the registered URI of the query.
    assert location.startswith(WEB_CB + "?") and query_of(location)["error"] == "request_not_supported"


def test_oidcc_refresh_token(op):
    op.browser.log_in()
    rp, token = op.login_flow(scope="openid offline_access")
    refreshed = rp.refresh_token(op.meta["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    assert verify_id_token(op.server, refreshed["id_token"], WEB).claims["sub"] == _claims(op, token)["sub"]
    # Bound to the client that got it: another client cannot use it.
    other = OAuth2Session(
        SPA, token={"refresh_token": token["refresh_token"], "access_token": "x", "token_type": "Bearer"}
    )
    with pytest.raises(OAuthError, match="invalid_grant"):
        other.refresh_token(op.meta["token_endpoint"])


def test_oidcc_ensure_request_with_valid_pkce_succeeds(op):
    op.browser.log_in()
    verifier = "pkce-" + "k" * 60
    rp = OAuth2Session(SPA, redirect_uri=SPA_CB, scope="openid", code_challenge_method="S256")
    url, _ = rp.create_authorization_url(op.meta["authorization_endpoint"], code_verifier=verifier, nonce="p")
    token = rp.fetch_token(
        op.meta["token_endpoint"], authorization_response=op.browser.authorize(url), code_verifier=verifier
    )
    assert verify_id_token(op.server, token["id_token"], SPA, nonce="p").claims["sub"]

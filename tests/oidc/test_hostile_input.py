"""Hostile and malformed input to every OIDC endpoint: open-redirect attempts, redirect URI
mismatches, forged hints and tokens, malformed client credentials, repeated and oversized
parameters. Each answer is the protocol's error shape; none is a 500."""

from __future__ import annotations

import base64

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.datastructures import MultiDict

from tests.oidc.helpers import (
    SPA,
    SPA_CB,
    WEB,
    WEB_CB,
    authorize_params,
    exchange,
    get_code,
    pkce_pair,
    query_of,
)

HUGE = "A" * 5000


def _challenge() -> str:
    return pkce_pair()[1]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "http://localhost:4000/callback/../../evil",
        "http://localhost:4000/callback?next=https://evil.example",
        "HTTP://LOCALHOST:4000/callback",
        "http://localhost:4000/callback#frag",
        "http://localhost:4000@evil.example/callback",
        "http://localhost:4000/callback/",
        "//evil.example/callback",
        "javascript:alert(document.domain)",
        "http://localhost:4000/callback\x00.evil.example",
        'http://localhost:4000/callback"><script>',
        "",
    ],
)
@pytest.mark.embedded
def test_unregistered_redirect_uris_get_an_error_page_never_a_redirect(oidc_client, login, redirect_uri):
    login(oidc_client)  # even a signed-in user is not sent anywhere
    params = authorize_params(redirect_uri=redirect_uri, pkce=_challenge(), prompt="none")
    resp = oidc_client.get("/oauth2/authorize", query_string=params)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert resp.mimetype == "text/html"
    assert "<script>" not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "params",
    [
        {"redirect_uri": SPA_CB, "response_type": "code", "scope": "openid"},  # no client_id
        {"client_id": "nope", "redirect_uri": SPA_CB, "response_type": "code", "scope": "openid"},
        {"client_id": SPA, "response_type": "code", "scope": "openid"},  # no redirect_uri
        {"client_id": "m2m-client", "redirect_uri": SPA_CB, "response_type": "code", "scope": "openid"},
        MultiDict([("client_id", SPA), ("client_id", WEB), ("redirect_uri", SPA_CB)]),
        MultiDict([("client_id", SPA), ("redirect_uri", SPA_CB), ("redirect_uri", "https://evil.example")]),
        {"client_id": HUGE, "redirect_uri": SPA_CB},
        {"client_id": SPA, "redirect_uri": SPA_CB + HUGE},
        {},
    ],
)
def test_bad_client_or_redirect_uri_is_an_error_page(oidc_client, params):
    resp = oidc_client.get("/oauth2/authorize", query_string=params)
    assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize(
    ("extra", "echo_state"),
    [
        ({"state": HUGE}, False),
        ({"nonce": HUGE}, True),
        ({"x_unknown": HUGE}, True),
        ({"scope": "openid " * 2000}, True),
        ({"login_hint": "https://authgear.com/login_hint?" + HUGE}, True),
        ({"id_token_hint": HUGE}, True),
        ({"id_token_hint": "a.b.c"}, True),
        ({"id_token_hint": "\u00e9\u00e9.\u00e9.\u00e9"}, True),
        ({"response_mode": "cookie"}, True),
        ({"response_type": "token"}, True),
        ({"response_type": "code id_token"}, True),
        ({"max_age": "99999999999999999999"}, True),
        ({"code_challenge": "\u0000" * 50, "code_challenge_method": "S256"}, True),
    ],
)
def test_malformed_and_oversized_parameters_go_back_as_errors(oidc_client, extra, echo_state):
    params = authorize_params(pkce=_challenge(), **{"state": "st", **extra})
    resp = oidc_client.get("/oauth2/authorize", query_string=params)
    assert resp.status_code == 302 and resp.headers["Location"].startswith(SPA_CB + "?")
    query = query_of(resp.headers["Location"])
    assert query["error"] in ("invalid_request", "invalid_scope", "unsupported_response_type")
    assert ("state" in query) is echo_state


def test_repeated_parameters_are_invalid_requests(oidc_client):
    params = MultiDict(authorize_params(pkce=_challenge()))
    params.add("scope", "openid email")
    params.add("state", "one")
    params.add("state", "two")
    query = query_of(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"])
    assert query["error"] == "invalid_request" and "state" not in query  # which state would it be?


def _forged_hint(kid: str, sub: str) -> str:
    key = RSAKey.generate_key(2048)
    claims = {"iss": "http://localhost:3000", "sub": sub, "aud": SPA, "sid": "aWRwOng", "iat": 1, "exp": 2}
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


def test_forged_id_token_hints_are_refused(oidc_client, login, oidc_app):
    user = login(oidc_client)
    kid = oidc_app.extensions["gatehouse"].config.secrets["oauth"]["keys"][0]["kid"]
    unsigned = (
        base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        + "."
        + base64.urlsafe_b64encode(f'{{"sub":"{user.id}","iss":"http://localhost:3000"}}'.encode())
        .rstrip(b"=")
        .decode()
        + "."
    )
    for hint in (_forged_hint(kid, user.id), unsigned):
        params = authorize_params(pkce=_challenge(), prompt="none", id_token_hint=hint)
        query = query_of(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"])
        assert query["error"] == "invalid_request"


def test_an_id_token_hint_for_another_user_is_not_silently_honoured(oidc_client, login):
    login(oidc_client)
    code, verifier = get_code(oidc_client, scope="openid")
    hint = exchange(oidc_client, code, verifier).get_json()["id_token"]
    login(oidc_client)  # someone else signs in in this browser
    params = authorize_params(pkce=_challenge(), prompt="none", id_token_hint=hint)
    query = query_of(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"])
    assert query["error"] == "login_required"


@pytest.mark.parametrize("x_ref", ["", "short", "A" * 32, HUGE, "../../etc/passwd", "\u00e9" * 32])
def test_consent_with_a_bad_x_ref(oidc_client, login, x_ref):
    login(oidc_client)
    for resp in (
        oidc_client.get("/oauth2/consent", query_string={"x_ref": x_ref}),
        oidc_client.get("/oauth2/consent"),
    ):
        assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic \u00e9\u00e9\u00e9",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic ",
        "Basic " + base64.b64encode(f"{WEB}:".encode()).decode(),
        "Bearer x",
        "Bearer  \t",
        "Digest a=b",
    ],
)
def test_token_endpoint_with_malformed_client_credentials(oidc_client, login, authorization):
    login(oidc_client)
    code, _ = get_code(oidc_client, WEB, WEB_CB, scope="openid", pkce=False)
    resp = exchange(oidc_client, code, None, WEB, WEB_CB, headers={"Authorization": authorization})
    assert resp.status_code in (400, 401)
    assert resp.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "data",
    [
        {"grant_type": "authorization_code", "client_id": SPA, "code": HUGE, "code_verifier": "v" * 50},
        {"grant_type": "authorization_code", "client_id": SPA, "code": "x", "code_verifier": "\u00e9" * 50},
        {"grant_type": "authorization_code", "client_id": SPA},
        {"grant_type": "refresh_token", "client_id": SPA},
        {"grant_type": "refresh_token", "client_id": SPA, "refresh_token": HUGE},
        {"grant_type": "refresh_token", "client_id": SPA, "refresh_token": "."},
        {"grant_type": "refresh_token", "client_id": SPA, "refresh_token": "not-a-uuid-at-all-but-36-chars-long.x"},
        {"grant_type": "refresh_token", "client_id": SPA, "refresh_token": "\u00e9.\u00e9"},
        {"grant_type": HUGE, "client_id": SPA},
        {"grant_type": "client_credentials", "client_id": SPA, "resource": HUGE},
        {"client_id": SPA},
        {"grant_type": "authorization_code", "client_id": HUGE, "code": "x"},
        MultiDict([("grant_type", "authorization_code"), ("code", "a"), ("code", "b"), ("client_id", SPA)]),
        {},
    ],
)
def test_token_endpoint_with_malformed_parameters(oidc_client, data):
    resp = oidc_client.post("/oauth2/token", data=data)
    assert 400 <= resp.status_code < 500
    body = resp.get_json()
    assert isinstance(body["error"], str) and set(body) <= {"error", "error_description"}


def test_token_endpoint_other_bodies_and_methods(oidc_client):
    json_body = oidc_client.post("/oauth2/token", json={"grant_type": "authorization_code", "code": "x"})
    assert json_body.status_code == 400 and json_body.get_json()["error"] == "unsupported_grant_type"
    assert oidc_client.get("/oauth2/token").status_code == 400  # method not allowed, in the error envelope
    garbage = oidc_client.post("/oauth2/token", data=b"\xff\xfe%%%", content_type="application/x-www-form-urlencoded")
    assert 400 <= garbage.status_code < 500
    too_big = oidc_client.post("/oauth2/token", data={"grant_type": "x" * (1024 * 1024 + 10)})
    assert too_big.status_code == 413


@pytest.mark.parametrize(
    "authorization",
    ["Bearer " + "a" * 20000, "Bearer a.b.c", "Bearer \u00e9", "Bearer", "bearer  ", "Bearer " + "x.y" * 3],
)
def test_userinfo_with_garbage_tokens(oidc_client, authorization):
    resp = oidc_client.get("/oauth2/userinfo", headers={"Authorization": authorization})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_grant"


def test_userinfo_refuses_a_jwt_signed_by_someone_else(oidc_client, oidc_app):
    kid = oidc_app.extensions["gatehouse"].config.secrets["oauth"]["keys"][0]["kid"]
    key = RSAKey.generate_key(2048)
    forged = jwt.encode(
        {"alg": "RS256", "kid": kid, "typ": "at+jwt"},
        {"iss": "http://localhost:3000", "sub": "x", "exp": 4102444800, "jti": "0" * 64},
        key,
    )
    assert oidc_client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


@pytest.mark.parametrize("token", [HUGE * 4, "\u00e9", "a.b.c", "."])
def test_revoke_with_odd_tokens(oidc_client, token):
    resp = oidc_client.post("/oauth2/revoke", data={"token": token})
    assert resp.status_code in (200, 400)


@pytest.mark.parametrize(
    "params",
    [
        {"id_token_hint": HUGE},
        {"id_token_hint": "a.b.c", "post_logout_redirect_uri": "https://evil.example"},
        {"post_logout_redirect_uri": "javascript:alert(1)", "client_id": SPA},
        {"post_logout_redirect_uri": "http://localhost:4000/bye", "client_id": HUGE},
        {"state": HUGE, "client_id": SPA, "post_logout_redirect_uri": "http://localhost:4000/bye"},
        {"confirm": "1"},
    ],
)
def test_end_session_with_hostile_parameters(oidc_client, params):
    resp = oidc_client.get("/oauth2/end_session", query_string=params)
    # 303 to a registered post_logout_redirect_uri, else 302 to the settings page (as Authgear).
    assert (resp.status_code, resp.headers["Location"]) in (
        (302, "http://localhost:3000/settings"),
        (303, "http://localhost:4000/bye"),
    )

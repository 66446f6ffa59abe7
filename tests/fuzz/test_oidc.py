"""The OIDC endpoints under random parameters: /oauth2/authorize (an error page or a redirect
with an error), /oauth2/token and /oauth2/revoke (RFC 6749 section 5.2 errors), /oauth2/userinfo
(RFC 6750 section 3.1). The answer is never a 5xx; a JSON error is the protocol's `{"error": ...}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from app.config import deep_merge
from tests.fuzz.conftest import NO_RATE_LIMITS, fuzz_settings
from tests.fuzz.strategies import hostile_strings
from tests.oidc.helpers import M2M, SPA, SPA_CB, WEB, WEB_CB, oidc_overrides, oidc_secrets

AUTHORIZE_PARAMS = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "ui_locales",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
    "x_settings_action",
    "x_page",
    "x_color_scheme",
    "claims",
    "request",
]
TOKEN_PARAMS = [
    "grant_type",
    "client_id",
    "client_secret",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "resource",
    "jwt",
    "device_secret",
    "requested_token_type",
    "subject_token",
    "subject_token_type",
    "actor_token",
]
LIKELY = st.sampled_from(
    [
        SPA,
        WEB,
        M2M,
        SPA_CB,
        WEB_CB,
        "code",
        "openid",
        "openid offline_access",
        "none",
        "login",
        "S256",
        "plain",
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:authgear:params:oauth:grant-type:settings-action",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "query",
        "fragment",
        "form_post",
        "0",
        "change_password",
        "https://authgear.com/login_hint?type=login_id&email=a%40b.c",
    ]
)
values = st.one_of(LIKELY, hostile_strings)
FORM = "application/x-www-form-urlencoded"


def _encode(pairs: list[tuple[str, str]]) -> str:
    """`application/x-www-form-urlencoded`, lone surrogates as the bytes a hostile client sends
    (`%ED%A0%80`): the test client itself would refuse to encode them."""
    return urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in pairs])


def _header(value: str) -> str:
    """A header as a WSGI server hands it on: the bytes on the wire read as latin-1 (PEP 3333), so
    a lone surrogate arrives as the three characters of its UTF-8 form; line breaks end a header
    line on the wire and are left out."""
    raw = value.encode("utf-8", "surrogatepass").decode("latin-1")
    return raw.replace("\r", "").replace("\n", "")


headers_values = hostile_strings.map(_header)


def params_of(names: list[str]) -> st.SearchStrategy[str]:
    """An encoded query or form: mostly known names, sometimes repeated or unknown ones."""
    pair = st.tuples(st.one_of(st.sampled_from(names), hostile_strings), values)
    return st.lists(pair, max_size=len(names)).map(_encode)


@pytest.fixture
def oidc_fuzz_app(make_app: Callable[..., Flask], secrets_items: list[dict[str, Any]]) -> Flask:
    return make_app(deep_merge(oidc_overrides(), NO_RATE_LIMITS), secrets=oidc_secrets(secrets_items))


def assert_oauth_answer(resp: Any) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)[:2000]
    if resp.status_code >= 400 and resp.mimetype == "application/json":
        body = resp.get_json()
        assert isinstance(body, dict) and body.get("error"), body


@pytest.mark.embedded
@fuzz_settings(120)
@given(params=params_of(AUTHORIZE_PARAMS), post=st.booleans())
def test_authorize_with_random_parameters(oidc_fuzz_app, params, post):
    client = oidc_fuzz_app.test_client()
    resp = (
        client.post("/oauth2/authorize", data=params, content_type=FORM)
        if post
        else client.get("/oauth2/authorize", query_string=params)
    )
    assert_oauth_answer(resp)
    assert resp.status_code in (200, 302, 303, 400, 401, 403, 404), resp.status_code


@pytest.mark.embedded
@fuzz_settings(120)
@given(params=params_of(TOKEN_PARAMS), authorization=st.one_of(st.none(), headers_values.map(lambda s: "Basic " + s)))
def test_token_with_random_parameters(oidc_fuzz_app, params, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    resp = oidc_fuzz_app.test_client().post("/oauth2/token", data=params, headers=headers, content_type=FORM)
    assert_oauth_answer(resp)
    if resp.status_code >= 400:
        assert resp.mimetype == "application/json"


@pytest.mark.embedded
@fuzz_settings(60)
@given(params=params_of(["token", "token_type_hint", "client_id", "client_secret"]))
def test_revoke_with_random_parameters(oidc_fuzz_app, params):
    assert_oauth_answer(oidc_fuzz_app.test_client().post("/oauth2/revoke", data=params, content_type=FORM))


@pytest.mark.embedded
@fuzz_settings(60)
@given(authorization=st.one_of(headers_values, headers_values.map(lambda s: "Bearer " + s)), post=st.booleans())
def test_userinfo_with_random_tokens(oidc_fuzz_app, authorization, post):
    client = oidc_fuzz_app.test_client()
    headers = {"Authorization": authorization}
    resp = client.post("/oauth2/userinfo", headers=headers) if post else client.get("/oauth2/userinfo", headers=headers)
    assert_oauth_answer(resp)
    assert resp.status_code in (200, 400, 401, 403), resp.status_code

"""Tokens belong to the client they were issued to: the id-token grant (contract 1.4) only reissues
an ID token for the requesting client's own access token, and `/oauth2/revoke` (contract 1.5,
RFC 7009 section 2.1) wants a confidential client to authenticate and only revokes its own tokens."""

from __future__ import annotations

import re

import pytest

from tests.oidc.helpers import (
    JWT_SPA,
    ROTATING,
    ROTATING_CB,
    SPA,
    SPA_CB,
    THIRD,
    THIRD_CB,
    THIRD_SECRET,
    WEB,
    WEB_CB,
    basic,
    client_secret,
    continued,
    exchange,
    get_code,
    query_of,
)

ID_TOKEN_GRANT = "urn:authgear:params:oauth:grant-type:id-token"


def _public_tokens(client, client_id=SPA, redirect_uri=SPA_CB):
    code, verifier = get_code(client, client_id, redirect_uri, scope="openid offline_access")
    return exchange(client, code, verifier, client_id, redirect_uri).get_json()


def _web_tokens(client, app):
    code, _ = get_code(client, WEB, WEB_CB, scope="openid offline_access", pkce=False)
    return exchange(client, code, None, WEB, WEB_CB, headers=basic(WEB, client_secret(app, WEB))).get_json()


def _third_party_tokens(client, scope="openid offline_access"):
    """A third-party app's tokens: the user consents on the page, the app exchanges with its secret."""
    params = {"client_id": THIRD, "redirect_uri": THIRD_CB, "response_type": "code", "scope": scope}
    page = client.get(continued(client.get("/oauth2/authorize", query_string=params).headers["Location"])).get_data(
        as_text=True
    )
    form = {
        "x_ref": re.search(r'name="x_ref" value="([^"]+)"', page).group(1),
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "x_action": "consent",
    }
    code = query_of(client.post("/oauth2/consent", data=form).headers["Location"])["code"]
    body = exchange(client, code, None, THIRD, THIRD_CB, headers=basic(THIRD, THIRD_SECRET)).get_json()
    assert "access_token" in body, body
    return body


def _id_token_grant(client, access_token, client_id=SPA):
    return client.post(
        "/oauth2/token",
        data={"grant_type": ID_TOKEN_GRANT, "client_id": client_id},
        headers={"Authorization": f"Bearer {access_token}"},
    )


def _refresh(client, refresh_token, client_id, **kwargs):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    data.update(kwargs.pop("data", {}))
    return client.post("/oauth2/token", data=data, **kwargs)


def _userinfo_status(client, access_token):
    return client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def _assert_invalid_session(resp):
    """Authgear's answer when the grant finds no session it may use."""
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert resp.get_json() == {"error": "invalid_grant", "error_description": "valid session is required"}


# -- the id-token grant -----------------------------------------------------------------------------


@pytest.mark.embedded
def test_id_token_grant_refuses_a_third_party_apps_access_token(oidc_client, login):
    login(oidc_client)
    third = _third_party_tokens(oidc_client)
    assert _userinfo_status(oidc_client, third["access_token"]) == 200  # a live token, just not SPA's
    _assert_invalid_session(_id_token_grant(oidc_client, third["access_token"], SPA))


def test_id_token_grant_refuses_another_first_party_clients_access_token(oidc_client, login):
    login(oidc_client)
    native = _public_tokens(oidc_client, ROTATING, ROTATING_CB)
    _assert_invalid_session(_id_token_grant(oidc_client, native["access_token"], SPA))
    assert _id_token_grant(oidc_client, native["access_token"], ROTATING).status_code == 200


@pytest.mark.parametrize("client_id", [SPA, JWT_SPA])
def test_id_token_grant_with_the_clients_own_access_token(oidc_client, login, client_id):
    login(oidc_client)
    own = _public_tokens(oidc_client, client_id)
    resp = _id_token_grant(oidc_client, own["access_token"], client_id)
    assert resp.status_code == 200 and set(resp.get_json()) == {"id_token"}
    other = JWT_SPA if client_id == SPA else SPA
    _assert_invalid_session(_id_token_grant(oidc_client, own["access_token"], other))


# -- /oauth2/revoke ---------------------------------------------------------------------------------


def _revoke(client, token, **kwargs):
    data = {"token": token}
    data.update(kwargs.pop("data", {}))
    return client.post("/oauth2/revoke", data=data, **kwargs)


@pytest.mark.embedded
@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
def test_revoke_of_a_confidential_clients_token_needs_client_authentication(oidc_client, oidc_app, login, which):
    login(oidc_client)
    web = _web_tokens(oidc_client, oidc_app)
    attempts = {
        "none": {},
        "client_id only": {"data": {"client_id": WEB}},
        "wrong basic": {"headers": basic(WEB, "not-the-secret")},
        "wrong post": {"data": {"client_id": WEB, "client_secret": "not-the-secret"}},
    }
    for name, kwargs in attempts.items():
        resp = _revoke(oidc_client, web[which], **kwargs)
        assert resp.status_code == 401, name
        assert resp.get_json()["error"] == "invalid_client", name
        assert resp.headers["WWW-Authenticate"].startswith("Basic "), name
    assert _userinfo_status(oidc_client, web["access_token"]) == 200
    secret = client_secret(oidc_app, WEB)
    assert _refresh(oidc_client, web["refresh_token"], WEB, headers=basic(WEB, secret)).status_code == 200


@pytest.mark.parametrize("how", ["basic", "post"])
def test_an_authenticated_confidential_client_revokes_its_refresh_token(oidc_client, oidc_app, login, how):
    login(oidc_client)
    web = _web_tokens(oidc_client, oidc_app)
    secret = client_secret(oidc_app, WEB)
    auth = {"headers": basic(WEB, secret)} if how == "basic" else {"data": {"client_id": WEB, "client_secret": secret}}
    resp = _revoke(oidc_client, web["refresh_token"], **auth)
    assert resp.status_code == 200 and resp.get_data() == b""
    assert _userinfo_status(oidc_client, web["access_token"]) == 401
    refresh = _refresh(oidc_client, web["refresh_token"], WEB, headers=basic(WEB, secret))
    assert refresh.get_json()["error"] == "invalid_grant"


def test_an_authenticated_confidential_client_revokes_its_access_token(oidc_client, oidc_app, login):
    login(oidc_client)
    web = _web_tokens(oidc_client, oidc_app)
    resp = _revoke(oidc_client, web["access_token"], headers=basic(WEB, client_secret(oidc_app, WEB)))
    assert resp.status_code == 200
    assert _userinfo_status(oidc_client, web["access_token"]) == 401


def test_revoke_refuses_another_clients_token(oidc_client, oidc_app, login):
    login(oidc_client)
    web = _web_tokens(oidc_client, oidc_app)
    spa = _public_tokens(oidc_client)
    third_auth = {"headers": basic(THIRD, THIRD_SECRET)}
    for token in (web["refresh_token"], web["access_token"], spa["refresh_token"]):
        resp = _revoke(oidc_client, token, **third_auth)
        assert resp.status_code == 400
        assert resp.get_json() == {"error": "invalid_grant", "error_description": "token was issued to another client"}
    # A public client naming itself may not revoke another client's tokens either.
    resp = _revoke(oidc_client, spa["refresh_token"], data={"client_id": ROTATING})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    assert _userinfo_status(oidc_client, web["access_token"]) == 200
    assert _userinfo_status(oidc_client, spa["access_token"]) == 200


@pytest.mark.parametrize("client_id", [SPA, None])
def test_a_public_client_revokes_its_own_refresh_token(oidc_client, login, client_id):
    """By its client_id, or with the token alone as Authgear's SDKs send it on logout."""
    login(oidc_client)
    spa = _public_tokens(oidc_client)
    data = {"client_id": client_id} if client_id else {}
    assert _revoke(oidc_client, spa["refresh_token"], data=data).status_code == 200
    assert _userinfo_status(oidc_client, spa["access_token"]) == 401
    assert _refresh(oidc_client, spa["refresh_token"], SPA).get_json()["error"] == "invalid_grant"


def test_revoke_with_an_unknown_client_or_token(oidc_client, oidc_app):
    # As at the token endpoint: 400 for an unknown client_id in the body, 401 for Basic credentials.
    resp = _revoke(oidc_client, "unknown", data={"client_id": "no-such-client"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client"
    resp = _revoke(oidc_client, "unknown", headers=basic("no-such-client", "secret"))
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"
    # An authenticated client learns nothing about tokens that do not exist.
    assert _revoke(oidc_client, "unknown", headers=basic(WEB, client_secret(oidc_app, WEB))).status_code == 200

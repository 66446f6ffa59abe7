"""Admin API authentication (contract 3.1): every failure is 403 plain text `Forbidden`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from app.admin.auth import MAX_LIFETIME_SECONDS
from tests.admin.conftest import GRAPHQL_PATH, admin_key

QUERY = {"query": "{ users(first: 1) { totalCount } }"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _assert_forbidden(resp) -> None:
    assert resp.status_code == 403
    assert resp.mimetype == "text/plain"
    assert resp.get_data(as_text=True) == "Forbidden"


@pytest.mark.embedded
@pytest.mark.parametrize("path", [GRAPHQL_PATH, "/graphql"])
def test_valid_token_is_accepted_on_both_paths(client, admin_headers, path):
    resp = client.post(path, json=QUERY, headers=admin_headers)
    assert resp.status_code == 200
    assert resp.get_json() == {"data": {"users": {"totalCount": 0}}}


def test_aud_as_a_plain_string_is_accepted(client, sign_admin_jwt, app):
    token = sign_admin_jwt(aud=app.extensions["gatehouse"].config.project["id"])
    resp = client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200


def test_aud_array_containing_the_project_among_others_is_accepted(client, sign_admin_jwt, app):
    token = sign_admin_jwt(aud=["other", app.extensions["gatehouse"].config.project["id"]])
    assert client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_clock_skew_of_a_few_minutes_is_tolerated(client, sign_admin_jwt):
    now = int(time.time())
    token = sign_admin_jwt(iat=now + 200, nbf=now + 200, exp=now - 200)
    assert client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.embedded
def test_missing_header_is_forbidden(client):
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY))


@pytest.mark.parametrize(
    "value",
    ["", "Bearer", "Bearer ", "bearer {t}", "BEARER {t}", "Basic {t}", "Bearer  ", "Token {t}", "{t}"],
)
def test_malformed_authorization_header_is_forbidden(client, sign_admin_jwt, value):
    header = value.replace("{t}", sign_admin_jwt())
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": header}))


@pytest.mark.embedded
def test_unknown_kid_is_forbidden(client, sign_admin_jwt):
    token = sign_admin_jwt(header={"kid": "no-such-key"})
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


def test_missing_kid_is_forbidden(client, app):
    key = admin_key(app)
    now = int(time.time())
    token = jwt.encode({"alg": "RS256"}, {"aud": "gatehouse-test", "iat": now, "exp": now + 60}, key)
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


def test_key_not_in_the_set_is_forbidden_even_with_its_kid(client, sign_admin_jwt, app):
    stranger = RSAKey.generate_key(2048, parameters={"kid": admin_key(app).kid}, private=True)
    token = sign_admin_jwt(key=stranger)
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.embedded
def test_wrong_audience_is_forbidden(client, sign_admin_jwt):
    token = sign_admin_jwt(aud=["another-project"])
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


def test_missing_audience_is_forbidden(client, sign_admin_jwt):
    token = sign_admin_jwt(aud=None)
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.embedded
def test_expired_token_is_forbidden(client, sign_admin_jwt):
    now = int(time.time())
    token = sign_admin_jwt(iat=now - 1000, exp=now - 301)
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


def test_token_issued_in_the_future_is_forbidden(client, sign_admin_jwt):
    token = sign_admin_jwt(iat=int(time.time()) + 600)
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


def test_token_not_yet_valid_is_forbidden(client, sign_admin_jwt):
    token = sign_admin_jwt(nbf=int(time.time()) + 600)
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


def _status(client, token) -> int:
    return client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.mark.embedded
def test_token_without_exp_is_forbidden(client, sign_admin_jwt):
    _assert_forbidden(
        client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {sign_admin_jwt(exp=None)}"})
    )
    assert _status(client, sign_admin_jwt(exp=None, iat=None)) == 403


@pytest.mark.embedded
def test_token_expiring_centuries_away_is_forbidden(client, sign_admin_jwt):
    now = int(time.time())
    _assert_forbidden(
        client.post(
            GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {sign_admin_jwt(exp=now + 300 * 365 * 86400)}"}
        )
    )
    # Without iat the distance from now counts; with an old iat, exp - iat counts.
    assert _status(client, sign_admin_jwt(iat=None, exp=now + MAX_LIFETIME_SECONDS + 400)) == 403
    assert _status(client, sign_admin_jwt(iat=now - 3600, exp=now + MAX_LIFETIME_SECONDS - 1800)) == 403


def test_token_lifetimes_up_to_the_maximum_are_accepted(client, sign_admin_jwt):
    now = int(time.time())
    assert _status(client, sign_admin_jwt()) == 200  # 5 minutes, as Authgear's sample code
    assert _status(client, sign_admin_jwt(exp=now + MAX_LIFETIME_SECONDS)) == 200  # Authgear's example payload
    assert _status(client, sign_admin_jwt(iat=None, exp=now + 3600)) == 200


def test_non_numeric_exp_is_forbidden(client, sign_admin_jwt):
    token = sign_admin_jwt(exp="tomorrow")
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.embedded
def test_alg_none_is_forbidden(client, app):
    now = int(time.time())
    header = {"alg": "none", "typ": "JWT", "kid": admin_key(app).kid}
    claims = {"aud": ["gatehouse-test"], "iat": now, "exp": now + 300}
    for token in (f"{_b64(header)}.{_b64(claims)}.", f"{_b64(header)}.{_b64(claims)}.c2ln"):
        _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


def test_hs256_signed_with_the_public_key_is_forbidden(client, app):
    """The classic algorithm confusion: an HMAC keyed with the RSA public key's PEM."""
    public_pem = admin_key(app).as_pem(private=False)
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": admin_key(app).kid}
    signing_input = f"{_b64(header)}.{_b64({'aud': ['gatehouse-test'], 'iat': now, 'exp': now + 300})}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.embedded
def test_tampered_signature_and_payload_are_forbidden(client, sign_admin_jwt):
    token = sign_admin_jwt()
    head, payload, sig = token.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 10_000
    for bad in (f"{head}.{payload}.{flipped}", f"{head}.{_b64(claims)}.{sig}"):
        _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {bad}"}))


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b", "a.b.c", "....", "eyJ.eyJ.sig", "x" * 20000, _b64([1, 2]) + ".e30.", "%%%.%%%.%%%"],
)
def test_garbage_tokens_are_forbidden(client, token):
    _assert_forbidden(client.post(GRAPHQL_PATH, json=QUERY, headers={"Authorization": f"Bearer {token}"}))


def test_forbidden_request_runs_nothing(client, sign_admin_jwt, svc):
    from app.extensions import db
    from app.roles.models import Role

    token = sign_admin_jwt(aud=["elsewhere"])
    resp = client.post(
        GRAPHQL_PATH,
        json={"query": 'mutation { createRole(input: {key: "x"}) { role { id } } }'},
        headers={"Authorization": f"Bearer {token}"},
    )
    _assert_forbidden(resp)
    assert db.session.query(Role).count() == 0


@pytest.mark.embedded
@pytest.mark.parametrize("path", [GRAPHQL_PATH, "/graphql"])
def test_get_serves_the_query_console_from_local_assets(client, path):
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "/static/admin/console.js" in html
    assert "https://" not in html.replace("http://", "")  # nothing from a CDN
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    for asset in ("/static/admin/console.js", "/static/admin/console.css"):
        assert client.get(asset).status_code == 200


@pytest.mark.embedded
def test_admin_token_cli_caps_its_ttl_and_its_tokens_are_accepted(client, app):
    runner = app.test_cli_runner()
    default = runner.invoke(args=["gatehouse", "admin-token"])
    assert default.exit_code == 0, default.output
    assert _status(client, default.stdout.strip()) == 200

    long = runner.invoke(args=["gatehouse", "admin-token", "--ttl", str(100 * 365 * 86400)])
    assert long.exit_code == 0, long.output
    token = long.stdout.strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["exp"] - claims["iat"] == MAX_LIFETIME_SECONDS
    assert "maximum token lifetime" in long.stderr
    assert _status(client, token) == 200

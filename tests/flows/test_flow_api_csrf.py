"""Login CSRF through the Authentication Flow API: a page on another site must not be able to sign a
victim's browser in (or drive a flow with its cookies). The API takes `application/json` only, as
Authgear does, and refuses what the browser marks as cross-origin unless the origin is one of
`http.allowed_origins`; native apps (no Origin, no Sec-Fetch-Site) and same-origin pages keep working."""

from __future__ import annotations

import json

import pytest

from app.extensions import db
from tests.factories import random_email, random_password

FLOWS = "/api/v1/authentication_flows"
CUSTOM_UI = "https://auth-ui.example.com"


@pytest.fixture
def app(flow_app):
    return flow_app({"http": {"allowed_origins": [CUSTOM_UI]}})


@pytest.fixture
def login_body(app):
    """A `create` whose batch input signs a committed user in: what an attacker would post."""
    email, password = random_email().lower(), random_password()
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = svc.users.create_user([("email", email)])
        svc.passwords.create(user.id, password, check_policy=False)
        db.session.commit()
    return {
        "type": "login",
        "name": "default",
        "batch_input": [
            {"identification": "email", "login_id": email},
            {"authentication": "primary_password", "password": password},
        ],
    }


def _post(app, body, content_type="application/json", **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return app.test_client().post(FLOWS, data=data, content_type=content_type, headers=headers)


def _signed_in(resp):
    return any(h.startswith("session=") for h in resp.headers.getlist("Set-Cookie"))


def _assert_refused(resp, status, name, reason):
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"], error["code"]) == (name, reason, status)
    assert not _signed_in(resp)


# -- content type ------------------------------------------------------------------------------------


def test_text_plain_form_body_is_refused_like_authgear(app, login_body):
    """What `<form enctype="text/plain">` sends: a JSON document under a text/plain content type."""
    form_body = json.dumps(login_body)[:-1].encode() + b', "x": "="}'
    assert json.loads(form_body)["batch_input"] == login_body["batch_input"]
    resp = _post(app, form_body, "text/plain")
    _assert_refused(resp, 400, "BadRequest", "BadRequest")
    assert resp.get_json()["error"]["message"] == "request content type is invalid"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        "application/json; charset=iso-8859-1",
        "application/json; charset=utf-8; x=y",
        "application/jsonx",
    ],
)
def test_other_content_types_are_refused(app, login_body, content_type):
    _assert_refused(_post(app, login_body, content_type), 400, "BadRequest", "BadRequest")


@pytest.mark.embedded
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_from_a_native_app_signs_in(app, login_body, content_type):
    """No Origin and no Sec-Fetch-Site: an SDK or a server, not a browser page."""
    resp = _post(app, login_body, content_type)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["result"]["action"]["type"] == "finished"
    assert _signed_in(resp)


def test_state_and_input_endpoints_also_need_json(app):
    client = app.test_client()
    token = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    for path, body in (
        (FLOWS + "/states", {"state_token": token}),
        (FLOWS + "/states/input", {"state_token": token, "input": {"identification": "email", "login_id": "a@b.c"}}),
    ):
        resp = client.post(path, data=json.dumps(body), content_type="text/plain")
        assert resp.status_code == 400 and resp.get_json()["error"]["reason"] == "BadRequest"


# -- origin ------------------------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://attacker.example"},  # an older browser: no Sec-Fetch-Site
        {"Origin": "null"},  # a sandboxed frame or a data: URL
        {"Sec-Fetch-Site": "cross-site"},
        # Another subdomain of the same site is still another origin, and not an allowed one.
        {"Origin": "http://other.localhost", "Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_origin_json_is_refused(app, login_body, headers):
    resp = _post(app, login_body, **headers)
    _assert_refused(resp, 403, "Forbidden", "CrossOriginRequest")
    assert "Access-Control-Allow-Origin" not in resp.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://localhost"},  # the request's own host
        {"Origin": "http://localhost:3000"},  # the public origin (behind a proxy that rewrites Host)
        {"Sec-Fetch-Site": "none"},  # typed by the user, not sent by a page
    ],
)
def test_same_origin_requests_sign_in(app, login_body, headers):
    resp = _post(app, login_body, **headers)
    assert resp.status_code == 200, resp.get_json()
    assert _signed_in(resp)


@pytest.mark.embedded
def test_a_custom_ui_on_an_allowed_origin_signs_in_with_cors(app, login_body):
    client = app.test_client()
    preflight = client.options(
        FLOWS,
        headers={
            "Origin": CUSTOM_UI,
            "Sec-Fetch-Site": "same-site",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == CUSTOM_UI
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"

    resp = _post(app, login_body, Origin=CUSTOM_UI, **{"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Access-Control-Allow-Origin"] == CUSTOM_UI
    assert _signed_in(resp)

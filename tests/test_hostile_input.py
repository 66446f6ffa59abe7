"""Hostile input at the boundaries that once answered 500: nesting deep enough to exhaust the
parser's stack, page queries with more fields than a flow reads, and lone UTF-16 surrogates
(JSON's "\\ud800", which PostgreSQL text cannot hold). Each is refused where it enters, with the
endpoint's own 4xx shape; none reaches a service or the database.

`client.post(json=...)` writes a lone surrogate of a Python string as the JSON escape "\\ud800"
(`ensure_ascii`), exactly what a hostile client sends."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt

from tests.admin.conftest import GRAPHQL_PATH, admin_key
from tests.factories import make_user, random_password
from tests.web.test_pages_http import HTML, csrf_of, open_page

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"
STATES = FLOWS + "/states"
IMPORT = "/_api/admin/users/import"
EXPORT = "/_api/admin/users/export"
LONE = "\ud800"
SIXTY_FIELDS = "&".join(f"p{i}=1" for i in range(60))


def post_text(client, path, text, headers=None):
    return client.post(path, data=text.encode("utf-8"), content_type="application/json", headers=headers or {})


def envelope(resp, status, name, reason):
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"], error["code"]) == (name, reason, status)
    assert error["message"]
    return error


def admin_headers(app):
    key = admin_key(app)
    now = int(time.time())
    claims = {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 300}
    return {"Authorization": "Bearer " + jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)}


def start(client, flow_type="login"):
    return client.post(FLOWS, json={"type": flow_type, "name": "default"}).get_json()["result"]["state_token"]


def give(client, token, **inp):
    resp = client.post(INPUT, json={"state_token": token, "input": inp})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["result"]["state_token"]


# -- the flow API -------------------------------------------------------------------------------------
@pytest.mark.embedded
@pytest.mark.parametrize("path", [FLOWS, INPUT, STATES])
@pytest.mark.parametrize("depth", [50_000, 33])
def test_deeply_nested_bodies_are_invalid_json(client, path, depth):
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        envelope(post_text(client, path, text), 400, "BadRequest", "InvalidJSON")


@pytest.mark.embedded
def test_the_nesting_an_input_may_need_is_not_a_json_error(client):
    deep: list = []
    for _ in range(28):  # 32 levels with the body, "input" and "x"
        deep = [deep]
    resp = client.post(INPUT, json={"state_token": start(client), "input": {"x": deep}})
    envelope(resp, 400, "Invalid", "ValidationFailed")  # the step refuses the key


@pytest.mark.embedded
def test_a_url_query_with_more_than_50_fields_fails_validation(client):
    resp = client.post(FLOWS, json={"type": "login", "name": "default", "url_query": SIXTY_FIELDS})
    error = envelope(resp, 400, "Invalid", "ValidationFailed")
    assert error["info"]["causes"] == [{"location": "/url_query", "kind": "maxProperties", "details": {"expected": 50}}]
    fifty = "&".join(f"p{i}=1" for i in range(50))
    assert client.post(FLOWS, json={"type": "login", "name": "default", "url_query": fifty}).status_code == 200


@pytest.mark.embedded
@pytest.mark.parametrize("page", ["/login", "/signup", "/authflow/v2/forgot_password"])
def test_entry_pages_with_more_than_50_query_fields_are_an_error_page(client, page):
    resp = client.get(f"{page}?{SIXTY_FIELDS}", headers=HTML)
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert "Location" not in resp.headers


@pytest.mark.embedded
@pytest.mark.parametrize("identification", ["email", "username", "phone"])
def test_a_lone_surrogate_in_a_login_id(client, identification):
    inp = {"identification": identification, "login_id": f"a{LONE}@example.com"}
    error = envelope(
        client.post(INPUT, json={"state_token": start(client), "input": inp}), 400, "BadRequest", "InvalidJSON"
    )
    assert "surrogate" in error["message"]


@pytest.mark.embedded
def test_a_lone_surrogate_in_a_password(client, app):
    with app.app_context():
        make_user(app.extensions["gatehouse"], email="surrogate@example.com", password=random_password())
    token = give(client, start(client), identification="email", login_id="surrogate@example.com")
    inp = {"authentication": "primary_password", "password": f"pw{LONE}"}
    envelope(client.post(INPUT, json={"state_token": token, "input": inp}), 400, "BadRequest", "InvalidJSON")
    token = give(client, start(client, "signup"), identification="username", login_id="surrogate_1")
    inp = {"authentication": "primary_password", "new_password": f"Pa55-{LONE}-word"}
    envelope(client.post(INPUT, json={"state_token": token, "input": inp}), 400, "BadRequest", "InvalidJSON")


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("path", "body"),
    [
        (INPUT, {"state_token": f"authflowstate_{LONE}", "input": {}}),
        (INPUT, {"state_token": "x", "batch_input": [{"identification": LONE}]}),
        (STATES, {"state_token": f"authflowstate_{LONE}"}),
        (FLOWS, {"type": "login", "name": LONE}),
        (FLOWS, {"type": "login", "name": "default", "url_query": f"client_id={LONE}"}),
        (FLOWS, {"type": "login", "name": "default", LONE: 1}),
    ],
)
def test_a_lone_surrogate_anywhere_in_a_flow_request(client, path, body):
    envelope(client.post(path, json=body), 400, "BadRequest", "InvalidJSON")


@pytest.mark.embedded
def test_a_surrogate_pair_is_an_ordinary_character(client):
    text = '{"state_token": "%s", "input": {"identification": "username", "login_id": "a\\ud83d\\ude00"}}'
    error = envelope(post_text(client, INPUT, text % start(client)), 400, "Invalid", "ValidationFailed")
    assert error["info"]["causes"][0]["location"] == "/login_id"  # the username's format, not the JSON


@pytest.mark.embedded
@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "1" + "0" * 400])
def test_numbers_beyond_a_double_are_invalid_json(client, number):
    text = '{"state_token": "%s", "input": {"index": %s}}' % (start(client), number)  # noqa: UP031
    envelope(post_text(client, INPUT, text), 400, "BadRequest", "InvalidJSON")


# -- the hosted pages ---------------------------------------------------------------------------------
@pytest.mark.embedded
def test_surrogate_bytes_in_page_queries_and_forms_are_replaced_not_a_500(client):
    resp = client.get("/login?client_id=%ED%A0%80&x=%ff", headers=HTML)
    assert resp.status_code == 302
    url, page = open_page(client, "/login")
    form = f"login_id=a%ED%A0%80%40example.com&csrf_token={csrf_of(page.get_data(as_text=True))}"
    resp = client.post(url, data=form, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 303 and resp.headers["Location"] == url
    assert client.get(url, headers=HTML).status_code == 200


# -- the Admin API --------------------------------------------------------------------------------------
@pytest.mark.embedded
@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($k: String) { users(searchKeyword: $k) { totalCount } }", {"k": f"a{LONE}"}),
        (
            'query($v: String!) { getUserByLoginID(loginIDKey: "email", loginIDValue: $v) { id } }',
            {"v": f"a{LONE}@example.com"},
        ),
        ('query($k: String!) { getUserByLoginID(loginIDKey: $k, loginIDValue: "a@example.com") { id } }', {"k": LONE}),
        ("query($k: String) { roles(searchKeyword: $k) { totalCount } }", {"k": LONE}),
    ],
)
def test_admin_graphql_refuses_lone_surrogates_in_variables(client, app, query, variables):
    resp = client.post(GRAPHQL_PATH, json={"query": query, "variables": variables}, headers=admin_headers(app))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["errors"][0]
    assert error["extensions"] == {"errorName": "BadRequest", "reason": "InvalidQuery"}
    assert "surrogate" in error["message"]


@pytest.mark.embedded
def test_admin_graphql_refuses_nul_written_as_a_variable_width_escape(client, app):
    query = '{ users(searchKeyword: "a\\u{0}b") { totalCount } }'
    resp = client.post(GRAPHQL_PATH, json={"query": query}, headers=admin_headers(app))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["errors"][0]["extensions"] == {"errorName": "BadRequest", "reason": "InvalidQuery"}


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("query", "status"),
    [
        (f'{{ users(searchKeyword: "{LONE}") {{ totalCount }} }}', 400),  # refused before parsing
        ('{ users(searchKeyword: "\\ud800") { totalCount } }', 200),  # graphql-core's syntax error
        ('{ users(searchKeyword: "\\u{D800}") { totalCount } }', 200),
    ],
)
def test_admin_graphql_surrogate_literals_are_invalid_queries(client, app, query, status):
    resp = client.post(GRAPHQL_PATH, json={"query": query}, headers=admin_headers(app))
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json()["errors"][0]["extensions"] == {"errorName": "BadRequest", "reason": "InvalidQuery"}


@pytest.mark.embedded
@pytest.mark.parametrize(
    "record",
    [
        {"email": f"a{LONE}@example.com"},
        {"email": "a@example.com", "name": LONE},
        {"email": "a@example.com", "custom_attributes": {LONE: 1}},
    ],
)
def test_import_records_with_lone_surrogates_are_invalid_json(client, app, record):
    body = {"identifier": "email", "records": [record]}
    envelope(client.post(IMPORT, json=body, headers=admin_headers(app)), 400, "BadRequest", "InvalidJSON")


@pytest.mark.embedded
@pytest.mark.parametrize(
    "field", [{"pointer": f"/{LONE}", "field_name": "x"}, {"pointer": "/email", "field_name": LONE}]
)
def test_export_pointers_with_lone_surrogates_are_invalid_json(client, app, field):
    body = {"format": "csv", "csv": {"fields": [field]}}
    envelope(client.post(EXPORT, json=body, headers=admin_headers(app)), 400, "BadRequest", "InvalidJSON")

"""The Admin GraphQL API under random documents and variables: no 5xx, request errors in the
GraphQL error shape, and no resolver ever failing as `InternalError`."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt

from tests.admin.conftest import GRAPHQL_PATH, admin_key
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.strategies import any_text, hostile_strings, json_values, objects_with, raw_bodies

# (document, its variables' names): the variables get random values of any type.
OPERATIONS = [
    (
        "query($first: Int, $after: String, $k: String, $roles: [String!]) { users(first: $first, after: $after, "
        "searchKeyword: $k, roleKeys: $roles) { totalCount edges { cursor node { id } } } }",
        ["first", "after", "k", "roles"],
    ),
    ("query($a: String!, $b: String!) { getUserByLoginID(loginIDKey: $a, loginIDValue: $b) { id } }", ["a", "b"]),
    (
        "query($a: String!, $b: String!) { getUsersByStandardAttribute(attributeName: $a, attributeValue: $b) { id } }",
        ["a", "b"],
    ),
    ("query($id: ID!) { node(id: $id) { id } }", ["id"]),
    ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ["ids"]),
    (
        "query($k: String, $last: Int, $before: String) { roles(searchKeyword: $k, last: $last, before: $before) "
        "{ totalCount } groups(searchKeyword: $k) { totalCount } }",
        ["k", "last", "before"],
    ),
    ("query($t: DateTime, $e: [String!]) { auditLogs(rangeFrom: $t, emailAddresses: $e) { totalCount } }", ["t", "e"]),
    ("mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }", ["input"]),
    ("mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { id } } }", ["input"]),
    ("mutation($input: DeleteUserInput!) { deleteUser(input: $input) { deletedUserID } }", ["input"]),
    ("mutation($input: CreateRoleInput!) { createRole(input: $input) { role { id } } }", ["input"]),
]
INPUT_KEYS = [
    "definition",
    "loginID",
    "key",
    "value",
    "password",
    "userID",
    "standardAttributes",
    "customAttributes",
    "name",
    "description",
    "reason",
    "accountValidFrom",
]


def _nested_input() -> st.SearchStrategy[Any]:
    login_id = st.fixed_dictionaries(
        {"key": st.sampled_from(["email", "username", "phone"]) | hostile_strings, "value": hostile_strings}
    )
    return st.one_of(
        json_values,
        objects_with(INPUT_KEYS),
        st.fixed_dictionaries(
            {"definition": st.fixed_dictionaries({"loginID": login_id})}, optional={"password": hostile_strings}
        ),
        st.fixed_dictionaries(
            {"userID": hostile_strings},
            optional={
                "standardAttributes": objects_with(["email", "name", "address", "birthdate"]),
                "customAttributes": json_values,
            },
        ),
        st.fixed_dictionaries({"key": hostile_strings}, optional={"name": hostile_strings}),
    )


def _headers(app: Flask) -> dict[str, str]:
    key = admin_key(app)
    now = int(time.time())
    claims = {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 3600}
    return {"Authorization": "Bearer " + jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)}


def assert_graphql_answer(resp: Any) -> None:
    """200 with data and/or errors, or a 4xx request error; never a 5xx or an InternalError."""
    assert resp.status_code < 500, resp.get_data(as_text=True)[:2000]
    assert resp.status_code in (200, 400, 413), resp.get_data(as_text=True)[:2000]
    body = resp.get_json(silent=True)
    assert isinstance(body, dict), resp.get_data(as_text=True)[:2000]
    if resp.status_code != 200:
        assert body.get("errors"), body
    for error in body.get("errors") or []:
        assert isinstance(error.get("message"), str) and error["message"], error
        ext = error.get("extensions") or {}
        assert ext.get("errorName") not in (None, "InternalError"), error
        assert isinstance(ext.get("reason"), str), error


@pytest.mark.embedded
@fuzz_settings(120)
@given(op=st.sampled_from(OPERATIONS), values=st.data())
def test_operations_with_random_variables(fuzz_app, op, values):
    document, names = op
    variables = {
        name: values.draw(_nested_input() if name == "input" else st.one_of(hostile_strings, json_values), label=name)
        for name in names
    }
    resp = fuzz_app.test_client().post(
        GRAPHQL_PATH, json={"query": document, "variables": variables}, headers=_headers(fuzz_app)
    )
    assert_graphql_answer(resp)


@pytest.mark.embedded
@fuzz_settings(100)
@given(
    query=st.one_of(
        any_text,
        hostile_strings,
        st.builds(lambda k: '{ users(searchKeyword: "' + k + '") { totalCount } }', any_text),
        st.builds(lambda n: "{ users { " * n + "}" * n, st.integers(1, 3000)),
        st.builds(
            lambda n: "{ " + " ".join(f"a{i}: users {{ totalCount }}" for i in range(n)) + " }", st.integers(40, 80)
        ),
        st.sampled_from(
            [
                '{ users(searchKeyword: "\\u{0}") { totalCount } }',
                '{ users(searchKeyword: "\\ud800") { totalCount } }',
                "{ users(first: 99999999999) { totalCount } }",
                "{ __schema { types { name } } }",
            ]
        ),
    ),
    variables=st.one_of(st.none(), json_values),
    operation=st.one_of(st.none(), hostile_strings, json_values),
)
def test_random_documents(fuzz_app, query, variables, operation):
    body = {"query": query, "variables": variables, "operationName": operation}
    assert_graphql_answer(fuzz_app.test_client().post(GRAPHQL_PATH, json=body, headers=_headers(fuzz_app)))


@pytest.mark.embedded
@fuzz_settings(40)
@given(raw=raw_bodies, content_type=st.sampled_from(["application/json", "application/graphql", "text/plain"]))
def test_raw_bodies(fuzz_app, raw, content_type):
    resp = fuzz_app.test_client().post(GRAPHQL_PATH, data=raw, content_type=content_type, headers=_headers(fuzz_app))
    assert_graphql_answer(resp)

"""The GraphQL transport: request bodies, error envelope, schema names, depth and cost limits,
the document cache, and one transaction per request."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, build_schema

from app.admin.engine import MAX_COST, MAX_DEPTH
from app.admin.graphql_api import engine
from app.extensions import db
from app.roles.models import Role
from tests.admin.conftest import GRAPHQL_PATH, error_of, ok

CONTRACT_NAMES = Path(__file__).resolve().parents[3] / "shared" / "contract" / "admin-graphql-names.graphql"
SCHEMA = Path(__file__).resolve().parents[2] / "app" / "admin" / "schema.graphql"


def _post(client, headers, **kwargs):
    return client.post(GRAPHQL_PATH, headers=headers, **kwargs)


@pytest.mark.embedded
def test_application_graphql_body_is_a_document(client, admin_headers):
    resp = _post(client, admin_headers, data="{ users { totalCount } }", content_type="application/graphql")
    assert resp.status_code == 200
    assert resp.get_json() == {"data": {"users": {"totalCount": 0}}}


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("kwargs", "status", "reason"),
    [
        ({"data": "query=x", "content_type": "application/x-www-form-urlencoded"}, 400, "UnsupportedContentType"),
        ({"data": "{not json", "content_type": "application/json"}, 400, "InvalidJSON"),
        ({"data": "[1, 2]", "content_type": "application/json"}, 400, "InvalidJSON"),
        ({"data": b"\xff\xfe", "content_type": "application/json"}, 400, "InvalidJSON"),
        ({"json": {}}, 400, "InvalidQuery"),
        ({"json": {"query": 12}}, 400, "InvalidQuery"),
        ({"json": {"query": "   "}}, 400, "InvalidQuery"),
        ({"json": {"query": "{ users { totalCount } }", "variables": [1]}}, 400, "InvalidQuery"),
        ({"json": {"query": "{ users { totalCount } }", "operationName": 5}}, 400, "InvalidQuery"),
        ({"json": {"query": '{ users(searchKeyword: "a\\u0000") { totalCount } }'}}, 400, "InvalidQuery"),
        (
            {
                "json": {
                    "query": "query($k: String) { users(searchKeyword: $k) { totalCount } }",
                    "variables": {"k": "a\x00b"},
                }
            },
            400,
            "InvalidQuery",
        ),
        (
            {"data": '{"query": "' + "x" * (1024 * 1024 + 10) + '"}', "content_type": "application/json"},
            413,
            "JSONTooLarge",
        ),
    ],
)
def test_bad_requests_get_the_graphql_error_envelope(client, admin_headers, kwargs, status, reason):
    resp = _post(client, admin_headers, **kwargs)
    assert resp.status_code == status
    body = resp.get_json()
    assert body["errors"][0]["extensions"]["reason"] == reason
    assert body["errors"][0]["message"]


@pytest.mark.embedded
def test_syntax_and_validation_errors_are_bad_requests(gql):
    for query in ("{ users { ", "{ nosuchfield }", '{ users(first: "x") { totalCount } }', "mutation { x }"):
        body = gql(query)
        assert "data" not in body
        assert error_of(body) == {"errorName": "BadRequest", "reason": "InvalidQuery"}


def test_invalid_variable_values_are_bad_requests(gql):
    body = gql("query($t: DateTime) { auditLogs(rangeFrom: $t) { totalCount } }", t="not a date")
    assert error_of(body)["errorName"] == "BadRequest"
    body = gql("query($t: [AuditLogActivityType!]) { auditLogs(activityTypes: $t) { totalCount } }", t=["NOPE"])
    assert error_of(body)["errorName"] == "BadRequest"


@pytest.mark.embedded
def test_app_errors_carry_authgear_name_and_reason(gql):
    body = gql('mutation { deleteRole(input: {id: "not-an-id"}) { ok } }')
    assert body["data"] is None
    err = body["errors"][0]
    assert err["path"] == ["deleteRole"]
    assert err["extensions"] == {"errorName": "Invalid", "reason": "Invalid"}


@pytest.mark.skipif(not CONTRACT_NAMES.exists(), reason="shared/contract is not beside the repository")
def test_every_name_in_the_schema_is_the_contracts():
    """Each type, field, argument and enum value that Gatehouse serves has Authgear's name and type;
    the only additions are Gatehouse's own audit activity types."""
    reference = build_schema(CONTRACT_NAMES.read_text())
    ours = build_schema(SCHEMA.read_text())
    for name, our_type in ours.type_map.items():
        if name.startswith("__"):
            continue
        ref_type = reference.type_map.get(name)
        assert ref_type is not None, name
        if isinstance(our_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in our_type.fields.items():
                ref_field = ref_type.fields.get(field_name)
                assert ref_field is not None, f"{name}.{field_name}"
                assert str(field.type) == str(ref_field.type), f"{name}.{field_name}"
                for arg_name, arg in getattr(field, "args", {}).items():
                    assert str(arg.type) == str(ref_field.args[arg_name].type), f"{name}.{field_name}({arg_name})"
                assert set(getattr(field, "args", {})) == set(getattr(ref_field, "args", {})), f"{name}.{field_name}"
        if isinstance(our_type, GraphQLEnumType) and name != "AuditLogActivityType":
            assert set(our_type.values) == set(ref_type.values), name
    assert set(reference.get_type("AuditLogActivityType").values) <= set(ours.get_type("AuditLogActivityType").values)
    for field in (
        "users",
        "getUserByLoginID",
        "getUserByOAuth",
        "getUsersByStandardAttribute",
        "roles",
        "groups",
        "auditLogs",
        "node",
        "nodes",
    ):
        assert field in ours.query_type.fields


def test_too_deep_query_is_refused_with_a_clear_error(gql):
    inner = "id"
    for _ in range(MAX_DEPTH):
        inner = f"roles {{ edges {{ node {{ users {{ edges {{ node {{ {inner} }} }} }} }} }} }}"
    body = gql(f"{{ users(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}")
    ext = error_of(body)
    assert ext["errorName"] == "BadRequest" and ext["reason"] == "QueryTooDeep"
    assert ext["info"]["maxDepth"] == MAX_DEPTH
    assert "too deep" in body["errors"][0]["message"]


@pytest.mark.embedded
def test_too_costly_query_is_refused_with_a_clear_error(gql):
    query = (
        "{ roles { edges { node { users { edges { node { groups { edges { node { "
        "users { totalCount } } } } } } } } } } }"
    )
    body = gql(query)
    ext = error_of(body)
    assert ext["reason"] == "QueryTooComplex"
    assert ext["info"]["cost"] > MAX_COST


def test_many_aliases_are_counted(gql):
    fields = " ".join(f"a{i}: users(first: 100) {{ edges {{ node {{ id }} }} }}" for i in range(200))
    ext = error_of(gql(f"{{ {fields} }}"))
    assert ext["reason"] == "QueryTooComplex"
    assert ext["info"] == {"rootFields": 200, "maxRootFields": 50}


def test_introspection_query_is_allowed(gql):
    from graphql import get_introspection_query

    data = ok(gql(get_introspection_query(descriptions=True)))
    assert any(t["name"] == "User" for t in data["__schema"]["types"])


def test_documents_are_parsed_and_validated_once(gql, monkeypatch):
    import app.admin.engine as engine_module

    calls = []
    real_parse = engine_module.parse
    monkeypatch.setattr(engine_module, "parse", lambda *a, **k: calls.append(1) or real_parse(*a, **k))
    query = "query CacheProbe { users(first: 2) { totalCount } }"
    for _ in range(3):
        assert ok(gql(query))["users"]["totalCount"] == 0
    assert len(calls) <= 1  # at most once (it may already be cached by an earlier test)
    assert engine().prepare(query) is engine().prepare(query)


@pytest.mark.embedded
def test_a_failing_mutation_rolls_back_the_whole_request(gql, svc):
    body = gql(
        'mutation { a: createRole(input: {key: "kept"}) { role { id } } '
        'b: createRole(input: {key: "bad key!"}) { role { id } } }'
    )
    assert body["data"] is None or body["data"].get("b") is None
    assert error_of(body)["reason"] == "ValidationFailed"
    db.session.remove()
    assert db.session.query(Role).count() == 0


@pytest.mark.embedded
def test_a_successful_mutation_commits(gql, svc):
    ok(gql('mutation { createRole(input: {key: "kept"}) { role { key } } }'))
    db.session.remove()
    assert [r.key for r in db.session.query(Role)] == ["kept"]


@pytest.mark.embedded
def test_hostile_nesting_is_refused_not_crashed(client, admin_headers):
    deep_query = "{ " + "users { edges { node { " * 800 + "id" + " } } }" * 800 + " }"
    deep_literal = "{ users(roleKeys: " + "[" * 3000 + '"a"' + "]" * 3000 + ") { totalCount } }"
    deep_variables = (
        '{"query": "query($k: String) { users(searchKeyword: $k) { totalCount } }", "variables": {"x": '
        + ("[" * 5000 + "]" * 5000)
        + "}}"
    )
    cases = [
        {"json": {"query": deep_query}},
        {"json": {"query": deep_literal}},
        {"data": deep_variables, "content_type": "application/json"},
        {"json": {"query": "{ users(first: 99999999999) { totalCount } }"}},
        {"json": {"query": "{ " + "a: __typename " * 30000 + "}"}},
    ]
    for kwargs in cases:
        resp = client.post(GRAPHQL_PATH, headers=admin_headers, **kwargs)
        assert resp.status_code in (200, 400), resp.status_code
        body = resp.get_json()
        assert body["errors"][0]["extensions"]["errorName"] == "BadRequest", body["errors"][0]

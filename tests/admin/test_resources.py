"""Resources, scopes and their links to clients over the Admin API; createSession; the fraud
protection queries (always empty)."""

from __future__ import annotations

import base64
import json

import pytest

from app.extensions import db
from app.resources.models import ClientResource, ClientResourceScope, Resource, Scope
from app.sessions.models import OfflineGrant
from tests.admin.conftest import GRAPHQL_PATH, assert_mutation_audited, audit_entries, error_of, gid, ok
from tests.factories import make_user

API = "https://api.example.com"
CLIENT = "confidential-client"  # of the test project's oauth.clients
RESOURCE_SEL = "{ resource { id resourceURI name clientIDs createdAt updatedAt } }"
SCOPES_SEL = "{ scopes { id scope description resourceID } }"


@pytest.fixture(autouse=True)
def _in_app_context(app_ctx):
    """The tests read the database directly after the API calls."""
    return app_ctx


def call(gql, name, selection, /, **fields):
    input_type = name[0].upper() + name[1:] + "Input"
    return gql(f"mutation($input: {input_type}!) {{ {name}(input: $input) {selection} }}", input=fields)


def create_resource(gql, uri=API, name=None):
    return ok(call(gql, "createResource", RESOURCE_SEL, resourceURI=uri, name=name))["createResource"]["resource"]


def create_scope(gql, scope, uri=API, description=None):
    body = call(gql, "createScope", "{ scope { id scope description resourceID } }", **_scope(uri, scope, description))
    return ok(body)["createScope"]["scope"]


def _scope(uri, scope, description=None):
    fields = {"resourceURI": uri, "scope": scope}
    if description is not None:
        fields["description"] = description
    return fields


def reason_of(body):
    extensions = error_of(body)
    return extensions["errorName"], extensions["reason"]


def scope_names(scopes):
    return [s["scope"] for s in scopes]


# -- resources ----------------------------------------------------------------------------------
@pytest.mark.embedded
def test_create_update_delete_resource(gql):
    resource = create_resource(gql, name="Orders API")
    assert resource["resourceURI"] == API and resource["name"] == "Orders API" and resource["clientIDs"] == []
    assert resource["id"] == gid("Resource", db.session.query(Resource).one().id)
    renamed = ok(call(gql, "updateResource", RESOURCE_SEL, resourceURI=API, name="Orders"))["updateResource"]
    assert renamed["resource"]["name"] == "Orders"
    kept = ok(call(gql, "updateResource", RESOURCE_SEL, resourceURI=API))["updateResource"]["resource"]
    assert kept["name"] == "Orders"  # null leaves the name as it is
    cleared = ok(call(gql, "updateResource", RESOURCE_SEL, resourceURI=API, name=""))["updateResource"]
    assert cleared["resource"]["name"] is None  # the empty string removes it
    assert ok(call(gql, "deleteResource", "{ ok }", resourceURI=API))["deleteResource"] == {"ok": True}
    db.session.remove()
    assert db.session.query(Resource).count() == 0
    for name, count in (("create_resource", 1), ("update_resource", 3), ("delete_resource", 1)):
        assert len(audit_entries(f"admin_api.mutation.{name}.executed")) == count


def test_an_empty_name_is_no_name(gql):
    assert create_resource(gql, name="")["name"] is None


def test_duplicate_resource_uri(gql):
    create_resource(gql)
    again = call(gql, "createResource", RESOURCE_SEL, resourceURI=API)
    assert error_of(again) == {"errorName": "BadRequest", "reason": "ResourceDuplicateURI"}


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("http://api.example.com", "format"),
        ("https://api.example.com/?q=1", "format"),
        ("https://api.example.com/#top", "format"),
        ("https://user@api.example.com", "format"),
        ("https:api.example.com", "format"),
        ("api.example.com", "format"),
        ("https://api.example.com/a/../b", "format"),
        ("https://api.example.com//a", "format"),
        ("https://api.example.com/" + "a" * 80, "maxLength"),
        ("", "minLength"),
    ],
)
def test_bad_resource_uri_is_validation_failed(gql, uri, kind):
    body = call(gql, "createResource", RESOURCE_SEL, resourceURI=uri)
    assert reason_of(body) == ("Invalid", "ValidationFailed")
    [cause] = body["errors"][0]["extensions"]["info"]["causes"]
    assert cause["location"] == "/resourceURI" and cause["kind"] == kind
    if kind == "format":
        assert cause["details"]["format"] == "x_resource_uri"


@pytest.mark.parametrize("name", ["updateResource", "deleteResource"])
def test_unknown_resource(gql, name):
    selection = RESOURCE_SEL if name == "updateResource" else "{ ok }"
    body = call(gql, name, selection, resourceURI="https://nowhere.example.com")
    assert error_of(body) == {"errorName": "NotFound", "reason": "ResourceNotFound"}


# -- scopes -------------------------------------------------------------------------------------
def test_create_update_delete_scope(gql):
    resource = create_resource(gql)
    scope = create_scope(gql, "read:orders", description="Read orders")
    assert scope["scope"] == "read:orders" and scope["description"] == "Read orders"
    assert scope["resourceID"] == resource["id"]
    sel = "{ scope { scope description } }"
    updated = ok(call(gql, "updateScope", sel, **_scope(API, "read:orders", "Reads")))["updateScope"]["scope"]
    assert updated == {"scope": "read:orders", "description": "Reads"}
    cleared = ok(call(gql, "updateScope", sel, **_scope(API, "read:orders", "")))["updateScope"]["scope"]
    assert cleared["description"] is None
    assert ok(call(gql, "deleteScope", "{ ok }", **_scope(API, "read:orders")))["deleteScope"] == {"ok": True}
    for name, count in (("create_scope", 1), ("update_scope", 2), ("delete_scope", 1)):
        assert len(audit_entries(f"admin_api.mutation.{name}.executed")) == count
    gone = call(gql, "deleteScope", "{ ok }", **_scope(API, "read:orders"))
    assert error_of(gone) == {"errorName": "NotFound", "reason": "ScopeNotFound"}
    missing = call(gql, "updateScope", sel, **_scope(API, "nope", "x"))
    assert error_of(missing) == {"errorName": "NotFound", "reason": "ScopeNotFound"}


def test_duplicate_scope_and_unknown_resource(gql):
    create_resource(gql)
    create_scope(gql, "write")
    again = call(gql, "createScope", "{ scope { id } }", **_scope(API, "write"))
    assert error_of(again) == {"errorName": "BadRequest", "reason": "ScopeDuplicate"}
    # The same name on another resource is another scope.
    create_resource(gql, "https://other.example.com")
    assert create_scope(gql, "write", uri="https://other.example.com")["scope"] == "write"
    nowhere = call(gql, "createScope", "{ scope { id } }", **_scope("https://nowhere.example.com", "write"))
    assert error_of(nowhere) == {"errorName": "NotFound", "reason": "ResourceNotFound"}


@pytest.mark.parametrize(
    ("scope", "kind"),
    [
        ("has space", "format"),
        ('quote"', "format"),
        ("back\\slash", "format"),
        ("https://authgear.com/scopes/mine", "format"),
        ("openid", "not"),
        ("offline_access", "not"),
        ("x" * 101, "maxLength"),
        ("", "minLength"),
    ],
)
def test_bad_scope_is_validation_failed(gql, scope, kind):
    create_resource(gql)
    body = call(gql, "createScope", "{ scope { id } }", **_scope(API, scope))
    assert reason_of(body) == ("Invalid", "ValidationFailed")
    [cause] = body["errors"][0]["extensions"]["info"]["causes"]
    assert cause["location"] == "/scope" and cause["kind"] == kind


# -- client links -------------------------------------------------------------------------------
def test_add_and_remove_resource_to_client(gql):
    create_resource(gql)
    added = ok(call(gql, "addResourceToClientID", RESOURCE_SEL, resourceURI=API, clientID=CLIENT))
    assert added["addResourceToClientID"]["resource"]["clientIDs"] == [CLIENT]
    # Adding again changes nothing.
    again = ok(call(gql, "addResourceToClientID", RESOURCE_SEL, resourceURI=API, clientID=CLIENT))
    assert again["addResourceToClientID"]["resource"]["clientIDs"] == [CLIENT]
    removed = ok(call(gql, "removeResourceFromClientID", RESOURCE_SEL, resourceURI=API, clientID=CLIENT))
    assert removed["removeResourceFromClientID"]["resource"]["clientIDs"] == []
    # Authgear's event names spell ClientID as one word.
    assert len(audit_entries("admin_api.mutation.add_resource_to_clientid.executed")) == 2
    assert_mutation_audited("remove_resource_from_clientid")


@pytest.mark.parametrize("name", ["addResourceToClientID", "removeResourceFromClientID"])
def test_resource_links_need_a_known_client_and_resource(gql, name):
    create_resource(gql)
    unknown_client = call(gql, name, RESOURCE_SEL, resourceURI=API, clientID="no-such-client")
    assert error_of(unknown_client) == {"errorName": "NotFound", "reason": "ClientNotFound"}
    unknown_resource = call(gql, name, RESOURCE_SEL, resourceURI="https://nowhere.example.com", clientID=CLIENT)
    assert error_of(unknown_resource) == {"errorName": "NotFound", "reason": "ResourceNotFound"}


def test_scopes_of_a_client(gql):
    create_resource(gql)
    for name in ("read", "write", "admin"):
        create_scope(gql, name)
    fields = {"resourceURI": API, "clientID": CLIENT}
    # Scopes need the resource linked to the client first.
    unlinked = call(gql, "addScopesToClientID", SCOPES_SEL, scopes=["read"], **fields)
    assert error_of(unlinked) == {"errorName": "Forbidden", "reason": "ResourceNotAssociatedWithClient"}
    ok(call(gql, "addResourceToClientID", RESOURCE_SEL, **fields))

    added = ok(call(gql, "addScopesToClientID", SCOPES_SEL, scopes=["write", "read"], **fields))
    assert scope_names(added["addScopesToClientID"]["scopes"]) == ["read", "write"]
    removed = ok(call(gql, "removeScopesFromClientID", SCOPES_SEL, scopes=["write"], **fields))
    assert scope_names(removed["removeScopesFromClientID"]["scopes"]) == ["read"]
    replaced = ok(call(gql, "replaceScopesOfClientID", SCOPES_SEL, scopes=["admin", "write"], **fields))
    assert scope_names(replaced["replaceScopesOfClientID"]["scopes"]) == ["admin", "write"]
    emptied = ok(call(gql, "replaceScopesOfClientID", SCOPES_SEL, scopes=[], **fields))
    assert emptied["replaceScopesOfClientID"]["scopes"] == []
    for name in ("add_scopes_to_clientid", "remove_scopes_from_clientid"):
        assert_mutation_audited(name)
    assert len(audit_entries("admin_api.mutation.replace_scopes_of_clientid.executed")) == 2


@pytest.mark.parametrize("name", ["addScopesToClientID", "removeScopesFromClientID", "replaceScopesOfClientID"])
def test_scope_links_errors(gql, name):
    create_resource(gql)
    create_scope(gql, "read")
    ok(call(gql, "addResourceToClientID", RESOURCE_SEL, resourceURI=API, clientID=CLIENT))
    unknown_scope = call(gql, name, SCOPES_SEL, resourceURI=API, clientID=CLIENT, scopes=["read", "nope"])
    assert error_of(unknown_scope) == {"errorName": "NotFound", "reason": "ScopeNotFound"}
    unknown_client = call(gql, name, SCOPES_SEL, resourceURI=API, clientID="no-such-client", scopes=["read"])
    assert error_of(unknown_client) == {"errorName": "NotFound", "reason": "ClientNotFound"}
    nowhere = call(gql, name, SCOPES_SEL, resourceURI="https://nowhere.example.com", clientID=CLIENT, scopes=[])
    assert error_of(nowhere) == {"errorName": "NotFound", "reason": "ResourceNotFound"}
    # A failed mutation changes nothing.
    db.session.remove()
    assert db.session.query(ClientResourceScope).count() == 0


def test_deleting_a_scope_or_resource_removes_its_links(gql):
    create_resource(gql)
    create_scope(gql, "read")
    create_scope(gql, "write")
    fields = {"resourceURI": API, "clientID": CLIENT}
    ok(call(gql, "addResourceToClientID", RESOURCE_SEL, **fields))
    ok(call(gql, "addScopesToClientID", SCOPES_SEL, scopes=["read", "write"], **fields))
    ok(call(gql, "deleteScope", "{ ok }", **_scope(API, "read")))
    remaining = ok(call(gql, "addScopesToClientID", SCOPES_SEL, scopes=[], **fields))["addScopesToClientID"]
    assert scope_names(remaining["scopes"]) == ["write"]
    ok(call(gql, "deleteResource", "{ ok }", resourceURI=API))
    db.session.remove()
    for model in (Resource, Scope, ClientResource, ClientResourceScope):
        assert db.session.query(model).count() == 0


# -- queries ------------------------------------------------------------------------------------
RESOURCES_QUERY = """
query($kw: String, $client: String, $scopeKw: String, $scopeClient: String) {
  resources(searchKeyword: $kw, clientID: $client) {
    totalCount
    edges { node { resourceURI name clientIDs
      scopes(searchKeyword: $scopeKw, clientID: $scopeClient) { totalCount edges { node { scope } } } } }
  }
}"""


def uris(body):
    return [e["node"]["resourceURI"] for e in ok(body)["resources"]["edges"]]


def test_resources_query_filters_and_order(gql):
    create_resource(gql, "https://a.example.com", name="Billing")
    create_resource(gql, "https://b.example.com", name="Orders")
    create_resource(gql, "https://orders.example.com")
    assert uris(gql(RESOURCES_QUERY)) == [  # newest first
        "https://orders.example.com",
        "https://b.example.com",
        "https://a.example.com",
    ]
    assert uris(gql(RESOURCES_QUERY, kw="ORDERS")) == ["https://orders.example.com", "https://b.example.com"]
    assert uris(gql(RESOURCES_QUERY, kw="%")) == []  # LIKE wildcards match literally
    ok(call(gql, "addResourceToClientID", RESOURCE_SEL, resourceURI="https://a.example.com", clientID=CLIENT))
    body = ok(gql(RESOURCES_QUERY, client=CLIENT))["resources"]
    assert body["totalCount"] == 1 and body["edges"][0]["node"]["clientIDs"] == [CLIENT]
    assert ok(gql(RESOURCES_QUERY, client="spa-client"))["resources"]["totalCount"] == 0


def test_scopes_of_a_resource_filters(gql):
    create_resource(gql)
    create_scope(gql, "write", description="Change orders")
    create_scope(gql, "read", description="See orders")
    create_scope(gql, "admin")
    ok(call(gql, "addResourceToClientID", RESOURCE_SEL, resourceURI=API, clientID=CLIENT))
    ok(call(gql, "addScopesToClientID", SCOPES_SEL, resourceURI=API, clientID=CLIENT, scopes=["write"]))

    def scopes(**variables):
        node = ok(gql(RESOURCES_QUERY, **variables))["resources"]["edges"][0]["node"]
        return [e["node"]["scope"] for e in node["scopes"]["edges"]], node["scopes"]["totalCount"]

    assert scopes() == (["admin", "read", "write"], 3)  # by name
    assert scopes(scopeKw="orders") == (["read", "write"], 2)  # name or description
    assert scopes(scopeClient=CLIENT) == (["write"], 1)


def test_resource_and_scope_nodes(gql):
    resource = create_resource(gql)
    scope = create_scope(gql, "read")
    body = ok(
        gql(
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id"
            " ... on Resource { resourceURI } ... on Scope { scope resourceID } } }",
            ids=[resource["id"], scope["id"]],
        )
    )["nodes"]
    assert body[0] == {"__typename": "Resource", "id": resource["id"], "resourceURI": API}
    assert body[1] == {"__typename": "Scope", "id": scope["id"], "scope": "read", "resourceID": resource["id"]}


def test_fraud_protection_answers_empty(gql):
    body = ok(
        gql(
            "{ fraudProtectionLogs(first: 10) { totalCount edges { cursor } pageInfo { hasNextPage } }"
            " fraudProtectionOverview { sendSMS { total blocked flagged timeBuckets { hour } topSourceIPs { ipAddress }"
            " topIPLocations { geoCountryCode } topSMSOrigins { phoneCountryCode } } } }"
        )
    )
    assert body["fraudProtectionLogs"] == {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False}}
    assert body["fraudProtectionOverview"]["sendSMS"] == {
        "total": 0,
        "blocked": 0,
        "flagged": 0,
        "timeBuckets": [],
        "topSourceIPs": [],
        "topIPLocations": [],
        "topSMSOrigins": [],
    }


# -- createSession ------------------------------------------------------------------------------
CREATE_SESSION = (
    "mutation($input: CreateSessionInput!) { createSession(input: $input)"
    " { accessToken refreshToken tokenType expiresIn } }"
)


@pytest.fixture
def session_app(make_app):
    """The test project with admin_api.create_session_enabled (authgear.features.yaml)."""
    from app.config import deep_merge
    from app.features import default_features

    return make_app(features=deep_merge(default_features(), {"admin_api": {"create_session_enabled": True}}))


def _create_session(http, admin_headers, **fields):
    resp = http.post(
        GRAPHQL_PATH, json={"query": CREATE_SESSION, "variables": {"input": fields}}, headers=admin_headers
    )
    assert resp.status_code == 200
    return resp.get_json()


def test_create_session_is_off_by_default(client, admin_headers, svc):
    user = make_user(svc)
    body = _create_session(client, admin_headers, userID=gid("User", user.id), clientID="spa-client")
    assert error_of(body) == {"errorName": "Forbidden", "reason": "Forbidden"}
    assert body["errors"][0]["message"] == "CreateSession is disabled"


def test_create_session_signs_the_user_in(session_app, admin_headers):
    http = session_app.test_client()
    with session_app.app_context():
        user = make_user(session_app.extensions["gatehouse"])
        user_id = user.id
    device = base64.urlsafe_b64encode(json.dumps({"ios": {"model": "x"}}).encode()).decode().rstrip("=")
    body = ok(
        _create_session(http, admin_headers, userID=gid("User", user_id), clientID="spa-client", deviceInfo=device)
    )
    tokens = body["createSession"]
    assert tokens["tokenType"] == "Bearer" and tokens["expiresIn"] == 1800
    assert tokens["refreshToken"].count(".") == 1
    # The access token is a user's: userinfo answers for the user.
    info = http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['accessToken']}"})
    assert info.status_code == 200 and info.get_json()["sub"] == user_id
    # The refresh token refreshes like one from a login.
    refreshed = http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refreshToken"], "client_id": "spa-client"},
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    with session_app.app_context():
        grant = db.session.query(OfflineGrant).one()
        assert grant.user_id == user_id and grant.client_id == "spa-client"
        assert grant.scopes == ["openid", "offline_access", "https://authgear.com/scopes/full-access"]
        rows = [r for r in _audit(session_app, "admin_api.mutation.create_session.executed")]
        assert len(rows) == 1 and rows[0].user_id == user_id


def _audit(app, activity):
    from sqlalchemy import select

    from app.audit import AuditLog

    return list(db.session.scalars(select(AuditLog).where(AuditLog.activity_type == activity)))


NO_ID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("fields", "expected", "message"),
    [
        ({"clientID": "no-such-client"}, ("Invalid", "Invalid"), "invalid client ID"),
        ({"clientID": "spa-client", "userID": gid("Role", NO_ID)}, ("Invalid", "Invalid"), "invalid user ID"),
        ({"clientID": "spa-client", "userID": gid("User", NO_ID)}, ("NotFound", "UserNotFound"), None),
        ({"clientID": "spa-client", "deviceInfo": "!!"}, ("Invalid", "Invalid"), "invalid device info"),
    ],
)
def test_create_session_errors(session_app, admin_headers, fields, expected, message):
    http = session_app.test_client()
    with session_app.app_context():
        user_id = make_user(session_app.extensions["gatehouse"]).id
    body = _create_session(http, admin_headers, **{"userID": gid("User", user_id), **fields})
    assert error_of(body) == {"errorName": expected[0], "reason": expected[1]}
    if message:
        assert body["errors"][0]["message"] == message
    with session_app.app_context():
        assert db.session.query(OfflineGrant).count() == 0

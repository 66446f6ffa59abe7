"""The audit log: `auditLogs` and its filters, the `AuditLog` type, node IDs of entries."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit import AuditLog
from app.context import RequestContext
from app.extensions import db
from tests.admin.conftest import error_of, gid, ok
from tests.factories import make_user

QUERY = """
query($types: [AuditLogActivityType!], $users: [ID!], $emails: [String!], $phones: [String!],
      $from: DateTime, $to: DateTime, $dir: SortDirection, $first: Int, $after: String) {
  auditLogs(activityTypes: $types, userIDs: $users, emailAddresses: $emails, phoneNumbers: $phones,
            rangeFrom: $from, rangeTo: $to, sortDirection: $dir, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id createdAt activityType ipAddress userAgent clientID data user { id } } }
  }
}
"""


def write(svc, activity, user_id=None, minutes_ago=0, **data):
    svc.audit.write(activity, RequestContext(ip="192.0.2.1", user_agent="tests", client_id="spa-client"), user_id, data)
    row = db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(1)).one()
    row.created_at = svc.clock() - timedelta(minutes=minutes_ago)
    db.session.commit()
    return row


def types(conn):
    return [e["node"]["activityType"] for e in conn["edges"]]


@pytest.mark.embedded
def test_entries_newest_first_with_their_fields(gql, svc):
    user = make_user(svc, email="logged@example.com")  # writes user.created
    db.session.query(AuditLog).delete()
    old = write(svc, "user.authenticated", user.id, minutes_ago=10, amr=["pwd"])
    new = write(svc, "user.signed_out", user.id, minutes_ago=1)
    write(svc, "something.gatehouse.does.not.know", user.id)  # not in the enum: left out
    conn = ok(gql(QUERY))["auditLogs"]
    assert conn["totalCount"] == 2
    assert types(conn) == ["USER_SIGNED_OUT", "USER_AUTHENTICATED"]
    node = conn["edges"][1]["node"]
    assert node["id"] == gid("AuditLog", old.id)
    assert base64.urlsafe_b64decode(node["id"] + "==").decode() == f"AuditLog:{old.id:016x}"
    assert node["ipAddress"] == "192.0.2.1" and node["userAgent"] == "tests" and node["clientID"] == "spa-client"
    assert node["data"] == {"amr": ["pwd"]}
    assert node["user"] == {"id": gid("User", user.id)}
    assert types(ok(gql(QUERY, dir="ASC"))["auditLogs"]) == ["USER_AUTHENTICATED", "USER_SIGNED_OUT"]
    by_node = ok(
        gql("query($id: ID!) { node(id: $id) { ... on AuditLog { activityType } } }", id=gid("AuditLog", new.id))
    )
    assert by_node["node"] == {"activityType": "USER_SIGNED_OUT"}


def test_filters(gql, svc):
    alice = make_user(svc, email="alice@example.com")
    bob = svc.users.create_user([("email", "bob@example.com"), ("phone", "+85251234567")])
    db.session.commit()
    db.session.query(AuditLog).delete()
    write(svc, "user.authenticated", alice.id, minutes_ago=30)
    write(svc, "user.authenticated", bob.id, minutes_ago=20)
    write(svc, "user.profile.updated", bob.id, minutes_ago=10)
    write(svc, "admin_api.mutation.create_role.executed", None, minutes_ago=5)

    def count(**variables):
        return ok(gql(QUERY, **variables))["auditLogs"]["totalCount"]

    assert count() == 4
    assert count(types=["USER_AUTHENTICATED"]) == 2
    assert count(types=["USER_PROFILE_UPDATED", "ADMIN_API_MUTATION_CREATE_ROLE_EXECUTED"]) == 2
    assert count(users=[gid("User", bob.id)]) == 2
    assert count(users=[gid("User", alice.id)], types=["USER_PROFILE_UPDATED"]) == 0
    assert count(emails=["ALICE@example.com"]) == 1
    assert count(phones=["+85251234567"]) == 2
    assert count(emails=["nobody@example.com"]) == 0
    now = svc.clock()
    assert count(**{"from": (now - timedelta(minutes=15)).isoformat()}) == 2
    assert count(to=(now - timedelta(minutes=15)).isoformat()) == 2
    assert count(users=[]) == 4 and count(types=[]) == 4  # empty lists filter nothing
    assert error_of(gql(QUERY, users=["bad"]))["reason"] == "Invalid"
    assert error_of(gql(QUERY, emails=["x@example.com"] * 101))["reason"] == "ValidationFailed"


def test_pagination_and_deleted_users(gql, svc):
    user = make_user(svc)
    db.session.query(AuditLog).delete()
    for i in range(5):
        write(svc, "user.authenticated", user.id, minutes_ago=i)
    db.session.delete(user)
    db.session.commit()
    first = ok(gql(QUERY, first=3))["auditLogs"]
    assert len(first["edges"]) == 3 and first["pageInfo"]["hasNextPage"] is True
    rest = ok(gql(QUERY, first=3, after=first["pageInfo"]["endCursor"]))["auditLogs"]
    assert len(rest["edges"]) == 2 and rest["pageInfo"]["hasNextPage"] is False
    assert all(e["node"]["user"] is None for e in rest["edges"])  # the user is gone, its entries stay


@pytest.mark.embedded
def test_every_mutation_entry_type_is_listed(gql, svc):
    ok(gql('mutation { createRole(input: {key: "audited"}) { role { id } } }'))
    conn = ok(gql(QUERY, types=["ADMIN_API_MUTATION_CREATE_ROLE_EXECUTED"]))["auditLogs"]
    assert conn["totalCount"] == 1
    assert conn["edges"][0]["node"]["data"]["input"] == {"key": "audited"}


def test_audit_context_claim_is_recorded(client, sign_admin_jwt, svc):
    token = sign_admin_jwt(audit_context={"actor": "ops-script", "ticket": 42})
    resp = client.post(
        "/graphql",
        json={"query": 'mutation { createGroup(input: {key: "ctx"}) { group { id } } }'},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200 and "errors" not in resp.get_json()
    db.session.remove()
    row = db.session.query(AuditLog).filter_by(activity_type="admin_api.mutation.create_group.executed").one()
    assert row.data["audit_context"] == {"actor": "ops-script", "ticket": 42}


@pytest.mark.embedded
def test_a_wrong_password_at_login_is_listed_as_failed(client, gql, svc):
    user = make_user(svc, email="guessed@example.com", password="Right-pass-123")
    db.session.commit()
    flows, agent = "/api/v1/authentication_flows", {"User-Agent": "guesser/2.0"}
    token = client.post(flows, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    body = {"state_token": token, "input": {"identification": "email", "login_id": "guessed@example.com"}}
    token = client.post(flows + "/states/input", json=body).get_json()["result"]["state_token"]
    body = {"state_token": token, "input": {"authentication": "primary_password", "password": "Wrong-pass-456"}}
    assert client.post(flows + "/states/input", json=body, headers=agent).status_code == 401

    conn = ok(gql(QUERY, types=["AUTHENTICATION_PRIMARY_PASSWORD_FAILED"]))["auditLogs"]
    assert conn["totalCount"] == 1
    node = conn["edges"][0]["node"]
    assert node["activityType"] == "AUTHENTICATION_PRIMARY_PASSWORD_FAILED"
    assert node["user"] == {"id": gid("User", user.id)}
    assert node["ipAddress"] == "127.0.0.1" and node["userAgent"] == "guesser/2.0"
    assert node["data"] == {"authentication_stage": "primary", "authenticator_type": "password"}
    assert ok(gql(QUERY, types=["USER_AUTHENTICATED"]))["auditLogs"]["totalCount"] == 0

"""No N+1: the number of SQL statements for a page of users does not grow with the page size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, insert

from app.authenticators.models import Authenticator
from app.extensions import db
from app.roles.models import user_roles
from tests.admin.conftest import make_users, ok

PAGE = """
query($first: Int!) {
  users(first: $first, sortDirection: ASC) {
    totalCount
    edges { node {
      id isAnonymous endUserAccountID verifiedClaims { name value }
      identities { totalCount edges { node { id type claims } } }
      authenticators { totalCount edges { node { id type kind claims } } }
      primaryPassword { id }
      roles { totalCount edges { node {
        id key groups { totalCount } users(first: 5) { totalCount edges { node { id } } }
      } } }
      effectiveRoles { totalCount edges { node { key } } }
      groups { totalCount }
      sessions { totalCount }
      authorizations { totalCount }
    } }
  }
}
"""


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _seed(svc, count: int) -> None:
    users = make_users(svc, count)
    role_a = svc.roles.create_role("role_a")
    role_b = svc.roles.create_role("role_b")
    group = svc.roles.create_group("group_a")
    svc.roles.add_role_to_groups("role_b", ["group_a"])
    now = svc.clock()
    db.session.execute(
        insert(Authenticator),
        [
            {
                "user_id": u.id,
                "type": "password",
                "kind": "primary",
                "password_hash": "$argon2id$x",
                "created_at": now,
                "updated_at": now,
            }
            for u in users
        ],
    )
    db.session.execute(insert(user_roles), [{"user_id": u.id, "role_id": role_a.id} for u in users])
    svc.roles.add_group_to_users("group_a", [u.id for u in users[::2]])
    db.session.commit()
    del role_b, group


@pytest.mark.embedded
def test_statement_count_does_not_grow_with_page_size(client, admin_headers, svc):
    _seed(svc, 100)
    counts = {}
    for size in (10, 100):
        db.session.remove()
        with counting_statements() as statements:
            resp = client.post("/graphql", json={"query": PAGE, "variables": {"first": size}}, headers=admin_headers)
        data = ok(resp.get_json())["users"]
        assert data["totalCount"] == 100 and len(data["edges"]) == size
        node = data["edges"][-1]["node"]
        assert node["identities"]["totalCount"] == 1 and node["authenticators"]["totalCount"] == 1
        assert node["roles"]["edges"][0]["node"]["users"]["totalCount"] == 100
        counts[size] = len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))])
    print("statements per page size:", counts)
    assert counts[100] == counts[10], counts
    assert counts[100] <= 20, counts  # one query per related table, not per user


@pytest.mark.embedded
def test_search_counts_in_the_same_scan_as_the_page(client, admin_headers, svc):
    make_users(svc, 5, prefix="match")
    make_users(svc, 3, prefix="other")
    query = (
        'query($after: String) { users(first: 2, after: $after, searchKeyword: "match") '
        "{ totalCount edges { cursor } } }"
    )
    db.session.remove()
    with counting_statements() as statements:
        resp = client.post("/graphql", json={"query": query}, headers=admin_headers)
    data = ok(resp.get_json())["users"]
    assert data["totalCount"] == 5 and len(data["edges"]) == 2
    assert len([s for s in statements if "FROM users" in s]) == 1, statements
    from app.admin.pagination import encode_cursor

    beyond = ok(
        client.post(
            "/graphql", json={"query": query, "variables": {"after": encode_cursor(10)}}, headers=admin_headers
        ).get_json()
    )["users"]
    assert beyond == {"totalCount": 5, "edges": []}  # no row to read the total from: counted separately
    last_query = '{ users(last: 2, searchKeyword: "match") { totalCount edges { node { endUserAccountID } } } }'
    tail = ok(
        client.post(
            "/graphql",
            json={"query": last_query},
            headers=admin_headers,
        ).get_json()
    )["users"]
    assert tail["totalCount"] == 5
    assert [e["node"]["endUserAccountID"] for e in tail["edges"]] == ["match-001@example.com", "match-000@example.com"]


BENCH_PAGE = """
query Page($first: Int!) {
  users(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id createdAt lastLoginAt isDisabled endUserAccountID formattedName
      identities { edges { node { id type claims } } }
      roles { edges { node { id key } } }
    } }
  }
}
"""


@pytest.mark.embedded
def test_statement_count_does_not_grow_with_the_users_on_the_page(client, admin_headers, svc):
    """The admin bench's page (bench/admin.py): 5 users with one identity each, then 50 users,
    most of them with two identities and two roles, cost the same number of statements."""
    counts = {}
    for total, added in ((5, 5), (50, 45)):
        users = make_users(svc, added, prefix=f"page{total}")
        if total == 50:
            role_a = svc.roles.create_role("page_a")
            role_b = svc.roles.create_role("page_b")
            for i, user in enumerate(users):
                svc.users.add_login_id(user, "username", f"pageuser{i}")
            db.session.execute(
                insert(user_roles),
                [{"user_id": u.id, "role_id": r.id} for u in users for r in (role_a, role_b)],
            )
            db.session.commit()
        db.session.remove()
        with counting_statements() as statements:
            body = {"query": BENCH_PAGE, "variables": {"first": 50}}
            resp = client.post("/graphql", json=body, headers=admin_headers)
        data = ok(resp.get_json())["users"]
        assert data["totalCount"] == total and len(data["edges"]) == total
        if total == 50:
            newest = data["edges"][0]["node"]
            assert len(newest["identities"]["edges"]) == 2 and len(newest["roles"]["edges"]) == 2
        counts[total] = len(statements)
    print("statements for 5 and 50 users:", counts)
    assert counts[5] == counts[50], counts
    assert counts[50] <= 6, counts  # count, page, identities, roles (plus the transaction's own)

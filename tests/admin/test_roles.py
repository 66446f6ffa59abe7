"""Roles and groups: queries, their links to users and to each other, effective roles, mutations."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.roles.models import Group, Role, user_roles
from tests.admin.conftest import assert_mutation_audited, audit_entries, error_of, gid, make_users, ok


def call(gql, name, selection, /, **fields):
    input_type = name[0].upper() + name[1:] + "Input"
    return gql(f"mutation($input: {input_type}!) {{ {name}(input: $input) {selection} }}", input=fields)


def keys(conn):
    return [e["node"]["key"] for e in conn["edges"]]


@pytest.mark.embedded
def test_create_update_delete_role(gql, svc):
    sel = "{ role { id key name description createdAt updatedAt } }"
    role = ok(call(gql, "createRole", sel, key="editor", name="Editor", description="Edits things"))["createRole"][
        "role"
    ]
    assert (role["key"], role["name"], role["description"]) == ("editor", "Editor", "Edits things")
    role_id = role["id"]
    updated = ok(call(gql, "updateRole", sel, id=role_id, key="writer", description=""))["updateRole"]["role"]
    assert (updated["key"], updated["name"], updated["description"]) == ("writer", "Editor", None)
    assert ok(call(gql, "deleteRole", "{ ok }", id=role_id))["deleteRole"] == {"ok": True}
    assert db.session.query(Role).count() == 0
    for name in ("create_role", "update_role", "delete_role"):
        assert_mutation_audited(name)
    missing = call(gql, "deleteRole", "{ ok }", id=role_id)
    assert error_of(missing) == {"errorName": "NotFound", "reason": "RoleNotFound"}


@pytest.mark.embedded
def test_create_update_delete_group(gql, svc):
    sel = "{ group { id key name description } }"
    group = ok(call(gql, "createGroup", sel, key="staff", name="Staff"))["createGroup"]["group"]
    updated = ok(call(gql, "updateGroup", sel, id=group["id"], name="All staff"))["updateGroup"]["group"]
    assert (updated["key"], updated["name"]) == ("staff", "All staff")
    assert ok(call(gql, "deleteGroup", "{ ok }", id=group["id"]))["deleteGroup"] == {"ok": True}
    assert db.session.query(Group).count() == 0
    for name in ("create_group", "update_group", "delete_group"):
        assert_mutation_audited(name)
    missing = call(gql, "updateGroup", sel, id=group["id"], name="x")
    assert error_of(missing) == {"errorName": "NotFound", "reason": "GroupNotFound"}


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "ValidationFailed"),
        ("1abc", "ValidationFailed"),
        ("has space", "ValidationFailed"),
        ("x" * 41, "ValidationFailed"),
        ("authgear:admin", "ValidationFailed"),
        ("ümlaut", "ValidationFailed"),
    ],
)
def test_bad_role_keys(gql, key, reason):
    assert error_of(call(gql, "createRole", "{ role { id } }", key=key))["reason"] == reason


def test_duplicate_keys_and_long_texts(gql, svc):
    ok(call(gql, "createRole", "{ role { id } }", key="dup"))
    ok(call(gql, "createGroup", "{ group { id } }", key="dup"))  # roles and groups have separate keys
    assert error_of(call(gql, "createRole", "{ role { id } }", key="dup")) == {
        "errorName": "BadRequest",
        "reason": "RoleDuplicateKey",
        "info": {"key": "dup"},
    }
    assert error_of(call(gql, "createGroup", "{ group { id } }", key="dup"))["reason"] == "GroupDuplicateKey"
    other = ok(call(gql, "createRole", "{ role { id } }", key="other"))["createRole"]["role"]["id"]
    assert error_of(call(gql, "updateRole", "{ role { id } }", id=other, key="dup"))["reason"] == "RoleDuplicateKey"
    assert error_of(call(gql, "createRole", "{ role { id } }", key="k", name="n" * 201))["reason"] == "ValidationFailed"
    assert (
        error_of(call(gql, "createRole", "{ role { id } }", key="k", description="d" * 1001))["reason"]
        == "ValidationFailed"
    )
    assert error_of(call(gql, "updateRole", "{ role { id } }", id=gid("Group", "x")))["reason"] == "Invalid"


def test_roles_and_groups_queries(gql, svc):
    for key, name in (("admin", "Administrators"), ("auditor", "Auditors"), ("billing", "Money people")):
        svc.roles.create_role(key, name)
    svc.roles.create_group("ops", "Operations")
    svc.roles.create_group("admins_group", "Admin team")
    db.session.commit()
    query = """query($kw: String, $ex: [ID!], $first: Int, $after: String) {
      roles(searchKeyword: $kw, excludedIDs: $ex, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id key } } }
    }"""
    everything = ok(gql(query))["roles"]
    assert keys(everything) == ["admin", "auditor", "billing"]
    assert keys(ok(gql(query, kw="ADMIN"))["roles"]) == ["admin"]
    assert keys(ok(gql(query, kw="money"))["roles"]) == ["billing"]
    excluded = ok(gql(query, ex=[everything["edges"][0]["node"]["id"], "garbage"]))["roles"]
    assert keys(excluded) == ["auditor", "billing"] and excluded["totalCount"] == 2
    first = ok(gql(query, first=2))["roles"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert keys(ok(gql(query, first=2, after=first["pageInfo"]["endCursor"]))["roles"]) == ["billing"]
    groups = ok(gql('{ groups(searchKeyword: "admin") { totalCount edges { node { key name } } } }'))["groups"]
    assert groups == {"totalCount": 1, "edges": [{"node": {"key": "admins_group", "name": "Admin team"}}]}


@pytest.mark.embedded
def test_role_and_user_links(gql, svc):
    a, b, c = make_users(svc, 3)
    svc.roles.create_role("viewer")
    svc.roles.create_role("editor")
    db.session.commit()
    users = [gid("User", u.id) for u in (a, b)]
    sel = "{ role { key users { totalCount edges { node { id } } } } }"
    data = ok(call(gql, "addRoleToUsers", sel, roleKey="viewer", userIDs=users))["addRoleToUsers"]["role"]
    assert data["users"]["totalCount"] == 2 and [e["node"]["id"] for e in data["users"]["edges"]] == users
    ok(call(gql, "addRoleToUsers", sel, roleKey="viewer", userIDs=users))  # adding twice is harmless
    data = ok(call(gql, "removeRoleFromUsers", sel, roleKey="viewer", userIDs=users[:1]))["removeRoleFromUsers"]
    assert data["role"]["users"]["totalCount"] == 1
    usel = "{ user { roles { totalCount edges { node { key } } } } }"
    data = ok(call(gql, "addUserToRoles", usel, userID=gid("User", c.id), roleKeys=["viewer", "editor"]))
    assert sorted(keys(data["addUserToRoles"]["user"]["roles"])) == ["editor", "viewer"]
    data = ok(call(gql, "removeUserFromRoles", usel, userID=gid("User", c.id), roleKeys=["viewer"]))
    assert keys(data["removeUserFromRoles"]["user"]["roles"]) == ["editor"]
    for name in ("add_role_to_users", "remove_role_from_users", "add_user_to_roles", "remove_user_from_roles"):
        assert audit_entries(f"admin_api.mutation.{name}.executed")
    assert error_of(call(gql, "addRoleToUsers", sel, roleKey="nope", userIDs=users))["reason"] == "RoleNotFound"
    missing_user = gid("User", "00000000-0000-4000-8000-000000000000")
    assert (
        error_of(call(gql, "addRoleToUsers", sel, roleKey="viewer", userIDs=[missing_user]))["reason"]
        == "UserUnknownKeys"
    )
    assert (
        error_of(call(gql, "addUserToRoles", usel, userID=gid("User", c.id), roleKeys=["viewer", "nope"]))["reason"]
        == "RoleUnknownKeys"
    )
    db.session.remove()
    assert db.session.query(user_roles).count() == 2  # b-viewer, c-editor: failed calls changed nothing


@pytest.mark.embedded
def test_group_links_and_effective_roles(gql, svc):
    a, b = make_users(svc, 2)
    for key in ("reader", "writer", "owner"):
        svc.roles.create_role(key)
    svc.roles.create_group("team")
    svc.roles.add_role_to_users("owner", [a.id])
    db.session.commit()
    gsel = "{ group { key roles { edges { node { key } } } users { totalCount } } }"
    data = ok(call(gql, "addGroupToRoles", gsel, groupKey="team", roleKeys=["reader", "writer"]))
    assert sorted(keys(data["addGroupToRoles"]["group"]["roles"])) == ["reader", "writer"]
    data = ok(call(gql, "removeGroupFromRoles", gsel, groupKey="team", roleKeys=["writer"]))
    assert keys(data["removeGroupFromRoles"]["group"]["roles"]) == ["reader"]
    rsel = "{ role { key groups { edges { node { key } } } } }"
    data = ok(call(gql, "addRoleToGroups", rsel, roleKey="writer", groupKeys=["team"]))
    assert keys(data["addRoleToGroups"]["role"]["groups"]) == ["team"]
    data = ok(call(gql, "removeRoleFromGroups", rsel, roleKey="writer", groupKeys=["team"]))
    assert keys(data["removeRoleFromGroups"]["role"]["groups"]) == []
    data = ok(call(gql, "addGroupToUsers", gsel, groupKey="team", userIDs=[gid("User", a.id), gid("User", b.id)]))
    assert data["addGroupToUsers"]["group"]["users"]["totalCount"] == 2
    data = ok(call(gql, "removeGroupFromUsers", gsel, groupKey="team", userIDs=[gid("User", b.id)]))
    assert data["removeGroupFromUsers"]["group"]["users"]["totalCount"] == 1
    usel = "{ user { groups { edges { node { key } } } effectiveRoles { totalCount edges { node { key } } } } }"
    data = ok(call(gql, "addUserToGroups", usel, userID=gid("User", b.id), groupKeys=["team"]))
    assert keys(data["addUserToGroups"]["user"]["effectiveRoles"]) == ["reader"]
    data = ok(call(gql, "removeUserFromGroups", usel, userID=gid("User", b.id), groupKeys=["team"]))
    assert data["removeUserFromGroups"]["user"] == {
        "groups": {"edges": []},
        "effectiveRoles": {"totalCount": 0, "edges": []},
    }
    effective = ok(
        gql(
            "query($id: ID!) { node(id: $id) { ... on User { roles { edges { node { key } } } "
            "effectiveRoles { edges { node { key } } } } } }",
            id=gid("User", a.id),
        )
    )["node"]
    assert keys(effective["roles"]) == ["owner"]
    assert sorted(keys(effective["effectiveRoles"])) == ["owner", "reader"]
    for name in (
        "add_group_to_roles",
        "remove_group_from_roles",
        "add_role_to_groups",
        "remove_role_from_groups",
        "add_group_to_users",
        "remove_group_from_users",
        "add_user_to_groups",
        "remove_user_from_groups",
    ):
        assert audit_entries(f"admin_api.mutation.{name}.executed"), name
    assert error_of(call(gql, "addGroupToUsers", gsel, groupKey="nope", userIDs=[]))["reason"] == "GroupNotFound"


def test_role_users_pages_are_batched_per_role(gql, svc):
    users = make_users(svc, 5)
    svc.roles.create_role("r1")
    svc.roles.create_role("r2")
    svc.roles.add_role_to_users("r1", [u.id for u in users])
    svc.roles.add_role_to_users("r2", [u.id for u in users[3:]])
    db.session.commit()
    query = """{ roles { edges { node { key users(first: 2, after: "b2Zmc2V0OjA") {
                 totalCount pageInfo { hasNextPage hasPreviousPage } edges { node { endUserAccountID } } } } } } }"""
    r1, r2 = (e["node"] for e in ok(gql(query))["roles"]["edges"])
    assert r1["users"]["totalCount"] == 5
    assert [e["node"]["endUserAccountID"] for e in r1["users"]["edges"]] == [
        "user-001@example.com",
        "user-002@example.com",
    ]
    assert r1["users"]["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": True}
    assert [e["node"]["endUserAccountID"] for e in r2["users"]["edges"]] == ["user-004@example.com"]
    assert r2["users"]["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}
    last = ok(
        gql(
            "{ groups { totalCount } roles(last: 1) { edges { node { key "
            "users(last: 1) { edges { node { endUserAccountID } } } } } } }"
        )
    )
    assert last["roles"]["edges"][0]["node"]["users"]["edges"][0]["node"]["endUserAccountID"] == "user-004@example.com"


MISSING_USER_ID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.embedded
def test_bulk_links_name_the_unknown_keys_as_authgear(gql, svc):
    """Authgear's rolesgroups store: NotFound with RoleUnknownKeys / GroupUnknownKeys (`info.keys`)
    or UserUnknownKeys (`info.ids`, raw user IDs), missing ones in the order given; nothing changes.
    The role keys of addGroupToRoles/removeGroupFromRoles are reported as GroupUnknownKeys, as
    Authgear does."""
    (a,) = make_users(svc, 1)
    svc.roles.create_role("viewer")
    svc.roles.create_group("team")
    db.session.commit()
    uid = gid("User", a.id)
    rsel, gsel, usel = "{ role { key } }", "{ group { key } }", "{ user { id } }"
    cases = [
        (
            call(gql, "addRoleToUsers", rsel, roleKey="viewer", userIDs=[gid("User", MISSING_USER_ID), uid]),
            "UserUnknownKeys",
            {"ids": [MISSING_USER_ID]},
            "unknown user ids",
        ),
        (
            call(gql, "removeGroupFromUsers", gsel, groupKey="team", userIDs=[gid("User", MISSING_USER_ID)]),
            "UserUnknownKeys",
            {"ids": [MISSING_USER_ID]},
            "unknown user ids",
        ),
        (
            call(gql, "addUserToRoles", usel, userID=uid, roleKeys=["zeta", "viewer", "alpha"]),
            "RoleUnknownKeys",
            {"keys": ["zeta", "alpha"]},
            "unknown role keys",
        ),
        (
            call(gql, "removeUserFromGroups", usel, userID=uid, groupKeys=["nope"]),
            "GroupUnknownKeys",
            {"keys": ["nope"]},
            "unknown group keys",
        ),
        (
            call(gql, "addRoleToGroups", rsel, roleKey="viewer", groupKeys=["team", "nope"]),
            "GroupUnknownKeys",
            {"keys": ["nope"]},
            "unknown group keys",
        ),
        (
            call(gql, "addGroupToRoles", gsel, groupKey="team", roleKeys=["nope", "viewer"]),
            "GroupUnknownKeys",
            {"keys": ["nope"]},
            "unknown role keys",
        ),
    ]
    for body, reason, info, message in cases:
        assert body["errors"][0]["message"] == message, body
        assert error_of(body) == {"errorName": "NotFound", "reason": reason, "info": info}
    # The key or user the mutation is about is looked up first: its own NotFound wins.
    missing_role = call(gql, "addRoleToUsers", rsel, roleKey="nope", userIDs=[gid("User", MISSING_USER_ID)])
    assert error_of(missing_role) == {"errorName": "NotFound", "reason": "RoleNotFound"}
    db.session.remove()
    assert db.session.query(user_roles).count() == 0

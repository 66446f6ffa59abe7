"""User queries: `users` (pagination, search, sort, role and group filters), the lookups, `node`
and `nodes`, and the fields of `User`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.admin.pagination import encode_cursor
from app.extensions import db
from app.identities.models import User
from app.sessions.models import IdPSession
from tests.admin.conftest import error_of, gid, make_users, ok
from tests.factories import make_user

PAGE = """
query($first: Int, $last: Int, $after: String, $before: String, $kw: String, $sortBy: UserSortBy,
      $dir: SortDirection, $roles: [String!], $groups: [String!]) {
  users(first: $first, last: $last, after: $after, before: $before, searchKeyword: $kw, sortBy: $sortBy,
        sortDirection: $dir, roleKeys: $roles, groupKeys: $groups) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id endUserAccountID } }
  }
}
"""


def emails(conn):
    return [e["node"]["endUserAccountID"] for e in conn["edges"]]


def page(gql, **variables):
    return ok(gql(PAGE, **variables))["users"]


@pytest.mark.embedded
def test_first_page_then_after_cursor(gql, svc):
    make_users(svc, 5)
    first = page(gql, first=2, dir="ASC")
    assert first["totalCount"] == 5
    assert emails(first) == ["user-000@example.com", "user-001@example.com"]
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": first["edges"][0]["cursor"],
        "endCursor": first["edges"][1]["cursor"],
    }
    second = page(gql, first=2, after=first["pageInfo"]["endCursor"], dir="ASC")
    assert emails(second) == ["user-002@example.com", "user-003@example.com"]
    assert second["pageInfo"]["hasPreviousPage"] is True and second["pageInfo"]["hasNextPage"] is True
    third = page(gql, first=2, after=second["pageInfo"]["endCursor"], dir="ASC")
    assert emails(third) == ["user-004@example.com"]
    assert third["pageInfo"]["hasNextPage"] is False
    beyond = page(gql, first=2, after=third["pageInfo"]["endCursor"], dir="ASC")
    assert beyond["edges"] == [] and beyond["pageInfo"]["startCursor"] is None


def test_last_and_before(gql, svc):
    make_users(svc, 5)
    tail = page(gql, last=2, dir="ASC")
    assert emails(tail) == ["user-003@example.com", "user-004@example.com"]
    assert tail["pageInfo"]["hasPreviousPage"] is True and tail["pageInfo"]["hasNextPage"] is False
    before = page(gql, last=2, before=tail["pageInfo"]["startCursor"], dir="ASC")
    assert emails(before) == ["user-001@example.com", "user-002@example.com"]
    window = page(gql, first=10, after=encode_cursor(0), before=encode_cursor(3), dir="ASC")
    assert emails(window) == ["user-001@example.com", "user-002@example.com"]
    assert page(gql, last=10, before=encode_cursor(0))["edges"] == []


def test_page_size_is_capped_at_100(gql, svc):
    make_users(svc, 102)
    big = page(gql, first=1000)
    assert len(big["edges"]) == 100 and big["totalCount"] == 102 and big["pageInfo"]["hasNextPage"] is True
    assert len(page(gql)["edges"]) == 100  # no first/last: one full page
    assert page(gql, first=0)["edges"] == []


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"first": -1}, "Invalid"),
        ({"last": -5}, "Invalid"),
        ({"after": "not-a-cursor"}, "InvalidCursor"),
        ({"before": encode_cursor(0)[:-2] + "!!"}, "InvalidCursor"),
        ({"after": "b2Zmc2V0Oi0x"}, "InvalidCursor"),  # offset:-1
    ],
)
def test_bad_paging_arguments_are_invalid(gql, variables, reason):
    ext = error_of(gql(PAGE, **variables))
    assert ext["errorName"] == "Invalid" and ext["reason"] == reason


def test_default_order_is_newest_first_and_sort_by_last_login(gql, svc):
    users = make_users(svc, 3)
    assert emails(page(gql)) == ["user-002@example.com", "user-001@example.com", "user-000@example.com"]
    users[0].last_login_at = svc.clock()
    users[2].last_login_at = svc.clock() - timedelta(hours=1)
    db.session.commit()
    by_login = page(gql, sortBy="LAST_LOGIN_AT", dir="DESC")
    assert emails(by_login) == ["user-000@example.com", "user-002@example.com", "user-001@example.com"]
    by_login_asc = page(gql, sortBy="LAST_LOGIN_AT", dir="ASC")
    assert emails(by_login_asc) == ["user-001@example.com", "user-002@example.com", "user-000@example.com"]


@pytest.mark.embedded
def test_search_over_email_phone_username_name_and_id(gql, svc):
    alice = svc.users.create_user([("email", "alice@example.com"), ("phone", "+85251234567")])
    bob = svc.users.create_user([("email", "bob@example.org"), ("username", "bobby_tables")])
    carol = svc.users.create_user([("email", "carol@example.net")], standard_attributes={"name": "Carol Danvers"})
    db.session.commit()

    def found(keyword):
        return sorted(emails(page(gql, kw=keyword)))

    assert found("ALICE@") == ["alice@example.com"]
    assert found("5123") == ["alice@example.com"]
    assert found("tables") == ["bob@example.org"]
    assert found("danvers") == ["carol@example.net"]
    assert found(bob.id) == ["bob@example.org"]
    assert found("example") == ["alice@example.com", "bob@example.org", "carol@example.net"]
    assert found("nobody-like-this") == []
    assert found("%") == [] and found("_") == ["bob@example.org"]  # wildcards match literally
    assert found("   ") == ["alice@example.com", "bob@example.org", "carol@example.net"]
    assert page(gql, kw="example", first=1)["totalCount"] == 3
    del alice, carol


def test_search_keyword_length_is_limited(gql):
    assert error_of(gql(PAGE, kw="x" * 401))["reason"] == "ValidationFailed"


def test_filter_by_role_and_group_keys(gql, svc):
    a, b, c = make_users(svc, 3)
    roles = svc.roles
    roles.create_role("admin")
    roles.create_role("viewer")
    roles.create_group("staff")
    roles.add_role_to_users("admin", [a.id])
    roles.add_role_to_users("viewer", [b.id])
    roles.add_group_to_users("staff", [b.id, c.id])
    db.session.commit()
    assert emails(page(gql, roles=["admin"], dir="ASC")) == ["user-000@example.com"]
    assert emails(page(gql, roles=["admin", "viewer"], dir="ASC")) == ["user-000@example.com", "user-001@example.com"]
    assert emails(page(gql, groups=["staff"], dir="ASC")) == ["user-001@example.com", "user-002@example.com"]
    assert emails(page(gql, roles=["viewer"], groups=["staff"])) == ["user-001@example.com"]
    assert page(gql, roles=["nope"])["totalCount"] == 0


@pytest.mark.embedded
def test_get_user_by_login_id(gql, svc):
    user = make_user(svc, email="Someone@Example.com")
    query = "query($k: String!, $v: String!) { getUserByLoginID(loginIDKey: $k, loginIDValue: $v) { id } }"
    assert ok(gql(query, k="email", v="someone@example.COM"))["getUserByLoginID"] == {"id": gid("User", user.id)}
    assert ok(gql(query, k="email", v="other@example.com"))["getUserByLoginID"] is None
    # Authgear's Invalid/GetUsersInvalidArgument for a value or key that cannot name a login ID.
    assert error_of(gql(query, k="email", v="not an email"))["reason"] == "GetUsersInvalidArgument"
    assert error_of(gql(query, k="nosuchkey", v="x"))["reason"] == "GetUsersInvalidArgument"


def test_get_users_by_standard_attribute(gql, svc):
    a = make_user(svc, email="same@example.com")
    make_user(svc, email="different@example.com")
    query = """query($n: String!, $v: String!) {
        getUsersByStandardAttribute(attributeName: $n, attributeValue: $v) { id standardAttributes } }"""
    found = ok(gql(query, n="email", v="same@example.com"))["getUsersByStandardAttribute"]
    assert [u["id"] for u in found] == [gid("User", a.id)]
    assert found[0]["standardAttributes"]["email"] == "same@example.com"
    assert ok(gql(query, n="preferred_username", v="nobody"))["getUsersByStandardAttribute"] == []
    # The value is looked up as a login ID of its type would be stored.
    found = ok(gql(query, n="email", v="Same@Example.COM"))["getUsersByStandardAttribute"]
    assert [u["id"] for u in found] == [gid("User", a.id)]
    assert error_of(gql(query, n="password", v="x"))["reason"] == "GetUsersInvalidArgument"
    assert error_of(gql(query, n="phone_number", v="same@example.com"))["reason"] == "GetUsersInvalidArgument"


@pytest.mark.embedded
def test_node_and_nodes(gql, svc):
    user = make_user(svc)
    identity = svc.users.identities_of(user.id)[0]
    role = svc.roles.create_role("reader")
    db.session.commit()
    query = """query($id: ID!, $ids: [ID!]!) {
      node(id: $id) { __typename id ... on User { endUserAccountID } }
      nodes(ids: $ids) { __typename id ... on Role { key } ... on Identity { type } }
    }"""
    missing_user = gid("User", "00000000-0000-4000-8000-000000000000")
    ids = [gid("Role", role.id), "garbage", gid("Identity", identity.id), missing_user]
    data = ok(gql(query, id=gid("User", user.id), ids=ids))
    email = user.standard_attributes["email"]
    assert data["node"] == {"__typename": "User", "id": gid("User", user.id), "endUserAccountID": email}
    assert data["nodes"] == [
        {"__typename": "Role", "id": gid("Role", role.id), "key": "reader"},
        None,
        {"__typename": "Identity", "id": gid("Identity", identity.id), "type": "LOGIN_ID"},
        None,
    ]


@pytest.mark.parametrize(
    "bad_id",
    [
        "",
        "!!!",
        "VXNlcjo",
        gid("User", "not-a-uuid"),
        gid("Nothing", "00000000-0000-4000-8000-000000000000"),
        gid("AuditLog", 5)[:-1],
        "x" * 5000,
    ],
)
def test_invalid_node_ids_resolve_to_null(gql, bad_id):
    assert ok(gql("query($id: ID!) { node(id: $id) { id } }", id=bad_id))["node"] is None


def test_nodes_takes_at_most_100_ids(gql):
    ext = error_of(gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=["x"] * 101))
    assert ext["reason"] == "ValidationFailed"


CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
USER_FIELDS = """
query($id: ID!) {
  node(id: $id) {
    ... on User {
      id createdAt updatedAt lastLoginAt isAnonymous isDisabled disableReason isDeactivated isAnonymized
      deleteAt deleteReason anonymizeAt temporarilyDisabledFrom temporarilyDisabledUntil accountValidFrom
      accountValidUntil mfaGracePeriodEndAt standardAttributes customAttributes web3 formattedName
      endUserAccountID verifiedClaims { name value }
      accountLockout { isLocked lockoutType lockedUntil lockedIPs { ipAddress lockedUntil } }
      identities { totalCount edges { node { id type claims } } }
      phoneIDs: identities(identityType: LOGIN_ID, first: 1) {
        totalCount edges { node { claims(names: ["phone_number"]) } }
      }
      loginIDs { id } oauthConnections { id } passkeys { id } biometricRegistrations { id }
      authenticators { totalCount edges { node { type kind isDefault expireAfter claims } } }
      secondaries: authenticators(authenticatorKind: SECONDARY) { totalCount }
      primaryPassword { id type kind } secondaryPassword { id }
      primaryOOBOTPEmailAuthenticator { id } primaryOOBOTPSMSAuthenticator { id }
      secondaryOOBOTPEmailAuthenticators { claims } secondaryOOBOTPSMSAuthenticators { id }
      secondaryTOTPAuthenticators { id }
      sessions { totalCount edges { node { id type displayName createdByIP lastAccessedByIP amr } } }
      authorizations { totalCount }
      roles { totalCount } groups { totalCount } effectiveRoles { totalCount }
    }
  }
}
"""


@pytest.mark.embedded
def test_user_fields(gql, svc):
    from app.context import RequestContext

    user = svc.users.create_user(
        [("email", "fields@example.com"), ("phone", "+447911123456")],
        standard_attributes={"given_name": "Ada", "family_name": "Lovelace"},
    )
    svc.passwords.create(user.id, "correct horse battery")
    svc.accounts.create_oob_authenticator(user, "secondary", "email", "second@example.com")
    svc.users.mark_verified(user.id, "email", "fields@example.com")
    svc.sessions.create(user.id, ["pwd"], RequestContext(ip="192.0.2.7", user_agent=CHROME_MAC))
    db.session.commit()
    u = ok(gql(USER_FIELDS, id=gid("User", user.id)))["node"]
    assert u["id"] == gid("User", user.id)
    assert u["createdAt"].endswith("Z") and u["lastLoginAt"] is None
    assert (u["isAnonymous"], u["isDisabled"], u["isDeactivated"], u["isAnonymized"]) == (False, False, False, False)
    assert u["formattedName"] == "Ada Lovelace"
    assert u["endUserAccountID"] == "fields@example.com"
    assert u["standardAttributes"]["phone_number"] == "+447911123456"
    assert u["customAttributes"] == {} and u["web3"] == {}
    assert u["verifiedClaims"] == [{"name": "email", "value": "fields@example.com"}]
    assert u["accountLockout"] == {"isLocked": False, "lockoutType": "per_user", "lockedUntil": None, "lockedIPs": []}
    assert u["identities"]["totalCount"] == 2
    claims = u["identities"]["edges"][0]["node"]["claims"]
    assert claims["email"] == "fields@example.com"
    assert claims["https://authgear.com/claims/login_id/key"] == "email"
    assert u["phoneIDs"] == {"totalCount": 2, "edges": [{"node": {"claims": {}}}]}
    assert len(u["loginIDs"]) == 2 and u["oauthConnections"] == [] and u["passkeys"] == []
    assert u["authenticators"]["totalCount"] == 2 and u["secondaries"]["totalCount"] == 1
    assert u["primaryPassword"]["type"] == "PASSWORD" and u["primaryPassword"]["kind"] == "PRIMARY"
    assert u["secondaryPassword"] is None
    assert u["secondaryOOBOTPEmailAuthenticators"] == [
        {"claims": {"https://authgear.com/claims/oob_otp/email": "second@example.com"}}
    ]
    session = u["sessions"]["edges"][0]["node"]
    assert session["type"] == "IDP" and session["displayName"] == "Chrome 120 on macOS"
    assert session["createdByIP"] == "192.0.2.7" and session["amr"] == ["pwd"]
    assert u["authorizations"]["totalCount"] == 0
    # no password hash, no secrets anywhere in the answer
    assert "argon2" not in str(u)
    assert db.session.query(IdPSession).count() == 1


@pytest.mark.embedded
def test_total_count_follows_creations_and_deletions(gql, svc):
    """The unfiltered totalCount is kept by triggers (migration 0009), not counted: it follows users
    created one by one, many in one statement, and deleted, and equals a count of the table."""
    users = make_users(svc, 5)
    assert page(gql, first=1)["totalCount"] == 5
    for user in users[:2]:
        ok(gql("mutation($id: ID!) { deleteUser(input: {userID: $id}) { deletedUserID } }", id=gid("User", user.id)))
    now = svc.clock()
    db.session.execute(
        User.__table__.insert(),
        [
            {
                "id": f"bulk-{i}",
                "created_at": now,
                "updated_at": now,
                "standard_attributes": {},
                "custom_attributes": {},
            }
            for i in range(7)
        ],
    )
    db.session.commit()
    assert page(gql, first=1)["totalCount"] == 10 == db.session.scalar(select(func.count()).select_from(User))
    assert page(gql, first=1, kw="user-00")["totalCount"] == 3  # filtered: counted with the page

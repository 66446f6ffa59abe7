"""The `User` type and the user queries: `users`, `getUserByLoginID`, `getUserByOAuth`,
`getUsersByStandardAttribute`."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLResolveInfo
from sqlalchemy import ColumnElement, Select, func, or_, select

from app.admin import loaders
from app.admin.ids import to_global_id
from app.admin.pagination import Connection, PageArgs, list_connection
from app.admin.resolvers.common import context, related_connection, selects_field
from app.errors import Invalid, ValidationFailed
from app.extensions import db
from app.identities.account import outside_valid_period
from app.identities.models import Identity, User, UserCountShard
from app.identities.normalize import normalize
from app.roles.models import Group, Role, user_groups, user_roles
from app.roles.service import escape_like
from app.sso.errors import OAuthProviderNotFound

query = QueryType()
user_type = ObjectType("User")

SEARCHED_NAME_ATTRIBUTES = ("name", "given_name", "family_name", "nickname")
# The standard attributes users can be looked up by, and the login ID type of their values.
STANDARD_ATTRIBUTE_LOOKUPS = {"email": "email", "phone_number": "phone", "preferred_username": "username"}
MAX_KEYWORD_LENGTH = 400
MAX_LOOKUP_RESULTS = 100


# -- queries --------------------------------------------------------------------------------------
def search_filters(keyword: str | None, role_keys: list[str] | None, group_keys: list[str] | None) -> list[Any]:
    """WHERE clauses of the user list: a keyword over login IDs (email, phone, username), OAuth
    subject IDs, names and the user ID; users holding any of the roles; in any of the groups."""
    clauses: list[ColumnElement[bool]] = []
    keyword = (keyword or "").strip()
    if keyword:
        if len(keyword) > MAX_KEYWORD_LENGTH:
            raise ValidationFailed(
                [{"location": "/searchKeyword", "kind": "maxLength", "details": {"expected": MAX_KEYWORD_LENGTH}}],
                "searchKeyword is too long",
            )
        pattern = "%" + escape_like(keyword.lower()) + "%"
        # Login IDs are stored normalized (lower case unless a key is case-sensitive), so comparing
        # without lower() saves a function call per row; the keyword as typed covers the rest.
        login_id_matches = [Identity.login_id.like(pattern, escape="\\")]
        if keyword != keyword.lower():
            login_id_matches.append(Identity.login_id.like("%" + escape_like(keyword) + "%", escape="\\"))
        matching_identities = select(Identity.user_id).where(
            or_(*login_id_matches, Identity.provider_subject_id == keyword)
        )
        names = [
            func.lower(User.standard_attributes[attr].as_string()).like(pattern, escape="\\")
            for attr in SEARCHED_NAME_ATTRIBUTES
        ]
        clauses.append(or_(User.id == keyword, User.id.in_(matching_identities), *names))
    if role_keys:
        holders = select(user_roles.c.user_id).join(Role, Role.id == user_roles.c.role_id)
        clauses.append(User.id.in_(holders.where(Role.key.in_(role_keys))))
    if group_keys:
        members = select(user_groups.c.user_id).join(Group, Group.id == user_groups.c.group_id)
        clauses.append(User.id.in_(members.where(Group.key.in_(group_keys))))
    return clauses


def sorted_users(clauses: list[Any], sort_by: str | None, direction: str | None) -> Select[tuple[User]]:
    if sort_by == "last_login_at":
        column = User.last_login_at
        if direction == "asc":
            order = (column.asc().nulls_first(), User.id.asc())
        else:
            order = (column.desc().nulls_last(), User.id.desc())
    else:
        # created_at is NOT NULL: a NULLS FIRST/LAST clause would change nothing but keep PostgreSQL
        # from walking ix_users_created_at (a top-N sort of the whole table instead, ~40 ms at 100k).
        if direction == "asc":
            order = (User.created_at.asc(), User.id.asc())
        else:
            order = (User.created_at.desc(), User.id.desc())
    return select(User).where(*clauses).order_by(*order)


@query.field("users")
def resolve_users(_: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
    ctx = context(info)
    clauses = search_filters(args.get("searchKeyword"), args.get("roleKeys"), args.get("groupKeys"))
    stmt = sorted_users(clauses, args.get("sortBy"), args.get("sortDirection"))
    # A filtered list scans the table anyway: `count(*) OVER ()` gets totalCount from that same scan
    # instead of a second one. (Unfiltered, the page is an index scan and the count is separate.)
    count_in_page = bool(clauses) and selects_field(info, "totalCount")

    def fetch(offset: int, limit: int) -> list[User]:
        if not count_in_page:
            return loaders.see_users(ctx, db.session.scalars(stmt.offset(offset).limit(limit)))
        rows = db.session.execute(stmt.add_columns(func.count().over()).offset(offset).limit(limit)).all()
        if rows:
            connection.known_total(rows[0][1])
        return loaders.see_users(ctx, (row[0] for row in rows))

    def count() -> int:
        if not clauses:
            return UserCountShard.total()
        return db.session.scalar(select(func.count()).select_from(User).where(*clauses)) or 0

    connection = Connection(PageArgs.parse(args), fetch, count, total_with_page=count_in_page)
    return connection


def _invalid_argument(message: str) -> Invalid:
    """Authgear's `Invalid/GetUsersInvalidArgument` of the user lookups."""
    return Invalid("GetUsersInvalidArgument", message)


@query.field("getUserByLoginID")
def resolve_user_by_login_id(_: Any, info: GraphQLResolveInfo, loginIDKey: str, loginIDValue: str) -> User | None:  # noqa: N803
    users = context(info).services.users
    if not any(spec.key == loginIDKey for spec in users.login_id_specs()):
        raise _invalid_argument("invalid Login ID key")
    try:
        identity = users.find_identity(loginIDKey, loginIDValue)
    except ValidationFailed:
        raise _invalid_argument("invalid Login ID value") from None
    return db.session.get(User, identity.user_id) if identity is not None else None


@query.field("getUserByOAuth")
def resolve_user_by_oauth(
    _: Any, info: GraphQLResolveInfo, oauthProviderAlias: str, oauthProviderUserID: str
) -> User | None:  # noqa: N803, E501
    try:
        context(info).services.sso.provider_config(oauthProviderAlias)
    except OAuthProviderNotFound:
        raise _invalid_argument("invalid OAuth provider alias") from None
    stmt = select(Identity.user_id).where(
        Identity.type == "oauth",
        Identity.provider_alias == oauthProviderAlias,
        Identity.provider_subject_id == oauthProviderUserID,
    )
    user_id = db.session.scalar(stmt.limit(1))
    return db.session.get(User, user_id) if user_id is not None else None


@query.field("getUsersByStandardAttribute")
def resolve_users_by_standard_attribute(
    _: Any,
    info: GraphQLResolveInfo,
    attributeName: str,  # noqa: N803
    attributeValue: str,  # noqa: N803
) -> list[User]:
    login_id_type = STANDARD_ATTRIBUTE_LOOKUPS.get(attributeName)
    if login_id_type is None:
        raise _invalid_argument("attributeName must be email, phone_number or preferred_username")
    users = context(info).services.users
    # The value as a login ID of that type would be stored (Authgear normalizes it first).
    rules = users.phone_input if login_id_type == "phone" else users.login_id_config["types"].get(login_id_type, {})
    try:
        value = normalize(login_id_type, attributeValue, rules, MAX_KEYWORD_LENGTH).value
    except ValidationFailed:
        raise _invalid_argument("invalid attributeValue") from None
    stmt = (
        select(User)
        .where(User.standard_attributes[attributeName].as_string() == value)
        .order_by(User.created_at, User.id)
        .limit(MAX_LOOKUP_RESULTS)
    )
    return loaders.see_users(context(info), db.session.scalars(stmt))


# -- the User type --------------------------------------------------------------------------------
for _field, _attr in {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "lastLoginAt": "last_login_at",
    "disableReason": "disable_reason",
    "isDeactivated": "is_deactivated",
    "isAnonymized": "is_anonymized",
    "deleteAt": "delete_at",
    "anonymizeAt": "anonymize_at",
    "accountValidFrom": "account_valid_from",
    "accountValidUntil": "account_valid_until",
    "customAttributes": "custom_attributes",
}.items():
    user_type.set_alias(_field, _attr)


@user_type.field("id")
def resolve_id(user: User, _: GraphQLResolveInfo) -> str:
    return to_global_id("User", user.id)


@user_type.field("isDisabled")
def resolve_is_disabled(user: User, info: GraphQLResolveInfo) -> bool:
    # Authgear's isDisabled is "may not sign in now": a valid period that has not begun or has
    # ended disables the user without a stored change, and anonymized users count as disabled.
    return bool(user.is_disabled or user.is_anonymized or outside_valid_period(user, context(info).services.clock()))


@user_type.field("deleteReason")
def resolve_delete_reason(user: User, _: GraphQLResolveInfo) -> str | None:
    # Scheduling a deletion disables the account with the reason given (one column holds both).
    return user.disable_reason if user.delete_at is not None else None


@user_type.field("temporarilyDisabledFrom")
@user_type.field("temporarilyDisabledUntil")
def resolve_unsupported_time(*_: Any) -> None:
    return None


@user_type.field("web3")
def resolve_web3(*_: Any) -> dict[str, Any]:
    return {}


@user_type.field("formattedName")
def resolve_formatted_name(user: User, _: GraphQLResolveInfo) -> str | None:
    attrs = user.standard_attributes or {}
    if attrs.get("name"):
        return attrs["name"]
    parts = [attrs.get(k) for k in ("given_name", "middle_name", "family_name") if attrs.get(k)]
    if parts:
        return " ".join(parts)
    return attrs.get("nickname") or None


@user_type.field("endUserAccountID")
def resolve_end_user_account_id(user: User, _: GraphQLResolveInfo) -> str | None:
    attrs = user.standard_attributes or {}
    for key in ("email", "preferred_username", "phone_number"):
        if attrs.get(key):
            return attrs[key]
    return None


@user_type.field("isAnonymous")
def resolve_is_anonymous(user: User, info: GraphQLResolveInfo) -> bool:
    return any(i.type == "anonymous" for i in loaders.identities(context(info), user.id))


@user_type.field("standardAttributes")
def resolve_standard_attributes(user: User, info: GraphQLResolveInfo) -> dict[str, Any]:
    """Authgear's User.StandardAttributes: the stored attributes, `email_verified` and
    `phone_number_verified` beside the address they speak of, and `updated_at` (Unix seconds)."""
    attrs = dict(user.standard_attributes or {})
    verified = {(c.name, c.value) for c in loaders.verified_claims(context(info), user.id)}
    for claim in ("email", "phone_number"):
        if claim in attrs:
            attrs[f"{claim}_verified"] = (claim, attrs[claim]) in verified
    attrs["updated_at"] = int(user.updated_at.timestamp())
    return attrs


@user_type.field("verifiedClaims")
def resolve_verified_claims(user: User, info: GraphQLResolveInfo) -> list[dict[str, str]]:
    return [{"name": c.name, "value": c.value} for c in loaders.verified_claims(context(info), user.id)]


@user_type.field("accountLockout")
def resolve_account_lockout(user: User, info: GraphQLResolveInfo) -> dict[str, Any]:
    """A per-user lock from the lockout service. Per-IP locks are keyed by IP, which the store
    cannot list, so they are not shown (lockedIPs stays empty)."""
    lockout = context(info).services.lockout
    until = None if lockout.per_ip else lockout.locked_until(user.id, "")
    return {
        "isLocked": until is not None,
        "lockoutType": "per_user_per_ip" if lockout.per_ip else "per_user",
        "lockedUntil": until,
        "lockedIPs": [],
    }


# identities
def _identities(info: GraphQLResolveInfo, user: User, type_: str | None = None) -> list[Identity]:
    items = loaders.identities(context(info), user.id)
    return [i for i in items if i.type == type_] if type_ else items


@user_type.field("identities")
def resolve_identities(
    user: User, info: GraphQLResolveInfo, identityType: str | None = None, **args: Any
) -> Connection:  # noqa: N803, E501
    return list_connection(_identities(info, user, identityType), args)


@user_type.field("loginIDs")
def resolve_login_ids(user: User, info: GraphQLResolveInfo) -> list[Identity]:
    return _identities(info, user, "login_id")


@user_type.field("oauthConnections")
def resolve_oauth_connections(user: User, info: GraphQLResolveInfo) -> list[Identity]:
    return _identities(info, user, "oauth")


@user_type.field("passkeys")
def resolve_passkeys(user: User, info: GraphQLResolveInfo) -> list[Identity]:
    return _identities(info, user, "passkey")


@user_type.field("biometricRegistrations")
def resolve_biometric(user: User, info: GraphQLResolveInfo) -> list[Identity]:
    return _identities(info, user, "biometric")


# authenticators
def _authenticators(info: GraphQLResolveInfo, user: User, type_: str | None, kind: str | None) -> list[Any]:
    return [
        a
        for a in loaders.authenticators(context(info), user.id)
        if (type_ is None or a.type == type_) and (kind is None or a.kind == kind)
    ]


@user_type.field("authenticators")
def resolve_authenticators(
    user: User,
    info: GraphQLResolveInfo,
    authenticatorType: str | None = None,  # noqa: N803
    authenticatorKind: str | None = None,  # noqa: N803
    **args: Any,
) -> Connection:
    return list_connection(_authenticators(info, user, authenticatorType, authenticatorKind), args)


def _one(type_: str, kind: str) -> Any:
    def resolve(user: User, info: GraphQLResolveInfo) -> Any:
        found = _authenticators(info, user, type_, kind)
        return found[0] if found else None

    return resolve


def _all(type_: str, kind: str) -> Any:
    def resolve(user: User, info: GraphQLResolveInfo) -> list[Any]:
        return _authenticators(info, user, type_, kind)

    return resolve


user_type.set_field("primaryPassword", _one("password", "primary"))
user_type.set_field("secondaryPassword", _one("password", "secondary"))
user_type.set_field("primaryOOBOTPEmailAuthenticator", _one("oob_otp_email", "primary"))
user_type.set_field("primaryOOBOTPSMSAuthenticator", _one("oob_otp_sms", "primary"))
user_type.set_field("secondaryOOBOTPEmailAuthenticators", _all("oob_otp_email", "secondary"))
user_type.set_field("secondaryOOBOTPSMSAuthenticators", _all("oob_otp_sms", "secondary"))
user_type.set_field("secondaryTOTPAuthenticators", _all("totp", "secondary"))


# sessions, authorizations, roles, groups
user_type.set_field("sessions", related_connection(loaders.sessions))
user_type.set_field("authorizations", related_connection(loaders.authorizations))
user_type.set_field("roles", related_connection(loaders.roles_of_user))
user_type.set_field("groups", related_connection(loaders.groups_of_user))
user_type.set_field("effectiveRoles", related_connection(loaders.effective_roles))


BINDABLES = [query, user_type]

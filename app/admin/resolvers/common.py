"""Scalars, enums, the Node and Entity interfaces, and helpers shared by the resolvers."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ariadne import EnumType, InterfaceType, ScalarType
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
    value_from_ast_untyped,
)

from app.admin.context import AdminContext
from app.admin.pagination import Connection, list_connection
from app.audit import AuditLog
from app.authenticators.models import Authenticator
from app.identities.models import Identity, User
from app.resources.models import Resource, Scope
from app.roles.models import Group, Role
from app.sessions.models import IdPSession, OAuthAuthorization, OfflineGrant

# -- scalars ------------------------------------------------------------------------------------
datetime_scalar = ScalarType("DateTime")


@datetime_scalar.serializer
def serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@datetime_scalar.value_parser
def parse_datetime(value: Any) -> datetime:
    """RFC 3339 with a zone (`Z` or an offset); anything else is a bad request."""
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("DateTime must be an RFC 3339 string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("DateTime must carry a time zone")
    return parsed.astimezone(UTC)


def _json_scalar(name: str) -> ScalarType:
    scalar = ScalarType(name)

    @scalar.literal_parser
    def _literal(ast: Any, variables: dict[str, Any] | None = None) -> Any:
        return value_from_ast_untyped(ast, variables)

    return scalar


JSON_SCALARS = [
    _json_scalar(n)
    for n in (
        "UserStandardAttributes",
        "UserCustomAttributes",
        "IdentityClaims",
        "AuthenticatorClaims",
        "AuditLogData",
        "Web3Claims",
        "FraudProtectionDecisionRecordData",
    )
]

# -- enums: GraphQL value -> what the database stores --------------------------------------------
ENUMS = [
    EnumType(
        "IdentityType",
        {
            "LOGIN_ID": "login_id",
            "OAUTH": "oauth",
            "ANONYMOUS": "anonymous",
            "BIOMETRIC": "biometric",
            "PASSKEY": "passkey",
            "SIWE": "siwe",
            "LDAP": "ldap",
        },
    ),
    EnumType(
        "AuthenticatorType",
        {
            "PASSWORD": "password",
            "OOB_OTP_EMAIL": "oob_otp_email",
            "OOB_OTP_SMS": "oob_otp_sms",
            "TOTP": "totp",
            "PASSKEY": "passkey",
        },
    ),
    EnumType("AuthenticatorKind", {"PRIMARY": "primary", "SECONDARY": "secondary"}),
    EnumType("SessionType", {"IDP": "idp", "OFFLINE_GRANT": "offline_grant"}),
    EnumType("SortDirection", {"ASC": "asc", "DESC": "desc"}),
    EnumType("UserSortBy", {"CREATED_AT": "created_at", "LAST_LOGIN_AT": "last_login_at"}),
    EnumType("OTPPurpose", {"LOGIN": "login", "VERIFICATION": "verification"}),
]

# -- interfaces ---------------------------------------------------------------------------------
TYPE_NAMES: dict[type, str] = {
    User: "User",
    Identity: "Identity",
    Authenticator: "Authenticator",
    IdPSession: "Session",
    OfflineGrant: "Session",
    OAuthAuthorization: "Authorization",
    Role: "Role",
    Group: "Group",
    AuditLog: "AuditLog",
    Resource: "Resource",
    Scope: "Scope",
}

node_interface = InterfaceType("Node")
entity_interface = InterfaceType("Entity")


@node_interface.type_resolver
@entity_interface.type_resolver
def resolve_type(obj: Any, *_: Any) -> str | None:
    return TYPE_NAMES.get(type(obj))


# -- helpers ------------------------------------------------------------------------------------
def context(info: GraphQLResolveInfo) -> AdminContext:
    return info.context


def related_connection(load: Callable[[AdminContext, str], list[Any]]) -> Callable[..., Connection]:
    """The resolver of a connection field listing the parent's related objects: `load` (a batch
    loader) fetches them by the parent's ID, the field's arguments page them."""

    def resolve(parent: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
        return list_connection(load(context(info), parent.id), args)

    return resolve


def pick(claims: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    """Claims filtered to `names` when given (the `claims(names:)` argument)."""
    if names is None:
        return claims
    return {k: v for k, v in claims.items() if k in names}


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(name: str) -> str:
    """`addRoleToUsers` -> `add_role_to_users` (for the audit activity type of a mutation)."""
    return _CAMEL.sub("_", name).lower()


def selects_field(info: GraphQLResolveInfo, name: str) -> bool:
    """Whether the current field's selection asks for `name` (directly or through fragments)."""

    def search(selection_set: SelectionSetNode | None) -> bool:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode) and selection.name.value == name:
                return True
            if isinstance(selection, InlineFragmentNode) and search(selection.selection_set):
                return True
            if isinstance(selection, FragmentSpreadNode):
                fragment = info.fragments.get(selection.name.value)
                if fragment is not None and search(fragment.selection_set):
                    return True
        return False

    return any(search(node.selection_set) for node in info.field_nodes)

"""The `AuditLog` type, the `auditLogs` query and the activity type enum.

The database stores Authgear's event names (`user.created`,
`admin_api.mutation.create_user.executed`); the GraphQL enum spells them in upper snake case.
Entries whose type the enum does not know are left out of the list rather than failing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ariadne import EnumType, ObjectType, QueryType
from graphql import GraphQLResolveInfo, build_schema
from sqlalchemy import func, or_, select

from app.admin import loaders
from app.admin.ids import audit_log_global_id, decode_ids
from app.admin.pagination import Connection, PageArgs
from app.admin.resolvers.common import context
from app.audit import AuditLog
from app.errors import ValidationFailed
from app.extensions import db
from app.identities.models import Identity, User

query = QueryType()
audit_log_type = ObjectType("AuditLog")

# Words that stay joined by `_` inside one segment of an event name.
_COMPOUNDS = (
    ("oob", "otp", "email"),
    ("oob", "otp", "sms"),
    ("login", "id"),
    ("recovery", "code"),
    ("bot", "protection"),
    ("fraud", "protection"),
    ("rate", "limit"),
    ("signed", "out"),
    ("admin", "api"),
)
MAX_FILTER_VALUES = 100


def stored_activity_type(enum_value: str) -> str:
    """`IDENTITY_LOGIN_ID_ADDED` -> `identity.login_id.added`."""
    if enum_value.startswith("ADMIN_API_MUTATION_") and enum_value.endswith("_EXECUTED"):
        name = enum_value[len("ADMIN_API_MUTATION_") : -len("_EXECUTED")].lower()
        return f"admin_api.mutation.{name}.executed"
    words = enum_value.lower().split("_")
    segments: list[str] = []
    i = 0
    while i < len(words):
        for compound in _COMPOUNDS:
            if tuple(words[i : i + len(compound)]) == compound:
                segments.append("_".join(compound))
                i += len(compound)
                break
        else:
            segments.append(words[i])
            i += 1
    return ".".join(segments)


def _enum_values() -> list[str]:
    sdl = (Path(__file__).resolve().parent.parent / "schema.graphql").read_text(encoding="utf-8")
    enum = build_schema(sdl).get_type("AuditLogActivityType")
    return list(enum.values)  # type: ignore[union-attr]


ACTIVITY_TYPES: dict[str, str] = {value: stored_activity_type(value) for value in _enum_values()}
KNOWN_STORED_TYPES = frozenset(ACTIVITY_TYPES.values())
activity_type_enum = EnumType("AuditLogActivityType", ACTIVITY_TYPES)


def _too_many(location: str) -> ValidationFailed:
    return ValidationFailed(
        [{"location": location, "kind": "maxItems", "details": {"expected": MAX_FILTER_VALUES}}],
        f"{location[1:]} has more than {MAX_FILTER_VALUES} values",
    )


@query.field("auditLogs")
def resolve_audit_logs(_: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
    ctx = context(info)
    for name in ("activityTypes", "userIDs", "emailAddresses", "phoneNumbers"):
        if len(args.get(name) or []) > MAX_FILTER_VALUES:
            raise _too_many(f"/{name}")
    types = args.get("activityTypes")
    clauses: list[Any] = [AuditLog.activity_type.in_(list(types) if types else sorted(KNOWN_STORED_TYPES))]
    if args.get("userIDs"):  # an empty list filters nothing, like an empty activityTypes
        clauses.append(AuditLog.user_id.in_(decode_ids(args["userIDs"], "User")))
    targets = [*(args.get("emailAddresses") or []), *(args.get("phoneNumbers") or [])]
    if targets:
        lowered = [t.strip().lower() for t in targets]
        owners = select(Identity.user_id).where(func.lower(Identity.login_id).in_(lowered))
        by_attribute = select(User.id).where(
            or_(
                func.lower(User.standard_attributes["email"].as_string()).in_(lowered),
                User.standard_attributes["phone_number"].as_string().in_(lowered),
            )
        )
        clauses.append(or_(AuditLog.user_id.in_(owners), AuditLog.user_id.in_(by_attribute)))
    if args.get("rangeFrom") is not None:
        clauses.append(AuditLog.created_at >= args["rangeFrom"])
    if args.get("rangeTo") is not None:
        clauses.append(AuditLog.created_at < args["rangeTo"])
    if args.get("sortDirection") == "asc":
        order = (AuditLog.created_at.asc(), AuditLog.id.asc())
    else:
        order = (AuditLog.created_at.desc(), AuditLog.id.desc())
    stmt = select(AuditLog).where(*clauses).order_by(*order)

    def fetch(offset: int, limit: int) -> list[AuditLog]:
        rows = list(db.session.scalars(stmt.offset(offset).limit(limit)))
        ctx.see(loaders.USER_REF, (r.user_id for r in rows if r.user_id))
        return rows

    def count() -> int:
        return db.session.scalar(select(func.count()).select_from(AuditLog).where(*clauses)) or 0

    return Connection(PageArgs.parse(args), fetch, count)


@audit_log_type.field("id")
def resolve_id(row: AuditLog, _: GraphQLResolveInfo) -> str:
    return audit_log_global_id(row.id)


@audit_log_type.field("user")
def resolve_user(row: AuditLog, info: GraphQLResolveInfo) -> User | None:
    return loaders.user_by_id(context(info), row.user_id) if row.user_id else None


for _field, _attr in {
    "createdAt": "created_at",
    "activityType": "activity_type",
    "ipAddress": "ip_address",
    "userAgent": "user_agent",
    "clientID": "client_id",
}.items():
    audit_log_type.set_alias(_field, _attr)

BINDABLES = [query, audit_log_type, activity_type_enum]

"""The `Session` (IdP session or offline grant) and `Authorization` types; revokeSession,
revokeAllSessions, deleteAuthorization."""

from __future__ import annotations

import re
from typing import Any

from ariadne import ObjectType
from graphql import GraphQLResolveInfo

from app.admin.context import AdminContext
from app.admin.ids import decode_id, to_global_id
from app.admin.resolvers.common import context
from app.admin.resolvers.mutation import admin_mutation, user_payload
from app.extensions import db
from app.identities.account import AuthorizationNotFound
from app.sessions.models import IdPSession, OAuthAuthorization, OfflineGrant

session_type = ObjectType("Session")
authorization_type = ObjectType("Authorization")

_BROWSERS = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"OPR/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("Linux", re.compile(r"Linux")),
)


def device_name(user_agent: str | None) -> str:
    """`Chrome 120 on macOS` from a user agent; the raw text (shortened) when unrecognized."""
    if not user_agent:
        return ""
    browser = next((f"{name} {m.group(1)}" for name, rx in _BROWSERS if (m := rx.search(user_agent))), None)
    system = next((name for name, rx in _SYSTEMS if rx.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:100]


@session_type.field("id")
def resolve_session_id(s: IdPSession | OfflineGrant, _: GraphQLResolveInfo) -> str:
    return to_global_id("Session", s.id)


@session_type.field("type")
def resolve_session_type(s: IdPSession | OfflineGrant, _: GraphQLResolveInfo) -> str:
    return "offline_grant" if isinstance(s, OfflineGrant) else "idp"


@session_type.field("clientID")
def resolve_client_id(s: IdPSession | OfflineGrant, _: GraphQLResolveInfo) -> str | None:
    return s.client_id if isinstance(s, OfflineGrant) else None


@session_type.field("applicationName")
def resolve_application_name(s: IdPSession | OfflineGrant, info: GraphQLResolveInfo) -> str | None:
    if not isinstance(s, OfflineGrant):
        return None
    client = context(info).services.config.client(s.client_id)
    return (client.get("client_name") or client.get("name")) if client else None


@session_type.field("displayName")
def resolve_display_name(s: IdPSession | OfflineGrant, _: GraphQLResolveInfo) -> str:
    return device_name(s.last_access_user_agent or s.created_user_agent)


@session_type.field("userAgent")
def resolve_user_agent(s: IdPSession | OfflineGrant, _: GraphQLResolveInfo) -> str | None:
    return s.last_access_user_agent or s.created_user_agent


@session_type.field("createdByIP")
def resolve_created_by_ip(s: IdPSession | OfflineGrant, _: GraphQLResolveInfo) -> str:
    return s.created_ip or ""


@session_type.field("lastAccessedByIP")
def resolve_last_accessed_by_ip(s: IdPSession | OfflineGrant, _: GraphQLResolveInfo) -> str:
    return s.last_access_ip or s.created_ip or ""


@session_type.field("lastAccessedByIPCountryCode")
@session_type.field("lastAccessedByIPEnglishCountryName")
def resolve_no_geolocation(*_: Any) -> str:
    return ""


session_type.set_alias("createdAt", "created_at")
session_type.set_alias("updatedAt", "last_access_at")
session_type.set_alias("lastAccessedAt", "last_access_at")


@authorization_type.field("id")
def resolve_authorization_id(a: OAuthAuthorization, _: GraphQLResolveInfo) -> str:
    return to_global_id("Authorization", a.id)


authorization_type.set_alias("createdAt", "created_at")
authorization_type.set_alias("updatedAt", "updated_at")
authorization_type.set_alias("clientID", "client_id")


# -- mutations ------------------------------------------------------------------------------------
@admin_mutation("revokeSession")
def revoke_session(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user_id = ctx.services.accounts.revoke_session(decode_id(input["sessionID"], "Session"), ctx.request)
    return user_payload(ctx.services.users.get(user_id))


@admin_mutation("revokeAllSessions")
def revoke_all_sessions(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = ctx.services.users.get(decode_id(input["userID"], "User"))
    return user_payload(ctx.services.accounts.revoke_all_sessions(user, ctx.request))


@admin_mutation("deleteAuthorization")
def delete_authorization(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    authz = db.session.get(OAuthAuthorization, decode_id(input["authorizationID"], "Authorization"))
    if authz is None:
        raise AuthorizationNotFound()
    user_id = ctx.services.accounts.delete_authorization(authz, ctx.request)
    return user_payload(ctx.services.users.get(user_id))


BINDABLES = [session_type, authorization_type]

"""`node` and `nodes`: any object by its global ID (null for malformed or unknown IDs)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ariadne import QueryType
from graphql import GraphQLResolveInfo
from sqlalchemy import select

from app.admin import loaders
from app.admin.ids import from_global_id
from app.admin.resolvers.common import context
from app.admin.resolvers.resources import RESOURCE
from app.audit import AuditLog
from app.authenticators.models import Authenticator
from app.errors import ValidationFailed
from app.extensions import db
from app.identities.models import Identity, User
from app.resources.models import Resource, Scope
from app.roles.models import Group, Role
from app.sessions.models import IdPSession, OAuthAuthorization, OfflineGrant

query = QueryType()

MAX_NODES = 100
_MODELS: dict[str, tuple[Any, ...]] = {
    "User": (User,),
    "Identity": (Identity,),
    "Authenticator": (Authenticator,),
    "Session": (IdPSession, OfflineGrant),
    "Authorization": (OAuthAuthorization,),
    "Role": (Role,),
    "Group": (Group,),
    "AuditLog": (AuditLog,),
    "Resource": (Resource,),
    "Scope": (Scope,),
}


def _raw(type_name: str, raw: str) -> Any:
    return int(raw, 16) if type_name == "AuditLog" else raw


def fetch_nodes(ids: list[Any]) -> list[Any]:
    """The objects in the order of `ids`; one query per type asked for."""
    parsed = [from_global_id(i) for i in ids]
    wanted: dict[str, set[Any]] = defaultdict(set)
    for p in parsed:
        if p is not None:
            wanted[p[0]].add(_raw(*p))
    found: dict[tuple[str, Any], Any] = {}
    for type_name, raws in wanted.items():
        for model in _MODELS[type_name]:
            for row in db.session.scalars(select(model).where(model.id.in_(raws))):
                found.setdefault((type_name, row.id), row)
    return [found.get((p[0], _raw(*p))) if p is not None else None for p in parsed]


def _see(info: GraphQLResolveInfo, nodes: list[Any]) -> None:
    ctx = context(info)
    loaders.see_users(ctx, [n for n in nodes if isinstance(n, User)])
    loaders.see_roles(ctx, [n for n in nodes if isinstance(n, Role)])
    loaders.see_groups(ctx, [n for n in nodes if isinstance(n, Group)])
    ctx.see(RESOURCE, (n.id for n in nodes if isinstance(n, Resource)))
    ctx.see(loaders.USER_REF, (n.user_id for n in nodes if isinstance(n, AuditLog) and n.user_id))


@query.field("node")
def resolve_node(_: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
    nodes = fetch_nodes([id])
    _see(info, nodes)
    return nodes[0]


@query.field("nodes")
def resolve_nodes(_: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
    if len(ids) > MAX_NODES:
        raise ValidationFailed(
            [{"location": "/ids", "kind": "maxItems", "details": {"expected": MAX_NODES}}],
            f"at most {MAX_NODES} IDs at once",
        )
    nodes = fetch_nodes(ids)
    _see(info, nodes)
    return nodes


BINDABLES = [query]

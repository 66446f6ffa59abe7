"""The `Resource` and `Scope` types, the `resources` query and the mutations of resources, scopes
and their links to clients; thin over app.resources.service."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLResolveInfo
from sqlalchemy import func, select

from app.admin.context import AdminContext
from app.admin.ids import to_global_id
from app.admin.pagination import Connection, PageArgs
from app.admin.resolvers.common import context
from app.admin.resolvers.mutation import admin_mutation
from app.extensions import db
from app.resources.models import Resource, Scope
from app.resources.service import ResourceService

RESOURCE = "Resource"  # the kind of IDs list resolvers record for the clientIDs loader
SCOPE_PAGE_LIMIT = 1000  # Authgear's page size limit of Resource.scopes

query = QueryType()
resource_type = ObjectType("Resource")
scope_type = ObjectType("Scope")

for _t in (resource_type, scope_type):
    _t.set_alias("createdAt", "created_at")
    _t.set_alias("updatedAt", "updated_at")
resource_type.set_alias("resourceURI", "uri")


def service(ctx: AdminContext) -> ResourceService:
    """Built per request: it only needs the project's client IDs and the clock."""
    client_ids = {c["client_id"] for c in ctx.services.config.project["oauth"]["clients"]}
    return ResourceService(client_ids.__contains__, ctx.services.clock)


def _connection(ctx: AdminContext, stmt: Any, order: tuple[Any, ...], args: dict[str, Any], limit: int) -> Connection:
    def fetch(offset: int, size: int) -> list[Any]:
        rows = list(db.session.scalars(stmt.order_by(*order).offset(offset).limit(size)))
        ctx.see(RESOURCE, (r.id for r in rows if isinstance(r, Resource)))
        return rows

    def count() -> int:
        return db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0

    return Connection(PageArgs.parse(args, limit), fetch, count, limit)


@query.field("resources")
def resolve_resources(_: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
    stmt = ResourceService.resources_query(args.get("searchKeyword"), args.get("clientID"))
    return _connection(context(info), stmt, (Resource.created_at.desc(), Resource.id), args, 100)


@resource_type.field("id")
def resolve_resource_id(resource: Resource, _: GraphQLResolveInfo) -> str:
    return to_global_id("Resource", resource.id)


@resource_type.field("clientIDs")
def resolve_client_ids(resource: Resource, info: GraphQLResolveInfo) -> list[str]:
    ctx = context(info)
    loader = ctx.loader("resource_client_ids", RESOURCE, ResourceService.client_ids_of_resources)
    return loader.load(resource.id)


@resource_type.field("scopes")
def resolve_scopes(resource: Resource, info: GraphQLResolveInfo, **args: Any) -> Connection:
    stmt = ResourceService.scopes_query(resource.id, args.get("searchKeyword"), args.get("clientID"))
    return _connection(context(info), stmt, (Scope.scope, Scope.id), args, SCOPE_PAGE_LIMIT)


@scope_type.field("id")
def resolve_scope_id(scope: Scope, _: GraphQLResolveInfo) -> str:
    return to_global_id("Scope", scope.id)


@scope_type.field("resourceID")
def resolve_scope_resource_id(scope: Scope, _: GraphQLResolveInfo) -> str:
    return to_global_id("Resource", scope.resource_id)


# -- mutations ------------------------------------------------------------------------------------
@admin_mutation("createResource")
def create_resource(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    return {"resource": service(ctx).create_resource(input["resourceURI"], input.get("name"))}, None


@admin_mutation("updateResource")
def update_resource(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    return {"resource": service(ctx).update_resource(input["resourceURI"], input.get("name"))}, None


@admin_mutation("deleteResource")
def delete_resource(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    service(ctx).delete_resource(input["resourceURI"])
    return {"ok": True}, None


@admin_mutation("createScope")
def create_scope(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    scope = service(ctx).create_scope(input["resourceURI"], input["scope"], input.get("description"))
    return {"scope": scope}, None


@admin_mutation("updateScope")
def update_scope(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    scope = service(ctx).update_scope(input["resourceURI"], input["scope"], input.get("description"))
    return {"scope": scope}, None


@admin_mutation("deleteScope")
def delete_scope(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    service(ctx).delete_scope(input["resourceURI"], input["scope"])
    return {"ok": True}, None


@admin_mutation("addResourceToClientID", event="add_resource_to_clientid")
def add_resource_to_client_id(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    return {"resource": service(ctx).add_resource_to_client(input["resourceURI"], input["clientID"])}, None


@admin_mutation("removeResourceFromClientID", event="remove_resource_from_clientid")
def remove_resource_from_client_id(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    return {"resource": service(ctx).remove_resource_from_client(input["resourceURI"], input["clientID"])}, None


@admin_mutation("addScopesToClientID", event="add_scopes_to_clientid")
def add_scopes_to_client_id(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    scopes = service(ctx).add_scopes_to_client(input["resourceURI"], input["clientID"], input["scopes"])
    return {"scopes": scopes}, None


@admin_mutation("removeScopesFromClientID", event="remove_scopes_from_clientid")
def remove_scopes_from_client_id(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    scopes = service(ctx).remove_scopes_from_client(input["resourceURI"], input["clientID"], input["scopes"])
    return {"scopes": scopes}, None


@admin_mutation("replaceScopesOfClientID", event="replace_scopes_of_clientid")
def replace_scopes_of_client_id(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    scopes = service(ctx).replace_scopes_of_client(input["resourceURI"], input["clientID"], input["scopes"])
    return {"scopes": scopes}, None


BINDABLES = [query, resource_type, scope_type]

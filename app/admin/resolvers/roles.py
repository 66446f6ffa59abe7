"""The `Role` and `Group` types, the `roles` and `groups` queries, and their mutations."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLResolveInfo
from sqlalchemy import func, select

from app.admin import loaders
from app.admin.context import AdminContext
from app.admin.ids import decode_id, decode_ids, from_global_id, to_global_id
from app.admin.pagination import Connection, PageArgs
from app.admin.resolvers.common import context, related_connection
from app.admin.resolvers.mutation import admin_mutation, user_payload
from app.extensions import db
from app.roles.models import Group, Role
from app.roles.service import RoleService

query = QueryType()
role_type = ObjectType("Role")
group_type = ObjectType("Group")

for _t in (role_type, group_type):
    _t.set_alias("createdAt", "created_at")
    _t.set_alias("updatedAt", "updated_at")


def _list(
    model: type[Role] | type[Group], type_name: str, info: GraphQLResolveInfo, args: dict[str, Any]
) -> Connection:
    ctx = context(info)
    # IDs of other types or malformed ones cannot match anything, so they are simply ignored.
    excluded = [p[1] for p in map(from_global_id, args.get("excludedIDs") or []) if p and p[0] == type_name]
    clauses = RoleService.search_filter(model, args.get("searchKeyword"), excluded)
    stmt = select(model).where(*clauses).order_by(model.created_at, model.id)
    see = loaders.see_roles if model is Role else loaders.see_groups

    def fetch(offset: int, limit: int) -> list[Any]:
        return see(ctx, db.session.scalars(stmt.offset(offset).limit(limit)))

    def count() -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*clauses)) or 0

    return Connection(PageArgs.parse(args), fetch, count)


@query.field("roles")
def resolve_roles(_: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
    return _list(Role, "Role", info, args)


@query.field("groups")
def resolve_groups(_: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
    return _list(Group, "Group", info, args)


@role_type.field("id")
def resolve_role_id(role: Role, _: GraphQLResolveInfo) -> str:
    return to_global_id("Role", role.id)


@group_type.field("id")
def resolve_group_id(group: Group, _: GraphQLResolveInfo) -> str:
    return to_global_id("Group", group.id)


role_type.set_field("groups", related_connection(loaders.groups_of_role))
group_type.set_field("roles", related_connection(loaders.roles_of_group))


def _members(kind: str) -> Any:
    def resolve(parent: Role | Group, info: GraphQLResolveInfo, **args: Any) -> Connection:
        ctx = context(info)
        return Connection(
            PageArgs.parse(args),
            lambda offset, limit: loaders.members_page(ctx, kind, parent.id, offset, limit),
            lambda: loaders.members_count(ctx, kind, parent.id),
        )

    return resolve


role_type.set_field("users", _members(loaders.ROLE))
group_type.set_field("users", _members(loaders.GROUP))


# -- mutations ------------------------------------------------------------------------------------
@admin_mutation("createRole")
def create_role(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    role = ctx.services.roles.create_role(input["key"], input.get("name"), input.get("description"))
    return {"role": role}, None


@admin_mutation("updateRole")
def update_role(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    role = ctx.services.roles.update_role(
        decode_id(input["id"], "Role"), input.get("key"), input.get("name"), input.get("description")
    )
    return {"role": role}, None


@admin_mutation("deleteRole")
def delete_role(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    ctx.services.roles.delete_role(decode_id(input["id"], "Role"))
    return {"ok": True}, None


@admin_mutation("createGroup")
def create_group(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    group = ctx.services.roles.create_group(input["key"], input.get("name"), input.get("description"))
    return {"group": group}, None


@admin_mutation("updateGroup")
def update_group(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    group = ctx.services.roles.update_group(
        decode_id(input["id"], "Group"), input.get("key"), input.get("name"), input.get("description")
    )
    return {"group": group}, None


@admin_mutation("deleteGroup")
def delete_group(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    ctx.services.roles.delete_group(decode_id(input["id"], "Group"))
    return {"ok": True}, None


@admin_mutation("addRoleToUsers")
def add_role_to_users(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    role = ctx.services.roles.add_role_to_users(input["roleKey"], decode_ids(input.get("userIDs"), "User"))
    return {"role": role}, None


@admin_mutation("removeRoleFromUsers")
def remove_role_from_users(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    role = ctx.services.roles.remove_role_from_users(input["roleKey"], decode_ids(input.get("userIDs"), "User"))
    return {"role": role}, None


@admin_mutation("addUserToRoles")
def add_user_to_roles(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = ctx.services.roles.add_user_to_roles(decode_id(input["userID"], "User"), input.get("roleKeys") or [])
    return user_payload(user)


@admin_mutation("removeUserFromRoles")
def remove_user_from_roles(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = ctx.services.roles.remove_user_from_roles(decode_id(input["userID"], "User"), input.get("roleKeys") or [])
    return user_payload(user)


@admin_mutation("addRoleToGroups")
def add_role_to_groups(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    return {"role": ctx.services.roles.add_role_to_groups(input["roleKey"], input["groupKeys"])}, None


@admin_mutation("removeRoleFromGroups")
def remove_role_from_groups(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    return {"role": ctx.services.roles.remove_role_from_groups(input["roleKey"], input["groupKeys"])}, None


@admin_mutation("addGroupToRoles")
def add_group_to_roles(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    return {"group": ctx.services.roles.add_group_to_roles(input["groupKey"], input["roleKeys"])}, None


@admin_mutation("removeGroupFromRoles")
def remove_group_from_roles(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    return {"group": ctx.services.roles.remove_group_from_roles(input["groupKey"], input["roleKeys"])}, None


@admin_mutation("addGroupToUsers")
def add_group_to_users(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    group = ctx.services.roles.add_group_to_users(input["groupKey"], decode_ids(input.get("userIDs"), "User"))
    return {"group": group}, None


@admin_mutation("removeGroupFromUsers")
def remove_group_from_users(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, None]:  # noqa: A002
    group = ctx.services.roles.remove_group_from_users(input["groupKey"], decode_ids(input.get("userIDs"), "User"))
    return {"group": group}, None


@admin_mutation("addUserToGroups")
def add_user_to_groups(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = ctx.services.roles.add_user_to_groups(decode_id(input["userID"], "User"), input.get("groupKeys") or [])
    return user_payload(user)


@admin_mutation("removeUserFromGroups")
def remove_user_from_groups(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    user = ctx.services.roles.remove_user_from_groups(decode_id(input["userID"], "User"), input.get("groupKeys") or [])
    return user_payload(user)


BINDABLES = [query, role_type, group_type]

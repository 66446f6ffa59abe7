"""Batch loaders: each fetches one kind of related rows for many parents in one query.

`AdminContext.loader(name, kind, fn)` keeps one loader per name per request; `kind` names the
parent objects whose IDs list resolvers record with `ctx.see(kind, ids)`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from app.admin.context import AdminContext
from app.authenticators.models import Authenticator
from app.extensions import db
from app.identities.models import Identity, User, VerifiedClaim
from app.roles.models import Group, Role, user_groups, user_roles
from app.sessions.models import IdPSession, OAuthAuthorization, OfflineGrant

USER = "User"
ROLE = "Role"
GROUP = "Group"
USER_REF = "UserRef"  # user IDs that other objects point at (audit log entries)


def _grouped(rows: Iterable[Any], key: str = "user_id") -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        out[getattr(row, key)].append(row)
    return out


def see_users(ctx: AdminContext, users: Iterable[User]) -> list[User]:
    users = list(users)
    ctx.see(USER, (u.id for u in users))
    return users


def see_roles(ctx: AdminContext, roles: Iterable[Role]) -> list[Role]:
    roles = list(roles)
    ctx.see(ROLE, (r.id for r in roles))
    return roles


def see_groups(ctx: AdminContext, groups: Iterable[Group]) -> list[Group]:
    groups = list(groups)
    ctx.see(GROUP, (g.id for g in groups))
    return groups


# -- per user -------------------------------------------------------------------------------------
def _rows_of_user(ctx: AdminContext, name: str, model: Any, user_id: str) -> list[Any]:
    """The user's rows of `model` (which has `user_id`, `created_at` and `id`), oldest first."""

    def fetch(ids: list[str]) -> dict[str, list[Any]]:
        stmt = select(model).where(model.user_id.in_(ids)).order_by(model.created_at, model.id)
        return _grouped(db.session.scalars(stmt))

    return ctx.loader(name, USER, fetch).load(user_id)


def identities(ctx: AdminContext, user_id: str) -> list[Identity]:
    return _rows_of_user(ctx, "identities", Identity, user_id)


def authenticators(ctx: AdminContext, user_id: str) -> list[Authenticator]:
    return _rows_of_user(ctx, "authenticators", Authenticator, user_id)


def verified_claims(ctx: AdminContext, user_id: str) -> list[VerifiedClaim]:
    return _rows_of_user(ctx, "verified_claims", VerifiedClaim, user_id)


def sessions(ctx: AdminContext, user_id: str) -> list[IdPSession | OfflineGrant]:
    """Live IdP sessions and offline grants, most recently used first. An app session (an
    `idp_sessions` row of a grant, app/oidc/app_sessions.py) is the grant's, listed as the grant, as
    Authgear's session.Manager.List knows only IdP sessions and offline grants."""
    svc = ctx.services.sessions
    now = ctx.services.clock()

    def fetch(ids: list[str]) -> dict[str, list[Any]]:
        browser = select(IdPSession).where(IdPSession.user_id.in_(ids), IdPSession.offline_grant_id.is_(None))
        idp = [s for s in db.session.scalars(browser) if svc.is_live(s)]
        grants = db.session.scalars(
            select(OfflineGrant).where(OfflineGrant.user_id.in_(ids), OfflineGrant.expires_at > now)
        )
        out = _grouped([*idp, *grants])
        for items in out.values():
            items.sort(key=lambda s: (s.last_access_at, s.id), reverse=True)
        return out

    return ctx.loader("sessions", USER, fetch).load(user_id)


def authorizations(ctx: AdminContext, user_id: str) -> list[OAuthAuthorization]:
    return _rows_of_user(ctx, "authorizations", OAuthAuthorization, user_id)


def roles_of_user(ctx: AdminContext, user_id: str) -> list[Role]:
    return see_roles(ctx, ctx.loader("user_roles", USER, ctx.services.roles.roles_of_users).load(user_id))


def groups_of_user(ctx: AdminContext, user_id: str) -> list[Group]:
    return see_groups(ctx, ctx.loader("user_groups", USER, ctx.services.roles.groups_of_users).load(user_id))


def effective_roles(ctx: AdminContext, user_id: str) -> list[Role]:
    loader = ctx.loader("effective_roles", USER, ctx.services.roles.effective_roles_of_users)
    return see_roles(ctx, loader.load(user_id))


def user_by_id(ctx: AdminContext, user_id: str) -> User | None:
    def fetch(ids: list[str]) -> dict[str, User]:
        users = see_users(ctx, db.session.scalars(select(User).where(User.id.in_(ids))))
        return {u.id: u for u in users}

    return ctx.loader("user_by_id", USER_REF, fetch, default=lambda: None).load(user_id)


# -- per role or group ----------------------------------------------------------------------------
def groups_of_role(ctx: AdminContext, role_id: str) -> list[Group]:
    return see_groups(ctx, ctx.loader("role_groups", ROLE, ctx.services.roles.groups_of_roles).load(role_id))


def roles_of_group(ctx: AdminContext, group_id: str) -> list[Role]:
    return see_roles(ctx, ctx.loader("group_roles", GROUP, ctx.services.roles.roles_of_groups).load(group_id))


_MEMBERS = {ROLE: (user_roles, "role_id"), GROUP: (user_groups, "group_id")}


def members_page(ctx: AdminContext, kind: str, parent_id: str, offset: int, limit: int) -> list[User]:
    """Users `[offset, offset+limit)` of a role or group (oldest first), for all seen parents at once:
    `row_number()` over each parent's members picks every parent's page in one query."""
    link, column = _MEMBERS[kind]

    def fetch(parent_ids: list[str]) -> dict[str, list[User]]:
        rank = func.row_number().over(partition_by=link.c[column], order_by=(User.created_at, User.id)).label("rank")
        ranked = (
            select(link.c[column].label("parent_id"), link.c.user_id.label("user_id"), rank)
            .join(User, User.id == link.c.user_id)
            .where(link.c[column].in_(parent_ids))
            .subquery()
        )
        stmt = (
            select(ranked.c.parent_id, User)
            .join(User, User.id == ranked.c.user_id)
            .where(ranked.c.rank > offset, ranked.c.rank <= offset + limit)
            .order_by(ranked.c.parent_id, ranked.c.rank)
        )
        out: dict[str, list[User]] = defaultdict(list)
        for parent, user in db.session.execute(stmt):
            out[parent].append(user)
        return out

    users = ctx.loader(("members", kind, offset, limit), kind, fetch).load(parent_id)
    return see_users(ctx, users)


def members_count(ctx: AdminContext, kind: str, parent_id: str) -> int:
    link, column = _MEMBERS[kind]

    def fetch(parent_ids: list[str]) -> dict[str, int]:
        stmt = select(link.c[column], func.count()).where(link.c[column].in_(parent_ids)).group_by(link.c[column])
        return {parent: count for parent, count in db.session.execute(stmt)}

    return ctx.loader(("members_count", kind), kind, fetch, default=int).load(parent_id)

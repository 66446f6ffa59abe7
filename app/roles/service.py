"""Roles and groups: create, update, delete, link to users and to each other, effective roles.

A user's effective roles are its own roles plus the roles of its groups. Keys follow Authgear's
rule: 1-40 characters of `[A-Za-z0-9_:]`, not starting with a digit, `authgear:` reserved.
Every change is flushed in the caller's transaction; audit entries are the caller's business
(the Admin API writes one per mutation).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from app.db import CHANGES_USERS, Clock, utcnow
from app.errors import BadRequest, NotFound, ValidationFailed
from app.extensions import db
from app.identities.models import User
from app.identities.service import UserNotFound
from app.roles.models import Group, Role, group_roles, user_groups, user_roles

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]*$")
KEY_MAX_LENGTH = 40
NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 1000
RESERVED_PREFIX = "authgear:"


class RoleNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("RoleNotFound", "role not found")


class GroupNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("GroupNotFound", "group not found")


def _invalid(location: str, kind: str, message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed([{"location": location, "kind": kind, "details": details}], message)


def validate_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise _invalid("/key", "minLength", "key must not be empty", expected=1)
    if len(key) > KEY_MAX_LENGTH:
        raise _invalid("/key", "maxLength", "key is too long", expected=KEY_MAX_LENGTH, actual=len(key))
    if not KEY_PATTERN.match(key):
        raise _invalid("/key", "format", "key may contain only letters, digits, _ and :", format="x_role_key")
    if key.startswith(RESERVED_PREFIX):
        raise _invalid("/key", "format", "keys starting with authgear: are reserved", format="x_role_key")
    return key


def _text(value: str | None, field: str, limit: int) -> str | None:
    """An optional name or description; the empty string clears it."""
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise _invalid(f"/{field}", "maxLength", f"{field} is too long", expected=limit, actual=len(value))
    return value


def unknown_keys(reason: str, message: str, detail: str, missing: list[str]) -> NotFound:
    """Authgear's `RoleUnknownKeys` / `GroupUnknownKeys` / `UserUnknownKeys`: a bulk link names keys
    (or user IDs, `info.ids`) that do not exist, listed in the order given; nothing is linked."""
    return NotFound(reason, message, {detail: missing})


class _Kind:
    """What differs between roles and groups."""

    def __init__(
        self, model: type[Role] | type[Group], not_found: type[NotFound], duplicate_reason: str, unknown: str
    ) -> None:
        self.model = model
        self.not_found = not_found
        self.duplicate_reason = duplicate_reason
        self.unknown = unknown  # the reason for unknown keys in a bulk link
        self.noun = "role" if model is Role else "group"


ROLE = _Kind(Role, RoleNotFound, "RoleDuplicateKey", "RoleUnknownKeys")
GROUP = _Kind(Group, GroupNotFound, "GroupDuplicateKey", "GroupUnknownKeys")


class RoleService:
    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock

    # -- roles and groups themselves ------------------------------------------------------------
    def create_role(self, key: str, name: str | None = None, description: str | None = None) -> Role:
        return self._create(ROLE, key, name, description)  # type: ignore[return-value]

    def create_group(self, key: str, name: str | None = None, description: str | None = None) -> Group:
        return self._create(GROUP, key, name, description)  # type: ignore[return-value]

    def update_role(
        self, role_id: str, key: str | None = None, name: str | None = None, description: str | None = None
    ) -> Role:
        """None leaves a field as it is; the empty string clears name or description."""
        return self._update(ROLE, role_id, key, name, description)  # type: ignore[return-value]

    def update_group(
        self, group_id: str, key: str | None = None, name: str | None = None, description: str | None = None
    ) -> Group:
        return self._update(GROUP, group_id, key, name, description)  # type: ignore[return-value]

    def delete_role(self, role_id: str) -> Role:
        return self._delete(ROLE, role_id)  # type: ignore[return-value]

    def delete_group(self, group_id: str) -> Group:
        return self._delete(GROUP, group_id)  # type: ignore[return-value]

    def get_role(self, role_id: str) -> Role:
        return self._get(ROLE, role_id)  # type: ignore[return-value]

    def get_group(self, group_id: str) -> Group:
        return self._get(GROUP, group_id)  # type: ignore[return-value]

    def role_by_key(self, key: str) -> Role:
        return self._by_key(ROLE, key)  # type: ignore[return-value]

    def group_by_key(self, key: str) -> Group:
        return self._by_key(GROUP, key)  # type: ignore[return-value]

    # -- links ----------------------------------------------------------------------------------
    def add_role_to_users(self, role_key: str, user_ids: Iterable[str]) -> Role:
        role = self.role_by_key(role_key)
        self._link(user_roles, "user_id", "role_id", [(u, role.id) for u in self._users(user_ids)])
        return role

    def remove_role_from_users(self, role_key: str, user_ids: Iterable[str]) -> Role:
        role = self.role_by_key(role_key)
        self._unlink(user_roles, "user_id", "role_id", [(u, role.id) for u in self._users(user_ids)])
        return role

    def add_user_to_roles(self, user_id: str, role_keys: Iterable[str]) -> User:
        user = self._user(user_id)
        self._link(user_roles, "user_id", "role_id", [(user.id, r.id) for r in self._many(ROLE, role_keys)])
        return user

    def remove_user_from_roles(self, user_id: str, role_keys: Iterable[str]) -> User:
        user = self._user(user_id)
        self._unlink(user_roles, "user_id", "role_id", [(user.id, r.id) for r in self._many(ROLE, role_keys)])
        return user

    def add_group_to_users(self, group_key: str, user_ids: Iterable[str]) -> Group:
        group = self.group_by_key(group_key)
        self._link(user_groups, "user_id", "group_id", [(u, group.id) for u in self._users(user_ids)])
        return group

    def remove_group_from_users(self, group_key: str, user_ids: Iterable[str]) -> Group:
        group = self.group_by_key(group_key)
        self._unlink(user_groups, "user_id", "group_id", [(u, group.id) for u in self._users(user_ids)])
        return group

    def add_user_to_groups(self, user_id: str, group_keys: Iterable[str]) -> User:
        user = self._user(user_id)
        self._link(user_groups, "user_id", "group_id", [(user.id, g.id) for g in self._many(GROUP, group_keys)])
        return user

    def remove_user_from_groups(self, user_id: str, group_keys: Iterable[str]) -> User:
        user = self._user(user_id)
        self._unlink(user_groups, "user_id", "group_id", [(user.id, g.id) for g in self._many(GROUP, group_keys)])
        return user

    def add_role_to_groups(self, role_key: str, group_keys: Iterable[str]) -> Role:
        role = self.role_by_key(role_key)
        self._link(group_roles, "group_id", "role_id", [(g.id, role.id) for g in self._many(GROUP, group_keys)])
        return role

    def remove_role_from_groups(self, role_key: str, group_keys: Iterable[str]) -> Role:
        role = self.role_by_key(role_key)
        self._unlink(group_roles, "group_id", "role_id", [(g.id, role.id) for g in self._many(GROUP, group_keys)])
        return role

    def add_group_to_roles(self, group_key: str, role_keys: Iterable[str]) -> Group:
        group = self.group_by_key(group_key)
        roles = self._many(ROLE, role_keys, unknown="GroupUnknownKeys")
        self._link(group_roles, "group_id", "role_id", [(group.id, r.id) for r in roles])
        return group

    def remove_group_from_roles(self, group_key: str, role_keys: Iterable[str]) -> Group:
        group = self.group_by_key(group_key)
        roles = self._many(ROLE, role_keys, unknown="GroupUnknownKeys")
        self._unlink(group_roles, "group_id", "role_id", [(group.id, r.id) for r in roles])
        return group

    # -- batched reads (one query for any number of users) --------------------------------------
    def roles_of_users(self, user_ids: Iterable[str]) -> dict[str, list[Role]]:
        stmt = select(user_roles.c.user_id, Role).join(Role, Role.id == user_roles.c.role_id)
        return self._grouped(stmt.where(user_roles.c.user_id.in_(list(user_ids))))

    def groups_of_users(self, user_ids: Iterable[str]) -> dict[str, list[Group]]:
        stmt = select(user_groups.c.user_id, Group).join(Group, Group.id == user_groups.c.group_id)
        return self._grouped(stmt.where(user_groups.c.user_id.in_(list(user_ids))))

    def effective_roles_of_users(self, user_ids: Iterable[str]) -> dict[str, list[Role]]:
        """Direct roles and the roles of the users' groups, each role once per user."""
        ids = list(user_ids)
        direct = select(user_roles.c.user_id.label("user_id"), user_roles.c.role_id.label("role_id")).where(
            user_roles.c.user_id.in_(ids)
        )
        via_groups = (
            select(user_groups.c.user_id.label("user_id"), group_roles.c.role_id.label("role_id"))
            .join(group_roles, group_roles.c.group_id == user_groups.c.group_id)
            .where(user_groups.c.user_id.in_(ids))
        )
        links = direct.union(via_groups).subquery()
        stmt = select(links.c.user_id, Role).join(Role, Role.id == links.c.role_id)
        return self._grouped(stmt)

    def roles_of_groups(self, group_ids: Iterable[str]) -> dict[str, list[Role]]:
        stmt = select(group_roles.c.group_id, Role).join(Role, Role.id == group_roles.c.role_id)
        return self._grouped(stmt.where(group_roles.c.group_id.in_(list(group_ids))))

    def groups_of_roles(self, role_ids: Iterable[str]) -> dict[str, list[Group]]:
        stmt = select(group_roles.c.role_id, Group).join(Group, Group.id == group_roles.c.group_id)
        return self._grouped(stmt.where(group_roles.c.role_id.in_(list(role_ids))))

    # -- internals ------------------------------------------------------------------------------
    def _grouped(self, stmt: Select[Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = defaultdict(list)
        for owner_id, item in db.session.execute(stmt):
            out[owner_id].append(item)
        for items in out.values():
            items.sort(key=lambda r: (r.created_at, r.id))
        return out

    def _create(self, kind: _Kind, key: str, name: str | None, description: str | None) -> Role | Group:
        now = self.clock()
        row = kind.model(
            key=validate_key(key),
            name=_text(name, "name", NAME_MAX_LENGTH),
            description=_text(description, "description", DESCRIPTION_MAX_LENGTH),
            created_at=now,
            updated_at=now,
        )
        self._save(kind, row)
        return row

    def _update(
        self, kind: _Kind, row_id: str, key: str | None, name: str | None, description: str | None
    ) -> Role | Group:
        row = self._get(kind, row_id)
        changes: dict[str, Any] = {"updated_at": self.clock()}
        if key is not None:
            changes["key"] = validate_key(key)
        if name is not None:
            changes["name"] = _text(name, "name", NAME_MAX_LENGTH)
        if description is not None:
            changes["description"] = _text(description, "description", DESCRIPTION_MAX_LENGTH)
        self._save(kind, row, changes)
        return row

    def _save(self, kind: _Kind, row: Role | Group, changes: dict[str, Any] | None = None) -> None:
        """Changes and flushes in a savepoint, so a duplicated key (a unique index) leaves the
        transaction usable. Changes are applied inside it because opening a savepoint flushes."""
        try:
            with db.session.begin_nested():
                for attr, value in (changes or {}).items():
                    setattr(row, attr, value)
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            key = (changes or {}).get("key") or row.key
            raise BadRequest(kind.duplicate_reason, "duplicated key", {"key": key}) from None

    def _delete(self, kind: _Kind, row_id: str) -> Role | Group:
        row = self._get(kind, row_id)
        db.session.delete(row)
        db.session.flush()
        return row

    def _get(self, kind: _Kind, row_id: str) -> Role | Group:
        row = db.session.get(kind.model, row_id)
        if row is None:
            raise kind.not_found()
        return row

    def _by_key(self, kind: _Kind, key: str) -> Role | Group:
        row = db.session.scalar(select(kind.model).where(kind.model.key == key))
        if row is None:
            raise kind.not_found()
        return row

    def _many(self, kind: _Kind, keys: Iterable[str] | None, unknown: str | None = None) -> list[Role | Group]:
        """The rows of these keys, or the kind's UnknownKeys error listing the missing ones.
        `unknown` overrides the reason: Authgear answers unknown role keys of addGroupToRoles and
        removeGroupFromRoles with GroupUnknownKeys (its store_group_role.go), and clients see that."""
        given = list(keys or [])
        wanted = list(dict.fromkeys(given))
        if not wanted:
            return []
        rows = list(db.session.scalars(select(kind.model).where(kind.model.key.in_(wanted))))
        if len(rows) != len(wanted):
            found = {row.key for row in rows}
            missing = [key for key in given if key not in found]
            raise unknown_keys(unknown or kind.unknown, f"unknown {kind.noun} keys", "keys", missing)
        return rows

    def _user(self, user_id: str) -> User:
        user = db.session.get(User, user_id)
        if user is None:
            raise UserNotFound()
        return user

    def _users(self, user_ids: Iterable[str] | None) -> list[str]:
        given = list(user_ids or [])
        wanted = list(dict.fromkeys(given))
        if not wanted:
            return []
        found = set(db.session.scalars(select(User.id).where(User.id.in_(wanted))))
        if len(found) != len(wanted):
            missing = [user_id for user_id in given if user_id not in found]
            raise unknown_keys("UserUnknownKeys", "unknown user ids", "ids", missing)
        return wanted

    def _link(self, table: Any, left: str, right: str, pairs: list[tuple[str, str]]) -> None:
        """Adds the links that are missing; existing ones stay (adding twice is not an error)."""
        if not pairs:
            return
        lefts = {a for a, _ in pairs}
        rights = {b for _, b in pairs}
        existing = {
            (row[0], row[1])
            for row in db.session.execute(
                select(table.c[left], table.c[right]).where(table.c[left].in_(lefts), table.c[right].in_(rights))
            )
        }
        missing = [{left: a, right: b} for a, b in dict.fromkeys(pairs) if (a, b) not in existing]
        if missing:
            db.session.execute(insert(table).execution_options(**_changed_users(left, right, pairs)), missing)
        db.session.flush()

    def _unlink(self, table: Any, left: str, right: str, pairs: list[tuple[str, str]]) -> None:
        options = _changed_users(left, right, pairs)
        for a, b in dict.fromkeys(pairs):
            link = delete(table).where(table.c[left] == a, table.c[right] == b)
            db.session.execute(link.execution_options(**options))
        db.session.flush()

    # -- listing --------------------------------------------------------------------------------
    @staticmethod
    def search_filter(model: type[Role] | type[Group], keyword: str | None, excluded_ids: Iterable[str] = ()) -> list:
        """WHERE clauses for the roles or groups list: keyword over key and name, minus some IDs."""
        clauses: list[Any] = []
        if keyword:
            pattern = "%" + escape_like(keyword.lower()) + "%"
            clauses.append(
                or_(
                    func.lower(model.key).like(pattern, escape="\\"),
                    func.lower(func.coalesce(model.name, "")).like(pattern, escape="\\"),
                )
            )
        excluded = list(excluded_ids)
        if excluded:
            clauses.append(model.id.not_in(excluded))
        return clauses


def escape_like(text: str) -> str:
    """Escapes LIKE's wildcards so a keyword matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _changed_users(left: str, right: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Execution options naming the users whose roles or groups a link change alters (app/db.py
    CHANGES_USERS). A group-role link changes the roles of everyone in the group: no names then."""
    if "user_id" not in (left, right):
        return {}
    index = 0 if left == "user_id" else 1
    return {CHANGES_USERS: sorted({pair[index] for pair in pairs})}

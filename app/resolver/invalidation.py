"""Which committed writes make the resolver's cached resolutions stale (see app/resolver/cache.py).

Listens on every ORM session: a flush of a row of `RESOLUTION_TABLES` marks its user (the row's
`user_id`, or the user itself), except a new credential and a change of last-access fields alone;
such a row with no user (a role, a group) marks everything, and so
does a bulk INSERT, UPDATE or DELETE statement on one of those tables run through the session
(`db.session.execute(delete(...))`) unless its `changes_users` execution option says whose
resolutions it changes (app/db.py). After the commit
the marked users' change tokens are replaced; a rollback forgets the marks.

The rule this relies on: writes go through `db.session` (unit of work or `db.session.execute`).
A write on a raw connection is not seen.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from app.db import CHANGES_USERS
from app.resolver.cache import GLOBAL, ResolutionCache

EXTENSION_KEY = "gatehouse.resolutions"
# Everything the resolver reads: the credential, its session or grant, the user and the user facts.
RESOLUTION_TABLES = frozenset(
    {
        "users",
        "identities",
        "verified_claims",
        "authenticators",
        "idp_sessions",
        "offline_grants",
        "access_tokens",
        "roles",
        "groups",
        "user_roles",
        "user_groups",
        "group_roles",
    }
)
# A new session, grant or token changes no resolution made before it: only its holder has it.
CREDENTIAL_TABLES = frozenset({"idp_sessions", "offline_grants", "access_tokens"})
# Recording an access or a login changes no resolution (an access only moves deadlines later;
# cached entries keep the earlier one).
ACCESS_RECORD = frozenset({"last_access_at", "last_access_ip", "last_access_user_agent", "last_login_at", "updated_at"})
_MARKS = "gatehouse.resolver_marks"


def _marks(session: Session) -> set[str]:
    return session.info.setdefault(_MARKS, set())


def _users_of(obj: Any, how: str) -> list[str]:
    """The users whose resolutions a flushed row may change; `how`: "new", "dirty" or "deleted"."""
    table = getattr(obj, "__tablename__", None)
    if table not in RESOLUTION_TABLES or (how == "new" and table in CREDENTIAL_TABLES):
        return []
    state = inspect(obj)
    if how == "dirty" and {a.key for a in state.attrs if a.history.has_changes()} <= ACCESS_RECORD:
        return []
    if obj.__tablename__ == "users":
        return [obj.id]
    if not hasattr(obj, "user_id"):
        return [GLOBAL]
    history = state.attrs.user_id.history  # a row moved to another user changes both
    return [u for u in chain([obj.user_id], history.deleted or ()) if u]


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    marks = _marks(session)
    for how, objs in (("new", session.new), ("dirty", session.dirty), ("deleted", session.deleted)):
        for obj in objs:
            marks.update(_users_of(obj, how))


def _on_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in RESOLUTION_TABLES:
        _marks(state.session).update(state.execution_options.get(CHANGES_USERS, [GLOBAL]))


def _after_commit(session: Session) -> None:
    marks = session.info.pop(_MARKS, None)
    if marks and has_app_context():
        cache: ResolutionCache | None = current_app.extensions.get(EXTENSION_KEY)
        if cache is not None:
            cache.invalidate(marks)


def _after_rollback(session: Session) -> None:
    session.info.pop(_MARKS, None)


def install() -> None:
    """Listen on every ORM session, once per process (each app finds its own cache)."""
    if event.contains(Session, "after_commit", _after_commit):
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_statement)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)

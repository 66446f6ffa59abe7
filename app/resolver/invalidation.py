"""Which committed writes make the resolver's cached resolutions stale (see app/resolver/cache.py).

Listens on every ORM session: a flush of a row of `RESOLUTION_TABLES` marks its user (the row's
`user_id`, or the user itself), except a new credential and a change of last-access fields alone;
such a row with no user (a role, a group) marks everything, and so
does a bulk INSERT, UPDATE or DELETE statement on one of those tables run through the session
(`db.session.execute(delete(...))`) unless its `changes_users` execution option says whose
resolutions it changes (app/db.py). A rollback forgets the marks.

The marked users' change tokens are replaced twice:
- just before the COMMIT (after the last flush). When the store cannot be reached the commit does
  not happen and the request answers 503 (`ServiceUnavailable`): a revocation is never committed
  while other nodes go on trusting the credential for up to a minute, and never reported as failed
  after it took effect.
- again after the COMMIT, because a node may have read the first new token and the database as it
  was before the commit, and cached that. This one is best effort: a failure is logged, never
  raised, as the change is committed. What it leaves is that narrow race, at most a minute long
  (the entry's deadline), and only when the store fails between the two replacements.

The rule this relies on: writes go through `db.session` (unit of work or `db.session.execute`).
A write on a raw connection is not seen.
"""

from __future__ import annotations

import logging
from itertools import chain
from typing import Any

import redis
from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from app.db import CHANGES_USERS
from app.errors import ServiceUnavailable
from app.resolver.cache import GLOBAL, ResolutionCache

log = logging.getLogger(__name__)

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


def _cache() -> ResolutionCache | None:
    return current_app.extensions.get(EXTENSION_KEY) if has_app_context() else None


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT's release: the outer COMMIT comes later
    session.flush()  # what the commit would flush, so that its marks are known now
    marks = session.info.get(_MARKS)
    cache = _cache()
    if not marks or cache is None:
        return
    try:
        cache.invalidate(marks)
    except redis.RedisError as exc:
        log.warning("commit refused: resolver change tokens not replaced (%s: %s)", type(exc).__name__, exc)
        message = "a service this request needs is unavailable, try again later"
        raise ServiceUnavailable("DependencyUnavailable", message) from exc


def _after_commit(session: Session) -> None:
    marks = session.info.pop(_MARKS, None)
    cache = _cache()
    if marks and cache is not None:
        try:
            cache.invalidate(marks)
        except Exception as exc:  # noqa: BLE001 (committed: the client must hear that it worked)
            log.warning("resolver change tokens not replaced after a commit (%s: %s)", type(exc).__name__, exc)


def _after_rollback(session: Session) -> None:
    session.info.pop(_MARKS, None)


def install() -> None:
    """Listen on every ORM session, once per process (each app finds its own cache)."""
    if event.contains(Session, "after_commit", _after_commit):
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_statement)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)

"""The resolver's cache: what a credential resolved to, kept in the web process and checked against
change tokens in the key-value store on every use, so a revocation anywhere takes effect at once.

- An entry holds the `X-Authgear-*` headers a credential (by its SHA-256) resolved to, its user, a
  deadline, and the change tokens of that user and of everything (`GLOBAL`) as they were *before*
  the database was read. A use costs one key-value round trip (MGET of the two change tokens).
- Every committed write that can change a resolution replaces the change token of the users it
  touched, or the global one for writes that are not about one user (app/resolver/invalidation.py):
  before its COMMIT, which does not happen when the store cannot be reached, and again after it;
  a replaced or evicted token never matches again, so the next use reads the database.
- The first resolution of a credential only learns its user: the change tokens must be read before
  the database, and until then it is not known whose to read. The second one is cached.
- Deadline: the earliest of a minute from now, the next last-access write (so the resolver keeps
  recording activity), and the expiry of the token, the session or grant and the user's valid period
  (the caller passes them). Entries are never served past it.
- Only valid resolutions are cached; at most `MAX_ENTRIES` per process, least recently used first out.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis

from app.crypto import sha256_hex
from app.db import Clock
from app.kvstore import KVStore, RedisStore

GLOBAL = "*"
MAX_AGE = timedelta(seconds=60)
MAX_ENTRIES = 4096  # about 3 MB per process
# A change token outlives every entry that may hold it; when it expires all such entries have too.
CHANGE_TOKEN_TTL = 24 * 3600

ChangeTokens = tuple[bytes, bytes]


def _change_key(user_id: str) -> str:
    return f"resolver:changes:{user_id}"


@dataclass(frozen=True)
class Entry:
    user_id: str
    headers: dict[str, str] | None  # None: the user is known, the resolution is not cached yet
    deadline: datetime
    changes: ChangeTokens | None


class ResolutionCache:
    def __init__(self, store: KVStore, clock: Clock, max_entries: int = MAX_ENTRIES) -> None:
        self.store = store
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        # The MGET every use makes: on connections of its own when the store is Redis.
        self._get_many: Callable[..., list[bytes | None]] = (
            DirectMGet(store) if isinstance(store, RedisStore) else store.get_many
        )

    @staticmethod
    def key(kind: str, credential: str) -> str:
        return sha256_hex(f"{kind}:{credential}")

    def lookup(self, key: str) -> dict[str, str] | None:
        """The cached headers of a credential, when its entry is complete, before its deadline and
        nothing about its user has changed since."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None or entry.headers is None or entry.deadline <= self.clock():
            return None
        if self._read(entry.user_id) != entry.changes:
            return None
        return entry.headers

    def known_user(self, key: str) -> str | None:
        entry = self._entries.get(key)
        return entry.user_id if entry else None

    def change_tokens(self, user_id: str) -> ChangeTokens | None:
        """The current change tokens of a user, created when missing. Read them before the database."""
        tokens = self._read(user_id)
        if tokens is None:
            for key in (_change_key(user_id), _change_key(GLOBAL)):
                self.store.set(key, secrets.token_hex(8), ttl=CHANGE_TOKEN_TTL, only_new=True)
            tokens = self._read(user_id)
        return tokens

    def remember(
        self,
        key: str,
        user_id: str,
        headers: dict[str, str],
        changes: ChangeTokens | None,
        deadlines: Iterable[datetime | None] = (),
    ) -> None:
        """Record a valid resolution; cached only with the change tokens read before it was made."""
        deadline = min([self.clock() + MAX_AGE, *(d for d in deadlines if d is not None)])
        entry = Entry(user_id, headers if changes else None, deadline, changes)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, user_ids: Iterable[str]) -> None:
        """Replace the change tokens of these users (`GLOBAL`: of everything). The store's errors
        (Redis unreachable) reach the caller, which decides whether the change may go on."""
        for user_id in user_ids:
            self.store.set(_change_key(user_id), secrets.token_hex(8), ttl=CHANGE_TOKEN_TTL)

    def _read(self, user_id: str) -> ChangeTokens | None:
        user_token, global_token = self._get_many(_change_key(user_id), _change_key(GLOBAL))
        if user_token is None or global_token is None:
            return None
        return user_token, global_token


class DirectMGet:
    """`RedisStore.get_many` (one MGET) sent on connections of its own, made like the client's and
    with its timeouts, without the client's per-command machinery (pool bookkeeping, a readiness
    poll of the socket, retry wrappers, metrics), which costs twice the round trip's own CPU: the
    resolver makes one MGET per request. Idle connections are kept in a list (one per thread that
    used one at the same time); a connection that fails is dropped, and a failure on one that
    sat idle (a restarted Redis) is tried once more on a new connection, as the client would."""

    def __init__(self, store: RedisStore) -> None:
        pool = store.client.connection_pool
        self._connection_class: Any = pool.connection_class
        self._connection_kwargs = dict(pool.connection_kwargs)
        self._prefix = store.prefix
        self._idle: list[Any] = []
        self._pid = os.getpid()

    def __call__(self, *keys: str) -> list[bytes | None]:
        if self._pid != os.getpid():  # a forked child shares no socket with its parent
            self._idle, self._pid = [], os.getpid()
        names = [self._prefix + key for key in keys]
        try:
            conn, reused = self._idle.pop(), True
        except IndexError:
            conn, reused = self._connection_class(**self._connection_kwargs), False
        try:
            values = self._mget(conn, names)
        except redis.ConnectionError:
            if not reused:
                raise
            conn = self._connection_class(**self._connection_kwargs)
            values = self._mget(conn, names)
        self._idle.append(conn)
        return values

    @staticmethod
    def _mget(conn: Any, names: list[str]) -> list[bytes | None]:
        try:
            conn.send_command("MGET", *names)
            return conn.read_response()
        except BaseException:
            conn.disconnect()
            raise

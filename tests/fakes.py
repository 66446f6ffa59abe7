"""Fakes for the true edges of the credential tests: a clock that only moves when told to."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from app.kvstore import KVStore
from tests.conftest import make_store


class FakeClock:
    """An injectable `app.db.Clock`; starts on a whole minute so rate-limit windows line up."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def fresh_store(prefix: str) -> Iterator[KVStore]:
    """A store of its own for one test: Redis under a unique prefix, or the in-process store in the
    embedded pass. Cleared afterwards (these tests do not use the database fixtures that clear)."""
    store = make_store(f"{prefix}{uuid.uuid4().hex[:8]}:")
    yield store
    store.clear()

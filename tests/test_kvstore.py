"""The same behaviour from MemoryStore (embedded default) and RedisStore (production)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from app.kvstore import KVStore, MemoryStore, RedisStore
from tests.conftest import REDIS_URL


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    store: KVStore
    advance: Callable[[float], None]  # let time pass: the fake clock for memory, real time for Redis
    another: Callable[[], KVStore]  # a second store that must not share keys with `store`


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.embedded), "redis"])
def kv(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        clock = FakeMonotonic()

        def advance(seconds: float) -> None:
            clock.now += seconds

        yield Backend(MemoryStore(clock=clock), advance, MemoryStore)
        return

    client = redis.Redis.from_url(REDIS_URL)
    made: list[RedisStore] = []

    def new_store() -> RedisStore:
        store = RedisStore(client, prefix=f"gatehouse-test:{uuid.uuid4().hex[:12]}:")
        made.append(store)
        return store

    yield Backend(new_store(), time.sleep, new_store)
    for store in made:
        store.clear()
    client.close()


def test_set_and_get(kv):
    s = kv.store
    assert s.get("missing") is None
    assert s.set("k", "value") is True
    assert s.get("k") == b"value"
    assert s.set("k", b"\x00\xffbytes") is True
    assert s.get("k") == b"\x00\xffbytes"
    assert s.set("unicode", "café") is True
    assert s.get("unicode") == "café".encode()


def test_ttl_and_expiry(kv):
    s = kv.store
    s.set("forever", "x")
    assert s.ttl("forever") is None
    assert s.ttl("missing") is None
    s.set("short", "x", ttl=0.2)
    remaining = s.ttl("short")
    assert remaining is not None and 0 < remaining <= 0.2 + 1e-6
    s.set("long", "x", ttl=300)
    assert 290 < s.ttl("long") <= 300
    kv.advance(0.3)
    assert s.get("short") is None
    assert s.ttl("short") is None
    assert s.get("long") == b"x"
    assert s.get("forever") == b"x"


def test_set_without_ttl_clears_an_earlier_ttl(kv):
    s = kv.store
    s.set("k", "a", ttl=0.2)
    s.set("k", "b")
    kv.advance(0.3)
    assert s.get("k") == b"b"


def test_only_new(kv):
    s = kv.store
    assert s.set("once", "first", only_new=True) is True
    assert s.set("once", "second", only_new=True) is False
    assert s.get("once") == b"first"
    assert s.set("once", "third") is True
    assert s.get("once") == b"third"


def test_only_new_succeeds_after_expiry(kv):
    s = kv.store
    assert s.set("cooldown", "1", ttl=0.2, only_new=True) is True
    assert s.set("cooldown", "1", ttl=0.2, only_new=True) is False
    kv.advance(0.3)
    assert s.set("cooldown", "2", ttl=0.2, only_new=True) is True
    assert s.get("cooldown") == b"2"


def test_incr_with_expiry(kv):
    s = kv.store
    assert s.incr("bucket", ttl=0.3) == 1
    assert s.incr("bucket", ttl=0.3) == 2
    assert s.get("bucket") == b"2"
    first_ttl = s.ttl("bucket")
    assert first_ttl is not None and 0 < first_ttl <= 0.3 + 1e-6
    kv.advance(0.1)
    # Later increments keep the window that the first one opened (a fixed window, not sliding).
    assert s.incr("bucket", ttl=10) == 3
    assert s.ttl("bucket") <= 0.3 + 1e-6
    kv.advance(0.3)
    assert s.get("bucket") is None
    assert s.incr("bucket", ttl=0.3) == 1


def test_incr_by_amount(kv):
    s = kv.store
    assert s.incr("n", ttl=60, amount=5) == 5
    assert s.incr("n", ttl=60, amount=-2) == 3
    assert s.incr("n", ttl=60) == 4


def test_counters_are_independent(kv):
    s = kv.store
    s.incr("a", ttl=60)
    s.incr("a", ttl=60)
    assert s.incr("b", ttl=60) == 1


def test_delete(kv):
    s = kv.store
    s.set("a", "1")
    s.set("b", "2")
    s.set("c", "3")
    s.delete("a", "b", "missing")
    s.delete()
    assert s.get("a") is None and s.get("b") is None
    assert s.get("c") == b"3"
    assert s.set("a", "again", only_new=True) is True


def test_clear_removes_only_its_own_keys(kv):
    s = kv.store
    neighbour = kv.another()
    neighbour.set("shared-name", "neighbour")
    neighbour.incr("counter", ttl=60)
    for i in range(1200):  # more than one SCAN batch
        s.set(f"k{i}", "x")
    s.set("shared-name", "mine")
    s.clear()
    assert s.get("shared-name") is None
    assert s.get("k0") is None and s.get("k1199") is None
    assert neighbour.get("shared-name") == b"neighbour"
    assert neighbour.get("counter") == b"1"


def test_ping(kv):
    assert kv.store.ping() is True


def test_redis_keys_carry_the_prefix():
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"gatehouse-test:{uuid.uuid4().hex[:12]}:"
    store = RedisStore(client, prefix=prefix)
    try:
        store.set("flow", "state")
        assert client.get(prefix + "flow") == b"state"
        assert client.get("flow") is None
    finally:
        store.clear()
        client.close()


def test_redis_ping_is_false_when_redis_is_down():
    store = RedisStore(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1), prefix="x:")
    assert store.ping() is False


@pytest.mark.embedded
def test_memory_store_evicts_expired_entries_nobody_reads_again():
    clock = FakeMonotonic()
    store = MemoryStore(clock=clock)
    for i in range(1000):  # e.g. the states of 500 flows, never read again
        store.set(f"flow:{i}", "state", ttl=600)
    store.set("kept", "x")
    store.incr("bucket", ttl=3 * 86400 + 3600)
    assert len(store) == 1002
    clock.now += 3 * 86400  # three days later, the next write
    store.set("another", "y", ttl=600)
    assert len(store) == 3
    assert store.get("kept") == b"x"
    assert store.get("bucket") == b"1"
    assert store.get("another") == b"y"


@pytest.mark.embedded
def test_memory_store_evicts_under_a_steady_stream_of_short_lived_writes():
    clock = FakeMonotonic()
    store = MemoryStore(clock=clock)
    for i in range(20_000):  # a burst of one-second entries, well within the sweep interval
        store.set(f"k{i}", "v", ttl=1)
        clock.now += 0.001
    # Only recent entries may still be held: the expired ones are swept as the writes go on.
    assert len(store) < 5_000
    assert store.get("k19999") == b"v"

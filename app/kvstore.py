"""Short-lived shared state: flow states, rate-limit buckets, OTP cooldowns, caches.

`RedisStore` when Redis is configured; `MemoryStore` (same interface, one process) otherwise.
Every key gets the store's prefix so several deployments or test runs can share one Redis.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis


class KVStore(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def get_many(self, *keys: str) -> list[bytes | None]: ...
    def set(self, key: str, value: bytes | str, ttl: float | None = None, only_new: bool = False) -> bool: ...
    def delete(self, *keys: str) -> None: ...
    def take(self, key: str) -> bytes | None: ...
    def incr(self, key: str, ttl: float, amount: int = 1) -> int: ...
    def get_and_add(self, get_key: str, key: str, ttl: float, amount: float) -> tuple[bytes | None, float]: ...
    def add(self, key: str, ttl: float, amount: float) -> float: ...
    def set_new_then_set(self, key: str, value: str, then_key: str, then_value: str, ttl: float) -> bool: ...
    def ttl(self, key: str) -> float | None: ...
    def ping(self) -> bool: ...
    def clear(self) -> None: ...


class MemoryStore:
    """In-process store for the embedded default (single web process).

    An expired entry goes when it is next read, or at the next sweep: a write sweeps every expired
    entry once a minute has passed since the last sweep, or once there have been as many writes
    since then as the last sweep left entries (at least SWEEP_EVERY): a sweep then costs O(1) per
    write, amortized, and at most one scan a minute beyond that.
    """

    SWEEP_INTERVAL = 60.0  # seconds of the store's clock
    SWEEP_EVERY = 1024  # writes

    def __init__(self, clock: object = time.monotonic) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._writes = 0  # since the last sweep
        self._kept = 0  # entries the last sweep left
        self._swept_at: float = clock()  # type: ignore[operator]

    def _wrote(self, now: float) -> None:
        """After a write, under the lock: sweep when it is due."""
        self._writes += 1
        if self._writes < max(self.SWEEP_EVERY, self._kept) and now - self._swept_at < self.SWEEP_INTERVAL:
            return
        dead = [key for key, (_, expires) in self._data.items() if expires is not None and expires <= now]
        for key in dead:
            del self._data[key]
        self._writes = 0
        self._kept = len(self._data)
        self._swept_at = now

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= self._clock():  # type: ignore[operator]
            del self._data[key]
            return None
        return item

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._live(key)
            return item[0] if item else None

    def get_many(self, *keys: str) -> list[bytes | None]:
        with self._lock:
            return [item[0] if (item := self._live(key)) else None for key in keys]

    def set(self, key: str, value: bytes | str, ttl: float | None = None, only_new: bool = False) -> bool:
        data = value.encode() if isinstance(value, str) else value
        with self._lock:
            if only_new and self._live(key) is not None:
                return False
            now = self._clock()
            self._data[key] = (data, now + ttl if ttl else None)  # type: ignore[operator]
            self._wrote(now)  # type: ignore[arg-type]
            return True

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def take(self, key: str) -> bytes | None:
        """`get` and `delete`, atomically."""
        with self._lock:
            item = self._live(key)
            self._data.pop(key, None)
            return item[0] if item else None

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        with self._lock:
            item = self._live(key)
            now = self._clock()
            if item is None:
                value = amount
                self._data[key] = (str(value).encode(), now + ttl)  # type: ignore[operator]
            else:
                value = int(item[0]) + amount
                self._data[key] = (str(value).encode(), item[1])
            self._wrote(now)  # type: ignore[arg-type]
            return value

    def add(self, key: str, ttl: float, amount: float) -> float:
        """`incr` of a number that may be fractional (a rate limit's weighted count)."""
        with self._lock:
            item = self._live(key)
            now = self._clock()
            value = (float(item[0]) if item else 0.0) + amount
            self._data[key] = (repr(value).encode(), item[1] if item else now + ttl)  # type: ignore[operator]
            self._wrote(now)  # type: ignore[arg-type]
            return value

    def get_and_add(self, get_key: str, key: str, ttl: float, amount: float) -> tuple[bytes | None, float]:
        """`get(get_key)` and `add(key, ttl, amount)`."""
        return self.get(get_key), self.add(key, ttl, amount)

    def set_new_then_set(self, key: str, value: str, then_key: str, then_value: str, ttl: float) -> bool:
        """`set(key, value, ttl, only_new=True)` and, when it set, `set(then_key, then_value, ttl)`;
        both or neither, atomically."""
        with self._lock:
            if self._live(key) is not None:
                return False
            now = self._clock()
            self._data[key] = (value.encode(), now + ttl)  # type: ignore[operator]
            self._data[then_key] = (then_value.encode(), now + ttl)  # type: ignore[operator]
            self._wrote(now)  # type: ignore[arg-type]
            return True

    def ttl(self, key: str) -> float | None:
        with self._lock:
            item = self._live(key)
            if item is None or item[1] is None:
                return None
            return item[1] - self._clock()  # type: ignore[operator]

    def ping(self) -> bool:
        return True

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._writes = self._kept = 0

    def __len__(self) -> int:
        """Entries held, expired ones not yet evicted included."""
        with self._lock:
            return len(self._data)


# SET NX of KEYS[1] and, only when it was set, SET of KEYS[2]; both with the TTL ARGV[3] (ms).
_SET_NEW_THEN_SET = """
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3], 'NX') then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


class RedisStore:
    """Redis-backed store shared by every web node and worker."""

    def __init__(self, client: redis.Redis, prefix: str = "gatehouse:") -> None:
        self.client = client
        self.prefix = prefix
        self._set_new_then_set = client.register_script(_SET_NEW_THEN_SET)

    def _k(self, key: str) -> str:
        return self.prefix + key

    def get(self, key: str) -> bytes | None:
        return self.client.get(self._k(key))

    def get_many(self, *keys: str) -> list[bytes | None]:
        """One round trip (MGET)."""
        return self.client.mget([self._k(k) for k in keys])

    def set(self, key: str, value: bytes | str, ttl: float | None = None, only_new: bool = False) -> bool:
        px = int(ttl * 1000) if ttl else None
        return bool(self.client.set(self._k(key), value, px=px, nx=only_new))

    def delete(self, *keys: str) -> None:
        if keys:
            self.client.delete(*(self._k(k) for k in keys))

    def take(self, key: str) -> bytes | None:
        """`get` and `delete`, atomically, in one round trip (GETDEL)."""
        return self.client.getdel(self._k(key))

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        pipe = self.client.pipeline()
        pipe.incrby(self._k(key), amount)
        pipe.pexpire(self._k(key), int(ttl * 1000), nx=True)
        value, _ = pipe.execute()
        return int(value)

    def add(self, key: str, ttl: float, amount: float) -> float:
        pipe = self.client.pipeline()
        pipe.incrbyfloat(self._k(key), amount)
        pipe.pexpire(self._k(key), int(ttl * 1000), nx=True)
        value, _ = pipe.execute()
        return float(value)

    def get_and_add(self, get_key: str, key: str, ttl: float, amount: float) -> tuple[bytes | None, float]:
        """`get(get_key)` and `add(key, ttl, amount)` in one round trip."""
        pipe = self.client.pipeline()
        pipe.get(self._k(get_key))
        pipe.incrbyfloat(self._k(key), amount)
        pipe.pexpire(self._k(key), int(ttl * 1000), nx=True)
        previous, value, _ = pipe.execute()
        return previous, float(value)

    def set_new_then_set(self, key: str, value: str, then_key: str, then_value: str, ttl: float) -> bool:
        """`set(key, value, ttl, only_new=True)` and, when it set, `set(then_key, then_value, ttl)`:
        one round trip, both or neither (a script)."""
        keys = [self._k(key), self._k(then_key)]
        return bool(self._set_new_then_set(keys=keys, args=[value, then_value, int(ttl * 1000)]))

    def ttl(self, key: str) -> float | None:
        ms = self.client.pttl(self._k(key))
        return ms / 1000 if ms is not None and ms >= 0 else None

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def clear(self) -> None:
        """Delete this store's keys only (never FLUSHDB: the Redis may be shared)."""
        batch = []
        for key in self.client.scan_iter(match=self.prefix + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                self.client.delete(*batch)
                batch = []
        if batch:
            self.client.delete(*batch)

"""Short-lived, one-use secrets kept in the key-value store: app session tokens, challenges and
anonymous promotion codes (contract 1.8, 1.9; Authgear keeps each in Redis for five minutes).

Only the SHA-256 of a secret is a key. `take` claims a secret with a write that succeeds once
(`only_new`), so two requests racing with the same secret cannot both use it, on one node or many.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from app.crypto import random_alnum, sha256_hex
from app.kvstore import KVStore

MAX_SECRET_LENGTH = 200


class OneTimeSecrets:
    def __init__(self, store: KVStore, kind: str, lifetime: timedelta, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.kind = kind
        self.lifetime = lifetime
        self.clock = clock

    def _key(self, secret: str) -> str:
        return f"{self.kind}:{sha256_hex(secret)}"

    def issue(self, payload: dict[str, Any]) -> tuple[str, datetime]:
        """A new secret standing for `payload`, and when it expires."""
        secret = random_alnum(32)
        expire_at = self.clock() + self.lifetime
        self.store.set(self._key(secret), json.dumps(payload), ttl=self.lifetime.total_seconds())
        return secret, expire_at

    def peek(self, secret: object) -> dict[str, Any] | None:
        """The payload of a live secret, without using it."""
        if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH:
            return None
        raw = self.store.get(self._key(secret))
        return json.loads(raw) if raw is not None else None

    def take(self, secret: object) -> dict[str, Any] | None:
        """The payload of a live secret, used up: None when unknown, expired or already taken."""
        payload = self.peek(secret)
        if payload is None:
            return None
        assert isinstance(secret, str)
        key = self._key(secret)
        if not self.store.set(f"{key}:used", "1", ttl=self.lifetime.total_seconds(), only_new=True):
            return None
        self.store.delete(key)
        return payload

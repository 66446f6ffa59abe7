"""The `state` of the hosted pages' provider round trips (Authgear's webappoauth store).

The browser leaves for the provider with a random state; the callback must bring it back once, within
the user-interaction lifetime, to the same alias. It is stored under its SHA-256 only, so the store
never holds a usable token, and it is taken (read and deleted) at once: a replayed or forged callback
finds nothing (`Invalid`, "invalid state")."""

from __future__ import annotations

import json
from typing import Any

from app.crypto import random_base32, sha256_hex
from app.kvstore import KVStore
from app.sso.errors import OAuthStateInvalid

STATE_LIFETIME_SECONDS = 20 * 60  # Authgear's duration.UserInteraction


class OAuthStateStore:
    def __init__(self, store: KVStore) -> None:
        self.store = store

    def generate(self, state: dict[str, Any]) -> str:
        token = random_base32(32)  # providers cap state's length; 32 is short enough (Authgear)
        self.store.set(f"oauthrelyingparty-state:{sha256_hex(token)}", json.dumps(state), ttl=STATE_LIFETIME_SECONDS)
        return token

    def pop(self, token: Any) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > 100:
            raise OAuthStateInvalid()
        key = f"oauthrelyingparty-state:{sha256_hex(token)}"
        raw = self.store.get(key)
        # Two callbacks racing with one state: only the first to mark it used goes on.
        if raw is None or self.store.incr(f"{key}:used", ttl=STATE_LIFETIME_SECONDS) != 1:
            raise OAuthStateInvalid()
        self.store.delete(key)
        return json.loads(raw)

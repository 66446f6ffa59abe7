"""`POST /oauth2/challenge` (contract 1.9): one-use challenges that a device signs into the JWT of
an anonymous, biometric or app2app request, so that a captured JWT cannot be replayed.

Tokens are 32 characters of base32 (Authgear's alphabet) and live five minutes (`duration.Short`).
A device-key grant takes its challenge once, whether or not the rest of the request is good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.kvstore import KVStore
from app.one_time import OneTimeSecrets

PURPOSES = ("anonymous_request", "biometric_request", "app2app_request")
CHALLENGE_LIFETIME = timedelta(minutes=5)


class Challenges:
    def __init__(self, store: KVStore, clock: object) -> None:
        self.secrets = OneTimeSecrets(store, "challenge", CHALLENGE_LIFETIME, clock)  # type: ignore[arg-type]

    def create(self, purpose: str) -> tuple[str, datetime]:
        assert purpose in PURPOSES
        return self.secrets.issue({"purpose": purpose})

    def consume(self, token: object, purpose: str) -> bool:
        """Takes the challenge; True only when it was live and made for `purpose`."""
        payload = self.secrets.take(token)
        return payload is not None and payload.get("purpose") == purpose

"""Flow states addressed by opaque state tokens, kept in the key-value store for 20 minutes.

Every accepted input stores a new state under a new token; earlier tokens stay readable until they
expire, so a UI can go back. A finished flow is marked by its flow ID, and no state of it accepts
input any more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from app.crypto import random_base32
from app.errors import NotFound
from app.kvstore import KVStore

FLOW_LIFETIME_SECONDS = 20 * 60  # contract 10


class AuthenticationFlowNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("AuthenticationFlowNotFound", "authentication flow not found")


@dataclass
class FlowState:
    flow_id: str
    type: str
    name: str
    url_query: str = ""
    queue: list[dict[str, Any]] = field(default_factory=list)  # steps still to run, in order
    current: dict[str, Any] | None = None  # the step waiting for input
    local: dict[str, Any] = field(default_factory=dict)  # the current step's own sub-state
    data: dict[str, Any] = field(default_factory=dict)  # what the flow has gathered so far
    finished: bool = False
    finish: dict[str, Any] = field(default_factory=dict)


_FIELDS = tuple(f.name for f in fields(FlowState))


def new_flow_id() -> str:
    return "authflow_" + random_base32(32)


def _dump(state: FlowState) -> str:
    # The fields themselves, not `asdict` (a deep copy of the whole state that json.dumps would
    # walk again): the state holds JSON values only.
    return json.dumps({name: getattr(state, name) for name in _FIELDS})


def _new_token() -> str:
    return "authflowstate_" + random_base32(32)


class FlowStateStore:
    def __init__(self, store: KVStore) -> None:
        self.store = store

    def save(self, state: FlowState) -> str:
        token = _new_token()
        self.store.set(f"authflow:state:{token}", _dump(state), ttl=FLOW_LIFETIME_SECONDS)
        return token

    def load(self, token: Any) -> FlowState:
        if not isinstance(token, str) or not token.startswith("authflowstate_") or len(token) > 100:
            raise AuthenticationFlowNotFound()
        raw = self.store.get(f"authflow:state:{token}")
        if raw is None:
            raise AuthenticationFlowNotFound()
        return FlowState(**json.loads(raw))

    def claim_finish(self, flow_id: str) -> bool:
        """True for the one caller that finishes the flow; False if it had finished already."""
        return self.store.set(f"authflow:finished:{flow_id}", "1", ttl=FLOW_LIFETIME_SECONDS, only_new=True)

    def claim_finish_and_save(self, state: FlowState) -> str | None:
        """`claim_finish` and `save` of the finished state in one round trip: its new token, or None
        (and nothing stored) when the flow had finished already."""
        token = _new_token()
        claimed = self.store.set_new_then_set(
            f"authflow:finished:{state.flow_id}",
            "1",
            f"authflow:state:{token}",
            _dump(state),
            ttl=FLOW_LIFETIME_SECONDS,
        )
        return token if claimed else None

    def is_finished(self, flow_id: str) -> bool:
        return self.store.get(f"authflow:finished:{flow_id}") is not None

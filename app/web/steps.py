"""The browser's flow steps: opaque `x_step` IDs mapped to engine state tokens, kept server-side.

Contract 6.10: the hosted pages keep state tokens in the `web_session`, keyed by an `x_step` query
parameter, so that back, forward and reload each land on the step they showed. Here the signed
`web_session` cookie (Flask's session) holds only a random browser ID; the steps themselves live
in the key-value store under that ID, so a state token never reaches the browser and another
browser's `x_step` finds nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from app.crypto import random_alnum
from app.flows.state import FLOW_LIFETIME_SECONDS
from app.kvstore import KVStore

_X_STEP = re.compile(r"^[A-Za-z0-9]{16,64}$")
_BROWSER = re.compile(r"^[A-Za-z0-9]{32}$")


@dataclass
class WebStep:
    state_token: str
    flow_type: str  # the flow the page started (signup_login stays signup_login)
    query: str = ""  # the query of the first page (x_ref, client_id, ui_locales, ...), without x_step
    select_from: str | None = None  # the x_step of the choice this step was auto-selected from
    finish_redirect_uri: str | None = None  # set once the flow finished
    last_page: str | None = None  # the page whose input finished the flow
    signed_up: bool = False
    error: dict[str, Any] | None = None  # shown once by the next GET: {name, reason, info, values}
    extra: dict[str, Any] = field(default_factory=dict)


def new_browser_id() -> str:
    return random_alnum(32)


def valid_browser_id(value: object) -> bool:
    return isinstance(value, str) and bool(_BROWSER.match(value))


class WebSteps:
    def __init__(self, store: KVStore, browser_id: str) -> None:
        self.store = store
        self.browser_id = browser_id

    def _key(self, x_step: str) -> str:
        return f"web:step:{self.browser_id}:{x_step}"

    def save(self, step: WebStep) -> str:
        x_step = random_alnum(20)
        self.put(x_step, step)
        return x_step

    def put(self, x_step: str, step: WebStep) -> None:
        self.store.set(self._key(x_step), json.dumps(asdict(step)), ttl=FLOW_LIFETIME_SECONDS)

    def load(self, x_step: object) -> WebStep | None:
        if not isinstance(x_step, str) or not _X_STEP.match(x_step):
            return None
        raw = self.store.get(self._key(x_step))
        if raw is None:
            return None
        try:
            return WebStep(**json.loads(raw))
        except (TypeError, ValueError):
            return None

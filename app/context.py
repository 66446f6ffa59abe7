"""What a transport knows about the caller, passed explicitly to services and the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    ip: str = ""
    user_agent: str = ""
    locale: str = "en"
    client_id: str | None = None
    session_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

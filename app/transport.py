"""Helpers shared by the HTTP transports: the request context and JSON bodies."""

from __future__ import annotations

from typing import Any

from flask import request

from app.context import RequestContext
from app.errors import BadRequest


def request_context(**extra: Any) -> RequestContext:
    return RequestContext(
        ip=request.remote_addr or "",
        user_agent=(request.user_agent.string or "")[:1000],
        locale=request.accept_languages.best or "en",
        extra=extra,
    )


def json_body() -> dict[str, Any]:
    """The request's JSON object, or `BadRequest` for anything else."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise BadRequest("InvalidJSON", "request body must be a JSON object")
    return data

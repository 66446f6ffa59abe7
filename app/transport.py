"""Helpers shared by the HTTP transports: the request context and JSON bodies."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from app.config import AppConfig
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


def session_cookie_name(config: AppConfig) -> str:
    """The IdP session cookie: `http.cookie_prefix` + `session` (contract 0.5)."""
    return config.cookie_prefix + "session"


def set_session_cookie(resp: Response, token: str, config: AppConfig) -> None:
    """IdP session cookie: HttpOnly, SameSite=Lax, Secure on https, Max-Age = session lifetime
    unless `session.use_session_cookie`."""
    session_cfg = config.project["session"]
    resp.set_cookie(
        session_cookie_name(config),
        token,
        max_age=None if session_cfg["use_session_cookie"] else session_cfg["lifetime_seconds"],
        domain=config.project["http"].get("cookie_domain") or None,
        path="/",
        secure=config.secure_cookies,
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(resp: Response, config: AppConfig) -> None:
    resp.delete_cookie(
        session_cookie_name(config),
        path="/",
        domain=config.project["http"].get("cookie_domain") or None,
        secure=config.secure_cookies,
        httponly=True,
        samesite="Lax",
    )

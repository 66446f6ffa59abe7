"""Helpers shared by the HTTP transports: request context, JSON bodies, session and flow cookies."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from app.config import AppConfig
from app.context import RequestContext
from app.errors import BadRequest
from app.flows.engine import FlowResult
from app.flows.run import FlowContext
from app.services import services


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


SAME_SITE_STRICT_COOKIE = "same_site_strict"


def session_cookie_name(config: AppConfig) -> str:
    """The IdP session cookie: `http.cookie_prefix` + `session` (contract 0.5)."""
    return config.cookie_prefix + "session"


def set_session_cookie(resp: Response, token: str, config: AppConfig) -> None:
    """IdP session cookie: HttpOnly, SameSite=Lax, Secure on https, Max-Age = session lifetime
    unless `session.use_session_cookie`."""
    session_cfg = config.project["session"]
    max_age = None if session_cfg["use_session_cookie"] else session_cfg["lifetime_seconds"]
    domain = config.project["http"].get("cookie_domain") or None
    resp.set_cookie(
        session_cookie_name(config),
        token,
        max_age=max_age,
        domain=domain,
        path="/",
        secure=config.secure_cookies,
        httponly=True,
        samesite="Lax",
    )
    # Authgear's marker: a browser sends it only on same-site navigations, so end_session may sign
    # out without asking when it arrives (a link on another site cannot).
    resp.set_cookie(
        config.cookie_prefix + SAME_SITE_STRICT_COOKIE,
        "true",
        max_age=max_age,
        domain=domain,
        path="/",
        secure=config.secure_cookies,
        httponly=True,
        samesite="Strict",
    )


def clear_session_cookie(resp: Response, config: AppConfig) -> None:
    domain = config.project["http"].get("cookie_domain") or None
    strict = config.cookie_prefix + SAME_SITE_STRICT_COOKIE
    for name, samesite in ((session_cookie_name(config), "Lax"), (strict, "Strict")):
        resp.delete_cookie(
            name, path="/", domain=domain, secure=config.secure_cookies, httponly=True, samesite=samesite
        )


DEVICE_TOKEN_COOKIE = "mfa_device_token"  # noqa: S105 (a cookie name)


def flow_context() -> FlowContext:
    """The caller as the engine sees it: request facts, its IdP session and remembered device."""
    svc = services()
    cfg = svc.config
    session = svc.sessions.resolve(request.cookies.get(session_cookie_name(cfg)))
    return FlowContext(
        request=request_context(),
        session_id=session.id if session else None,
        session_user_id=session.user_id if session else None,
        device_token=request.cookies.get(cfg.cookie_prefix + DEVICE_TOKEN_COOKIE),
    )


def apply_flow_cookies(resp: Response, result: FlowResult, cfg: AppConfig) -> None:
    """The IdP session cookie when a flow signs the user in; the remembered-device cookie."""
    if result.session_token:
        set_session_cookie(resp, result.session_token, cfg)
    if result.device_token:
        days = cfg.project["authentication"]["device_token"]["expire_in_days"]
        resp.set_cookie(
            cfg.cookie_prefix + DEVICE_TOKEN_COOKIE,
            result.device_token,
            max_age=days * 86400,
            secure=cfg.secure_cookies,
            httponly=True,
            samesite="Lax",
        )

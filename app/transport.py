"""Helpers shared by the HTTP transports: request context, JSON bodies, session and flow cookies."""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from flask import Response, request
from werkzeug.http import parse_options_header

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
    """The request's JSON object (read as `parse_json` does), or `BadRequest` for anything else."""
    data = parse_json(request.get_data(cache=True))
    if not isinstance(data, dict):
        raise BadRequest("InvalidJSON", "request body must be a JSON object")
    return data


# Nesting levels of a request body; flow inputs, admin variables and import records need a handful.
MAX_JSON_DEPTH = 32
# What PostgreSQL text cannot hold: NUL, and UTF-16 surrogates, which in a decoded `str` are always
# lone (JSON's "\ud83d\ude00" pair decodes to one character) and have no UTF-8 form.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_MAX_DOUBLE = int(sys.float_info.max)


def parse_json(raw: bytes) -> Any:
    """A request body as I-JSON (RFC 7493), or `BadRequest/InvalidJSON`: UTF-8 (RFC 8259 section
    8.1), no NaN or Infinity and no number a double cannot hold (section 6), no lone surrogate
    (RFC 7493 section 2.1) or NUL in any string or key, nested at most MAX_JSON_DEPTH levels.
    Refused here, once, such input never reaches a service or the database as a 500."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_not_json, parse_float=_finite, parse_int=_finite_int)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadRequest("InvalidJSON", "request body must be JSON (UTF-8, not nested thousands deep)") from None
    problem = json_problem(data)
    if problem:
        raise BadRequest("InvalidJSON", f"request body contains {problem}")
    return data


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why parsed JSON cannot be taken (nesting deeper than `max_depth`, a NUL character or a lone
    surrogate), or None. Walked iteratively, so no depth exhausts the stack."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, str):
            found = _UNSTORABLE.search(node)
            if found:
                return "a NUL character" if found.group() == "\x00" else "a lone surrogate (not Unicode text)"
        elif isinstance(node, dict | list):
            if level > max_depth:
                return f"values nested deeper than {max_depth} levels"
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return None


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _finite_int(text: str) -> int:
    value = int(text)  # more than 4300 digits: ValueError
    if abs(value) > _MAX_DOUBLE:
        raise ValueError("number out of range")
    return value


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
    """The caller as the engine sees it: request facts, its app or IdP session and remembered device."""
    from app.oidc import app_sessions  # it uses this module's cookie names

    svc = services()
    cfg = svc.config
    app_session = app_sessions.from_cookies(request.cookies)
    if app_session is not None:
        session = app_session.session
    else:
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


# -- requests from browser pages of other origins (login CSRF) ---------------------------------------
def require_json_content_type() -> None:
    """`application/json`, with at most `charset=utf-8`, as Authgear's JSON APIs require
    (`BadRequest/BadRequest`, "request content type is invalid"). No HTML form can send it, so a page
    on another site cannot post a JSON document in a victim's browser (`enctype="text/plain"` can)
    without a CORS preflight, which only `http.allowed_origins` pass."""
    mimetype, params = parse_options_header(request.headers.get("Content-Type", ""))
    charset = {k.lower(): v.lower() for k, v in params.items()}
    if mimetype.lower() != "application/json" or charset not in ({}, {"charset": "utf-8"}):
        raise BadRequest("BadRequest", "request content type is invalid")

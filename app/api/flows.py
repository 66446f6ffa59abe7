"""`/api/v1/authentication_flows`: the Authentication Flow API (contract 6.1), thin over the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app.config import AppConfig
from app.flows.engine import FlowEngine, FlowResult
from app.flows.run import FlowContext
from app.services import services
from app.transport import json_body, request_context, session_cookie_name, set_session_cookie

bp = Blueprint("flows_api", __name__, url_prefix="/api/v1/authentication_flows")

DEVICE_TOKEN_COOKIE = "mfa_device_token"  # noqa: S105 (a cookie name)


def engine() -> FlowEngine:
    return current_app.extensions["gatehouse.flows"]


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


def flow_response(result: FlowResult) -> Response:
    cfg = services().config
    resp = jsonify({"result": result.to_api()})
    apply_flow_cookies(resp, result, cfg)
    return resp


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


@bp.before_request
def _rate_limit_and_preflight() -> Response | None:
    svc = services()
    rule = svc.config.project["authentication_flow"]["rate_limits"]["per_ip"]
    svc.rate_limiter.check("authentication_flow", "AuthflowAPIPerIP", request.remote_addr or "", rule)
    if request.method == "OPTIONS":
        return Response(status=204)
    return None


@bp.after_request
def _cors(resp: Response) -> Response:
    """CORS only for `http.allowed_origins` (a custom UI on another origin)."""
    origin = request.headers.get("Origin")
    allowed = services().config.project["http"]["allowed_origins"]
    if origin and origin in allowed:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Credentials"] = "true"
        resp.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = "Content-Type"
        resp.headers["Vary"] = "Origin"
    return resp


def _handle(call: Callable[[dict[str, Any], FlowContext], FlowResult]) -> Response:
    return flow_response(call(json_body(), flow_context()))


@bp.route("", methods=["POST", "OPTIONS"])
def create() -> Response:
    return _handle(engine().create)


@bp.route("/states/input", methods=["POST", "OPTIONS"])
def input_() -> Response:
    return _handle(engine().input_request)


@bp.route("/states", methods=["POST", "OPTIONS"])
def get_state() -> Response:
    return _handle(engine().get)

"""`/api/v1/authentication_flows`: the Authentication Flow API (contract 6.1), thin over the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app.cross_origin import check_cross_origin
from app.errors import TooManyRequest
from app.flows.engine import FlowEngine, FlowResult
from app.flows.run import FlowContext
from app.services import services
from app.transport import apply_flow_cookies, flow_context, json_body, require_json_content_type

bp = Blueprint("flows_api", __name__, url_prefix="/api/v1/authentication_flows")


def engine() -> FlowEngine:
    return current_app.extensions["gatehouse.flows"]


@bp.before_request
def _rate_limit_preflight_and_origin() -> Response | None:
    svc = services()
    rule = svc.config.project["authentication_flow"]["rate_limits"]["per_ip"]
    try:
        svc.rate_limiter.check(None, "AuthflowAPIPerIP", request.remote_addr or "", rule)
    except TooManyRequest:
        # Authgear's RateLimitMiddleware answers a plain TooManyRequest, without rate limit info.
        raise TooManyRequest("TooManyRequest", "Reach Rate Limit") from None
    if request.method == "OPTIONS":
        return Response(status=204)
    # A flow that finishes sets the IdP session cookie: a page of another site must not be able to
    # run one in a victim's browser (login CSRF). Custom UIs on allowed origins use CORS.
    require_json_content_type()
    check_cross_origin(_trusted_origins())
    return None


def _trusted_origins() -> list[str]:
    """The public origin (when a proxy rewrites Host) and `http.allowed_origins`."""
    cfg = services().config
    return [cfg.public_origin, *cfg.project["http"]["allowed_origins"]]


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


def flow_response(result: FlowResult) -> Response:
    cfg = services().config
    resp = jsonify({"result": result.to_api()})
    apply_flow_cookies(resp, result, cfg)
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

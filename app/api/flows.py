"""`/api/v1/authentication_flows`: the Authentication Flow API (contract 6.1), thin over the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from app.api import json_api
from app.flows.engine import FlowEngine, FlowResult
from app.flows.run import FlowContext
from app.services import services
from app.transport import apply_flow_cookies, flow_context, json_body

bp = Blueprint("flows_api", __name__, url_prefix="/api/v1/authentication_flows")


def engine() -> FlowEngine:
    return current_app.extensions["gatehouse.flows"]


@bp.before_request
def _guard() -> Response | None:
    # Authgear's AuthowAPIPerIP, from `authentication_flow.rate_limits.per_ip`.
    return json_api.guard("AuthflowAPIPerIP", services().config.project["authentication_flow"]["rate_limits"]["per_ip"])


bp.after_request(json_api.cors)


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

"""Endpoints Authgear's SDKs call besides OAuth's own (contract 1.8, 1.9): `/oauth2/app_session_token`
and `/oauth2/challenge`. JSON in, `{"result": ...}` out, CORS for the allowed origins."""

from __future__ import annotations

from flask import Response, jsonify, request

from app.errors import AppError, error_response
from app.extensions import csrf, db
from app.flows.inputs import closed_obj, validate
from app.oidc.app_session_tokens import AppSessionTokens
from app.oidc.blueprint import bp, with_cors
from app.oidc.challenges import PURPOSES, Challenges
from app.oidc.provider import oidc_provider
from app.transport import json_body

APP_SESSION_TOKEN_SCHEMA = closed_obj({"refresh_token": {"type": "string"}}, ["refresh_token"])
CHALLENGE_SCHEMA = closed_obj({"purpose": {"type": "string", "enum": list(PURPOSES)}}, ["purpose"])


def _rfc3339(value: object) -> str:
    return value.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


@bp.route("/oauth2/app_session_token", methods=["POST", "OPTIONS"])
@csrf.exempt
def app_session_token() -> Response:
    provider = oidc_provider()
    if request.method == "OPTIONS":
        return with_cors(Response(status=204), provider)
    try:
        body = json_body()
        validate(body, APP_SESSION_TOKEN_SCHEMA)
        token, expire_at = AppSessionTokens(provider).issue(body["refresh_token"])
    except AppError as error:
        # A reused refresh token has just revoked its grant: that stays, whatever the answer.
        db.session.commit()
        return with_cors(error_response(error), provider)
    db.session.commit()
    return with_cors(jsonify({"result": {"app_session_token": token, "expire_at": _rfc3339(expire_at)}}), provider)


@bp.route("/oauth2/challenge", methods=["POST", "OPTIONS"])
@csrf.exempt
def challenge() -> Response:
    provider = oidc_provider()
    if request.method == "OPTIONS":
        return with_cors(Response(status=204), provider)
    try:
        body = json_body()
        validate(body, CHALLENGE_SCHEMA)
    except AppError as error:
        return with_cors(error_response(error), provider)
    token, expire_at = Challenges(provider.svc.store, provider.clock).create(body["purpose"])
    return with_cors(jsonify({"result": {"token": token, "expire_at": _rfc3339(expire_at)}}), provider)

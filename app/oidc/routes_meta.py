"""Discovery (contract 1.2) and the key set (contract 1.1): public, cacheable, CORS `*`."""

from __future__ import annotations

from flask import Response, jsonify, request

from app.oidc.blueprint import bp, with_cors
from app.oidc.discovery import discovery_document
from app.oidc.provider import oidc_provider


@bp.route("/.well-known/openid-configuration", methods=["GET", "OPTIONS"])
@bp.route("/.well-known/oauth-authorization-server", methods=["GET", "OPTIONS"])
def discovery() -> Response:
    provider = oidc_provider()
    resp = Response(status=204) if request.method == "OPTIONS" else jsonify(discovery_document(provider.issuer))
    return with_cors(resp, provider, any_origin=True)


@bp.route("/oauth2/jwks", methods=["GET", "OPTIONS"])
def jwks() -> Response:
    provider = oidc_provider()
    resp = Response(status=204) if request.method == "OPTIONS" else jsonify(provider.keys.public_jwks())
    return with_cors(resp, provider, any_origin=True)

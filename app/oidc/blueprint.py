"""The OIDC blueprint: built once per app, with the CORS rules of its JSON endpoints."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState

from app.oidc.provider import EXTENSION_KEY, OIDCProvider
from app.oidc.server import GatehouseAuthorizationServer

bp = Blueprint("oidc", __name__)
SERVER_KEY = "gatehouse_oidc_server"


@bp.record_once
def _build(state: BlueprintSetupState) -> None:
    provider = OIDCProvider(state.app.extensions["gatehouse"])
    state.app.extensions[EXTENSION_KEY] = provider
    state.app.extensions[SERVER_KEY] = GatehouseAuthorizationServer(provider)


def authorization_server() -> GatehouseAuthorizationServer:
    return current_app.extensions[SERVER_KEY]


def _origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def allowed_origins(provider: OIDCProvider) -> set[str]:
    """`http.allowed_origins` plus the origins of registered redirect URIs and custom UIs: a SPA
    calls the token, userinfo and revoke endpoints from its own origin."""
    origins = set(provider.config.project["http"].get("allowed_origins") or [])
    for client in provider.clients.all():
        for uri in [*client.redirect_uris, client.custom_ui_uri or ""]:
            origin = _origin(uri)
            if origin:
                origins.add(origin)
    return origins


def with_cors(resp: Response, provider: OIDCProvider, any_origin: bool = False) -> Response:
    """CORS headers for a request from an allowed origin (or any origin for public metadata)."""
    origin = request.headers.get("Origin")
    if any_origin:
        resp.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in allowed_origins(provider):
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Credentials"] = "true"
        resp.headers.add("Vary", "Origin")
    else:
        return resp
    if request.method == "OPTIONS":
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, DPoP"
        resp.headers["Access-Control-Max-Age"] = "900"
    return resp

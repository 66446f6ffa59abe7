"""What Authgear's cookie-carrying JSON APIs under `/api` share (the Authentication Flow API and the
Account Management API; the anonymous user API takes the CORS part): a per-IP rate limit answered
as Authgear's RateLimitMiddleware answers it (`TooManyRequest` "Reach Rate Limit", no rate limit
info), CORS preflights, `application/json` only and no request from a page of another origin unless
`http.allowed_origins` trusts it (login CSRF), and CORS headers for those origins."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from app.cross_origin import check_cross_origin
from app.errors import TooManyRequest
from app.services import services
from app.transport import require_json_content_type


def guard(bucket: str, rule: dict[str, Any] | None) -> Response | None:
    """A blueprint's `before_request`: the checks above; a preflight is answered here."""
    svc = services()
    try:
        svc.rate_limiter.check(None, bucket, request.remote_addr or "", rule)
    except TooManyRequest:
        raise TooManyRequest("TooManyRequest", "Reach Rate Limit") from None
    if request.method == "OPTIONS":
        return Response(status=204)
    require_json_content_type()
    cfg = svc.config
    check_cross_origin([cfg.public_origin, *cfg.project["http"]["allowed_origins"]])
    return None


def cors(resp: Response) -> Response:
    """A blueprint's `after_request`: CORS only for `http.allowed_origins` (a UI on another origin)."""
    origin = request.headers.get("Origin")
    allowed = services().config.project["http"]["allowed_origins"]
    if origin and origin in allowed:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Credentials"] = "true"
        resp.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        # The SDKs send their access token and a DPoP proof (when the browser can make one).
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, DPoP"
        resp.headers["Vary"] = "Origin"
    return resp

"""Typed errors and the one place where they become HTTP responses (contract section 0.2).

Domain code raises an `AppError` subclass with Authgear's `name`/`reason`. `register_error_handlers`
turns any error into `{"error": {name, reason, message, code, info}}` for JSON callers or into the
error page for browsers. Unknown exceptions become `InternalError` without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

STATUS_BY_NAME = {
    "BadRequest": 400,
    "Invalid": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "AlreadyExists": 409,
    "DataRace": 409,
    "RequestEntityTooLarge": 413,
    "TooManyRequest": 429,
    "InternalError": 500,
    "ServiceUnavailable": 503,
}


class AppError(Exception):
    """An error a client may see: Authgear's `name` (which sets the status) and `reason`."""

    name = "InternalError"

    def __init__(self, reason: str, message: str | None = None, info: dict[str, Any] | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason
        self.info = info or {}

    @property
    def status(self) -> int:
        return STATUS_BY_NAME[self.name]

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "reason": self.reason,
            "message": self.message,
            "code": self.status,
        }
        if self.info:
            body["info"] = self.info
        return body


class BadRequest(AppError):
    name = "BadRequest"


class Invalid(AppError):
    name = "Invalid"


class Unauthorized(AppError):
    name = "Unauthorized"


class Forbidden(AppError):
    name = "Forbidden"


class NotFound(AppError):
    name = "NotFound"


class AlreadyExists(AppError):
    name = "AlreadyExists"


class RequestEntityTooLarge(AppError):
    name = "RequestEntityTooLarge"


class TooManyRequest(AppError):
    name = "TooManyRequest"


class InternalError(AppError):
    name = "InternalError"


class ServiceUnavailable(AppError):
    name = "ServiceUnavailable"


class ValidationFailed(Invalid):
    """Input failed its schema; `causes` are `{location: JSON pointer, kind, details}`."""

    def __init__(self, causes: list[dict[str, Any]], message: str = "invalid request body") -> None:
        super().__init__("ValidationFailed", message, {"causes": causes})


class InvariantViolated(Invalid):
    """A rule of the data model would break; `kind` says which (e.g. DuplicatedIdentity)."""

    def __init__(self, kind: str, message: str | None = None) -> None:
        super().__init__("InvariantViolated", message or kind, {"cause": {"kind": kind}})
        self.kind = kind


def duplicated_identity() -> InvariantViolated:
    return InvariantViolated("DuplicatedIdentity", "identity already exists")


def wants_json() -> bool:
    """JSON envelope for API paths and JSON callers; the HTML error page for browsers."""
    path = request.path
    if path.startswith(("/api/", "/_api/", "/oauth2/", "/healthz", "/_resolver/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.is_json


def error_response(error: AppError) -> Response:
    if wants_json():
        resp = jsonify({"error": error.to_dict()})
    else:
        resp = Response(render_template("error.html", error=error), mimetype="text/html")
    resp.status_code = error.status
    return resp


def _from_http_exception(exc: HTTPException) -> AppError:
    code = exc.code or 500
    if code == 413:
        return RequestEntityTooLarge("JSONTooLarge", "request body too large")
    if code == 404:
        return NotFound("NotFound", "not found")
    if code == 405:
        return BadRequest("MethodNotAllowed", "method not allowed")
    if code == 429:
        return TooManyRequest("RateLimited", "too many requests")
    if code >= 500:
        return InternalError("UnexpectedError", "unexpected error")
    if code == 401:
        return Unauthorized("NotAuthenticated", "not authenticated")
    if code == 403:
        return Forbidden("Forbidden", "forbidden")
    return BadRequest("BadRequest", exc.description or "bad request")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(exc: AppError) -> Response:
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return error_response(_from_http_exception(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(InternalError("UnexpectedError", "unexpected error"))

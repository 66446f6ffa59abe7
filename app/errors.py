"""Typed errors and the one place where they become HTTP responses (contract section 0.2).

Domain code raises an `AppError` subclass with Authgear's `name`/`reason`. `register_error_handlers`
turns any error into `{"error": {name, reason, message, code, info}}` for JSON callers or into the
error page for browsers. Unknown exceptions become `InternalError` without internals, except that
a dependency that cannot be reached (PostgreSQL or Redis refusing, dropping or not answering within
its timeout) is `ServiceUnavailable` with a `Retry-After` header: a client may try again, and a load
balancer may send the request elsewhere.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import redis
import sqlalchemy.exc
from flask import Flask, Response, jsonify, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from app.dbtimeouts import DatabaseTimeout

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying a 503 (RFC 9110 section 10.2.3).
RETRY_AFTER_SECONDS = 5
# A dependency that cannot be reached, as its client library says it (SQLAlchemy wraps the driver's
# errors; OperationalError is the DBAPI's class for connection failures, timeouts and cancels).
_DATABASE_OUTAGES = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no free pooled connection within pool_timeout
    psycopg.OperationalError,
    DatabaseTimeout,
)
_REDIS_OUTAGES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

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


class InputSchemaInvalid(ValidationFailed):
    """An input that fails its JSON schema. Authgear checks the schema before a flow reacts to the
    input, so unlike the errors of the reaction it carries no `info.FlowType`."""


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
        resp = Response(_error_page(error), mimetype="text/html")
    resp.status_code = error.status
    if error.status == 503:
        resp.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return resp


def _error_page(error: AppError) -> str:
    try:
        return render_template("error.html", error=error)
    except Exception:
        # The page's chrome may need what is down (a pending authorization request in Redis).
        log.exception("the error page for %s could not be rendered", error.name)
        return f"<!doctype html><title>{escape(error.name)}</title><p>{escape(error.message)}</p>"


def unavailable_dependency(exc: BaseException | None) -> str | None:
    """The dependency ("database" or "redis") that `exc`, or an error it was raised from, says
    cannot be reached; None when it says no such thing."""
    for _ in range(10):  # a chain of causes is short; never loop on a cyclic one
        if exc is None:
            return None
        if isinstance(exc, _REDIS_OUTAGES):
            return "redis"
        if isinstance(exc, _DATABASE_OUTAGES):
            return "database"
        if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
            return "database"
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return None


def _outage(exc: BaseException) -> ServiceUnavailable | None:
    dependency = unavailable_dependency(exc)
    if dependency is None:
        return None
    # The driver's message names hosts and ports: logged, never sent to the client.
    log.warning("%s unavailable on %s %s: %s: %s", dependency, request.method, request.path, type(exc).__name__, exc)
    return ServiceUnavailable("DependencyUnavailable", "a service this request needs is unavailable, try again later")


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
        original = exc.original_exception if isinstance(exc, InternalServerError) else None
        outage = _outage(original) if original is not None else None
        return outage or InternalError("UnexpectedError", "unexpected error")
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
        outage = _outage(exc)
        if outage is not None:
            return error_response(outage)
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(InternalError("UnexpectedError", "unexpected error"))

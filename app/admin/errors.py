"""The one place where errors become GraphQL `errors[]` entries (contract 3.1).

`AppError` → `{message, locations, path, extensions: {errorName, reason, info?}}` with Authgear's
name and reason. Syntax and validation errors of the document are `BadRequest/InvalidQuery`.
Anything else that escapes a resolver is logged and shown as `InternalError/UnexpectedError`
without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify
from graphql import GraphQLError

from app.errors import AppError

log = logging.getLogger(__name__)


def _extensions(error: AppError) -> dict[str, Any]:
    ext: dict[str, Any] = {"errorName": error.name, "reason": error.reason}
    if error.info:
        ext["info"] = error.info
    return ext


def _original(error: GraphQLError) -> BaseException | None:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        out["path"] = list(error.path)
    original = _original(error)
    if isinstance(original, AppError):
        out["message"] = original.message
        out["extensions"] = _extensions(original)
    elif error.path is None:
        # Parsing, validation and variable coercion: the request itself is wrong.
        out["extensions"] = {"errorName": "BadRequest", "reason": "InvalidQuery"}
    else:
        if original is not None:
            log.error("admin graphql resolver failed", exc_info=original)
        else:
            log.error("admin graphql execution error: %s", error.message)
        out["message"] = "unexpected error"
        out["extensions"] = {"errorName": "InternalError", "reason": "UnexpectedError"}
    return out


def request_error(error: AppError) -> Response:
    """A request that never reached execution (bad body, wrong content type, too large)."""
    resp = jsonify({"errors": [{"message": error.message, "extensions": _extensions(error)}]})
    resp.status_code = error.status
    return resp

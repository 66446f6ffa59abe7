"""Blueprint: the Admin GraphQL endpoint at `/_api/admin/graphql` and `/graphql` (contract 0.1, 3.1).

POST runs a document (`application/json` body `{query, variables, operationName}`, or the
document itself as `application/graphql`) for a caller holding an admin JWT, inside one database
transaction that commits only when the response has no errors. GET serves a query console
(templates/admin/graphiql.html, static/admin/); the page holds no data, every request needs the JWT.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge as TooLarge

from app.admin.auth import AdminAuthenticator, AdminAuthError
from app.admin.context import AdminContext
from app.admin.engine import AdminGraphQL
from app.admin.errors import request_error
from app.admin.resolvers import build_schema
from app.errors import AppError, BadRequest, RequestEntityTooLarge
from app.extensions import db
from app.services import services
from app.transport import json_problem, request_context

log = logging.getLogger(__name__)

bp = Blueprint("admin_graphql", __name__)
PATHS = ("/_api/admin/graphql", "/graphql")
GRAPHQL_MIMETYPES = ("application/json", "application/graphql")

_engine: AdminGraphQL | None = None


def engine() -> AdminGraphQL:
    """One schema and document cache per process (the schema does not depend on the project)."""
    global _engine
    if _engine is None:
        _engine = AdminGraphQL(build_schema())
    return _engine


def authenticator(app: Flask) -> AdminAuthenticator:
    auth = app.extensions.get("gatehouse_admin_auth")
    if auth is None:
        cfg = app.extensions["gatehouse"].config
        auth = AdminAuthenticator(cfg.secrets.get("admin-api.auth", {}), cfg.project["id"], lambda: int(time.time()))
        app.extensions["gatehouse_admin_auth"] = auth
    return auth


def forbidden() -> Response:
    return Response("Forbidden", status=403, mimetype="text/plain")


def _body() -> dict[str, Any]:
    """`{query, variables, operationName}` of the request, or `BadRequest`."""
    if request.mimetype not in GRAPHQL_MIMETYPES:
        raise BadRequest("UnsupportedContentType", "Content-Type must be application/json or application/graphql")
    try:
        raw = request.get_data(cache=True)
    except TooLarge:
        raise RequestEntityTooLarge("JSONTooLarge", "request body too large") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("InvalidJSON", "request body must be UTF-8") from None
    if request.mimetype == "application/graphql":
        data: Any = {"query": text}
    else:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise BadRequest("InvalidJSON", "request body must be JSON (and not nested thousands deep)") from None
    if not isinstance(data, dict):
        raise BadRequest("InvalidJSON", "request body must be a JSON object")
    query, variables, operation = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("InvalidQuery", "query must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("InvalidQuery", "variables must be an object")
    if operation is not None and not isinstance(operation, str):
        raise BadRequest("InvalidQuery", "operationName must be a string")
    # PostgreSQL text holds neither NUL nor lone surrogates; refusing them here keeps them out of
    # every query. GraphQL's parser refuses surrogate escapes itself, not "\u0000" or "\u{0}".
    body = {"query": query, "variables": variables, "operationName": operation}
    problem = "a NUL character" if _NUL_ESCAPE.search(query) else json_problem(body)
    if problem:
        raise BadRequest("InvalidQuery", f"the request contains {problem}")
    return body


_NUL_ESCAPE = re.compile(r"\\u(?:0000|\{0+\})")


def query_console() -> Response:
    """A small query console (GraphiQL's bundle is too large to vendor): same-origin script and
    style only, so the app's strict Content-Security-Policy applies unchanged."""
    return Response(render_template("admin/graphiql.html"), mimetype="text/html")


def execute() -> Response:
    try:
        claims = authenticator(current_app).verify(request.headers.get("Authorization"))
    except AdminAuthError as exc:
        log.info("admin API request refused: %s", exc)
        return forbidden()
    try:
        data = _body()
    except AppError as exc:
        return request_error(exc)
    audit_context = claims.get("audit_context")
    ctx = AdminContext(
        services=services(),
        request=request_context(triggered_by="admin_api"),  # event context of hooks
        audit_context=audit_context if isinstance(audit_context, dict) else None,
    )
    try:
        body, ok = engine().execute(data["query"], data["variables"], data["operationName"], ctx)
        if ok:
            db.session.commit()
        else:
            db.session.rollback()
    except BaseException:
        db.session.rollback()
        raise
    resp = current_app.response_class(json.dumps(body, separators=(",", ":")), mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.errorhandler(AppError)
def _app_error(exc: AppError) -> Response:
    # Errors raised before the view runs (the app's 1 MiB body cap) keep this API's error shape.
    return request_error(exc)


def _endpoint() -> Response:
    if request.method == "GET":
        return query_console()
    return execute()


for _path in PATHS:
    bp.add_url_rule(_path, endpoint=f"graphql{_path.replace('/', '_')}", view_func=_endpoint, methods=["GET", "POST"])

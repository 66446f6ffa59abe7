"""Blueprint: the User Import and Export APIs (contract 4 and 5) on the admin paths.

POST   /_api/admin/users/import           start an import  -> {"result": Response}
GET    /_api/admin/users/import/<id>      its status        (NotFound/TaskNotFound when unknown or expired)
POST   /_api/admin/users/export           start an export
GET    /_api/admin/users/export/<id>      its status, with a fresh download URL valid 60 seconds
GET    /_api/admin/users/export/files/<name>?expires=..&signature=..   the file (signed URL, no JWT)

The first four need the Admin API JWT (contract 3.1); without a valid one the answer is a plain
text 403 `Forbidden`. Errors are the JSON envelope of contract 0.2. This module is thin: request
checks and responses here, the work in `app.jobs`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_file
from redis.exceptions import RedisError
from werkzeug.exceptions import RequestEntityTooLarge as TooLarge

from app.admin.auth import AdminAuthenticator, AdminAuthError
from app.errors import Forbidden, NotFound, RequestEntityTooLarge
from app.extensions import db
from app.jobs import user_export, user_import
from app.jobs.runner import get_runner
from app.jobs.storage import export_storage, valid_key
from app.services import services
from app.transport import parse_json

log = logging.getLogger(__name__)

bp = Blueprint("admin_bulk", __name__, url_prefix="/_api/admin/users")
CONTENT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv"}


def _authenticator(app: Flask) -> AdminAuthenticator:
    auth = app.extensions.get("gatehouse.admin_bulk.auth")
    if auth is None:
        cfg = app.extensions["gatehouse"].config
        auth = AdminAuthenticator(cfg.secrets.get("admin-api.auth", {}), cfg.project["id"], lambda: int(time.time()))
        app.extensions["gatehouse.admin_bulk.auth"] = auth
    return auth


@bp.before_request
def _require_admin() -> Response | None:
    if request.endpoint == "admin_bulk.download":
        return None  # authorized by its signature instead
    try:
        _authenticator(current_app._get_current_object()).verify(request.headers.get("Authorization"))  # type: ignore[attr-defined]
    except AdminAuthError as exc:
        log.info("admin bulk API refused: %s", exc)
        return Response("Forbidden", status=403, mimetype="text/plain")
    return None


def _json_body(limit: int) -> Any:
    """The parsed JSON body, after checking it is at most `limit` bytes."""
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge("JSONTooLarge", "request body too large")
    try:
        raw = request.get_data(cache=False)
    except TooLarge:
        raise RequestEntityTooLarge("JSONTooLarge", "request body too large") from None
    if len(raw) > limit:
        raise RequestEntityTooLarge("JSONTooLarge", "request body too large")
    # What the job rows cannot hold (NaN, NUL, lone surrogates, deep nesting) is refused there.
    return parse_json(raw)


def _result(payload: dict[str, Any]) -> Response:
    return jsonify({"result": payload})


@bp.post("/import")
def create_import() -> Response:
    svc = services()
    body = _json_body(user_import.MAX_BODY_BYTES)
    user_import.validate_request(body, svc)
    job = user_import.create_job(svc, body)
    db.session.commit()
    try:
        user_import.start_job(get_runner(current_app._get_current_object()), job)  # type: ignore[attr-defined]
    except RedisError as exc:
        _enqueue_failed(job.id, exc)
    return _result(user_import.import_status(job.id, svc.clock()))


def _enqueue_failed(task_id: str, exc: Exception) -> None:
    """The job is committed, so it is accepted: answering an error would make the client's retry
    a second job. A worker's recovery round enqueues it once Redis answers again."""
    log.warning("%s is accepted but could not be queued (%s); recovery will queue it", task_id, exc)


@bp.get("/import/<job_id>")
def get_import(job_id: str) -> Response:
    get_runner(current_app._get_current_object())  # type: ignore[attr-defined]  # embedded: starts recovery
    return _result(user_import.import_status(job_id, services().clock()))


@bp.post("/export")
def create_export() -> Response:
    svc = services()
    body = _json_body(user_import.MAX_BODY_BYTES)
    export_request = user_export.validate_request(body)
    task = user_export.create_export(svc, export_request)
    db.session.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        user_export.start_export(get_runner(app), task)
    except RedisError as exc:
        _enqueue_failed(task.id, exc)
    return _result(user_export.export_status(task.id, svc.clock(), export_storage(app)))


@bp.get("/export/<task_id>")
def get_export(task_id: str) -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    get_runner(app)
    return _result(user_export.export_status(task_id, services().clock(), export_storage(app)))


@bp.get("/export/files/<name>")
def download(name: str) -> Response:
    """A signed URL handed out by the export status (like an object store's presigned GET)."""
    storage = export_storage(current_app._get_current_object())  # type: ignore[attr-defined]
    expires = request.args.get("expires", "")
    signature = request.args.get("signature", "")
    if not valid_key(name) or not storage.signer.verify(name, expires, signature, services().clock()):
        raise Forbidden("InvalidSignature", "the download URL is invalid or has expired")
    if not storage.exists(name):
        raise NotFound("ResourceNotFound", "the file no longer exists")
    fmt = name.rsplit(".", 1)[-1]
    resp = send_file(
        storage.open(name),
        mimetype=CONTENT_TYPES.get(fmt, "application/octet-stream"),
        as_attachment=True,
        download_name=name,
        max_age=0,
    )
    resp.headers["Cache-Control"] = "private, no-store"
    return resp

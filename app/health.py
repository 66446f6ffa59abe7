"""`GET /healthz`: 200 when the database and Redis answer, 503 naming what is down.

`GET /healthz/live`: liveness only, 200 while the process serves requests; it touches neither the
database nor Redis, so an orchestrator does not restart web nodes when a dependency is down (and the
benchmarks use it as the do-nothing baseline of the same app)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ServiceUnavailable
from app.extensions import db
from app.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    state = {"database": "ok", "redis": "ok" if services().config.redis_url else "disabled"}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        state["database"] = "unavailable"
    if services().config.redis_url and not services().store.ping():
        state["redis"] = "unavailable"
    if "unavailable" in state.values():
        raise ServiceUnavailable("DependencyUnavailable", "a dependency is unavailable", state)
    return jsonify({"result": state})


@bp.get("/healthz/live")
def live() -> Response:
    return jsonify({"result": {"status": "ok"}})

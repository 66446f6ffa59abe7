"""`GET /healthz`: 200 when the database and Redis answer, 503 naming what is down."""

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

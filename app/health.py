"""`GET /healthz`: 200 when the database and Redis answer, 503 naming what is down.

It answers within `CHECK_TIMEOUT` whatever the dependencies do: each check runs in a thread of its
own and is waited for that long at most, so a database or Redis that does not answer at all (a hung
server, a black-holed network) reads as unavailable instead of holding the probe. A check still
running from an earlier probe is waited for again rather than started a second time, so probes
during an outage never pile up threads.

`GET /healthz/live`: liveness only, 200 while the process serves requests; it touches neither the
database nor Redis, so an orchestrator does not restart web nodes when a dependency is down (and the
benchmarks use it as the do-nothing baseline of the same app)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.dbtimeouts import bounded_waits
from app.errors import ServiceUnavailable
from app.extensions import db
from app.services import services

bp = Blueprint("health", __name__)

CHECK_TIMEOUT = 1.5  # seconds: below the 2 s an orchestrator's probe should allow
_EXTENSION_KEY = "gatehouse.health"


class _Checks:
    """The checks in flight of one app, one at most per dependency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Future[bool]] = {}

    def start(self, name: str, check: Callable[[], bool]) -> Future[bool]:
        with self._lock:
            running = self._running.get(name)
            if running is not None and not running.done():
                return running
            future: Future[bool] = Future()
            self._running[name] = future
        threading.Thread(target=_run, args=(future, check), name=f"gatehouse-health-{name}", daemon=True).start()
        return future


def _run(future: Future[bool], check: Callable[[], bool]) -> None:
    try:
        future.set_result(check())
    except Exception as exc:  # noqa: BLE001 (any failure of a check means: unavailable)
        future.set_exception(exc)


def _database(engine: Engine) -> Callable[[], bool]:
    def check() -> bool:
        with bounded_waits(CHECK_TIMEOUT), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    return check


@bp.get("/healthz")
def healthz() -> Response:
    deadline = time.monotonic() + CHECK_TIMEOUT
    checks: _Checks = current_app.extensions.setdefault(_EXTENSION_KEY, _Checks())
    store = services().store
    running = {"database": checks.start("database", _database(db.engine))}
    if services().config.redis_url:
        running["redis"] = checks.start("redis", store.ping)
    state = {"database": "ok", "redis": "ok" if services().config.redis_url else "disabled"}
    for name, future in running.items():
        try:
            ok = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 (a failed or unfinished check: unavailable)
            ok = False
        if not ok:
            state[name] = "unavailable"
    if "unavailable" in state.values():
        raise ServiceUnavailable("DependencyUnavailable", "a dependency is unavailable", state)
    return jsonify({"result": state})


@bp.get("/healthz/live")
def live() -> Response:
    return jsonify({"result": {"status": "ok"}})

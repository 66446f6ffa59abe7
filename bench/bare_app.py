"""The floor under the app's own floor: a bare Flask app answering `GET /healthz/live` with the same
JSON as Gatehouse, served by the same server and workers (bench/resolver.py). What Gatehouse adds to
every request (hooks, session, headers) is the gap between the two."""

from __future__ import annotations

from flask import Flask, Response, jsonify


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz/live")
    def live() -> Response:
        return jsonify({"result": {"status": "ok"}})

    return app

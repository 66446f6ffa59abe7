"""Login throughput with one non-blocking webhook handler (every event) next to none.

Embedded stack (SQLite in a temporary project, jobs in threads of this process), one client
thread: each login is the Flow API's one-request login (identify + password), which writes the
`user.authenticated` event's delivery task in the login's transaction and, after the commit,
hands it to the job thread that POSTs it (signed) to a local receiver.

    .venv/bin/python bench/hooks.py [--logins 200]
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from app.config import AppConfig, validate_project  # noqa: E402
from app.extensions import db  # noqa: E402
from app.project_files import complete_secrets  # noqa: E402

FLOWS = "/api/v1/authentication_flows"
PASSWORD = "Bench-hooks-1234"
received = 0


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        global received
        self.rfile.read(int(self.headers["Content-Length"]))
        received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def build(directory: Path, hook: dict[str, Any]) -> Any:
    project, unimplemented = validate_project(
        {
            "id": "bench-hooks",
            "http": {"public_origin": "http://localhost:3000"},
            "identity": {"login_id": {"keys": [{"key": "username", "type": "username"}]}},
            "authentication": {
                "identities": ["login_id"],
                "secondary_authentication_mode": "disabled",
                # Off, as in bench/harness.py: they exist to stop exactly this.
                "rate_limits": {
                    "general": {"per_ip": {"enabled": False}, "per_user_per_ip": {"enabled": False}},
                    "account_enumeration": {"per_ip": {"enabled": False}},
                },
            },
            "authentication_flow": {"rate_limits": {"per_ip": {"enabled": False}}},
            "hook": hook,
        }
    )
    items, _ = complete_secrets([], [])
    secrets_ = {i["key"]: i["data"] for i in items}
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    secrets_["webhook"] = {"keys": [{"kty": "oct", "k": key}]}
    config = AppConfig(
        project=project,
        secrets=secrets_,
        database_url=f"sqlite:///{directory / 'bench.sqlite'}",
        config_dir=directory,
        unimplemented_keys=unimplemented,
    )
    app = create_app(config)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


def run(app: Any, logins: int, users: int = 20) -> float:
    with app.app_context():
        svc = app.extensions["gatehouse"]
        for i in range(users):
            user = svc.users.create_user([("username", f"bench{i}")])
            svc.passwords.create(user.id, PASSWORD)
        db.session.commit()
    client = app.test_client()
    started = time.perf_counter()
    for i in range(logins):
        batch = [
            {"identification": "username", "login_id": f"bench{i % users}"},
            {"authentication": "primary_password", "password": PASSWORD},
        ]
        resp = client.post(FLOWS, json={"type": "login", "name": "default", "batch_input": batch})
        assert resp.status_code == 200, resp.get_json()
    return logins / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=200)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/events"
    results = {}
    for name, hook in (
        ("no handler", {}),
        ("one non-blocking handler (*)", {"non_blocking_handlers": [{"events": ["*"], "url": url}]}),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = run(build(Path(tmp), hook), args.logins)
    deadline = time.monotonic() + 30
    expected = args.logins + 20  # user.authenticated per login, user.created per seeded user
    while received < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    for name, rate in results.items():
        print(f"{name:32s} {rate:7.1f} logins/s")
    print(f"events delivered: {received} of {expected} (user.created and user.authenticated)")


if __name__ == "__main__":
    main()

"""examples/nginx/gatehouse.conf with real nginx: auth_request to the resolver in front of an upstream."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from app.extensions import db

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nginx" / "gatehouse.conf"

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx-light is installed by .ci/run")


class EchoHeaders(BaseHTTPRequestHandler):
    """The protected app: answers with the X-Authgear-* headers it received."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        seen = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-authgear-")}
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gateway(resolver_app, tmp_path):
    gatehouse = make_server("127.0.0.1", 0, resolver_app, threaded=True)
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), EchoHeaders)
    for server in (gatehouse, upstream):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    port = _free_port()
    conf = (
        EXAMPLE.read_text()
        .replace("127.0.0.1:3000", f"127.0.0.1:{gatehouse.server_port}")
        .replace("127.0.0.1:8080", f"127.0.0.1:{upstream.server_address[1]}")
        .replace("listen 127.0.0.1:8000", f"listen 127.0.0.1:{port}")
    )
    (tmp_path / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            break
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        gatehouse.shutdown()
        upstream.shutdown()


def test_nginx_passes_the_resolvers_headers_to_the_upstream(gateway, issuer, resolver_app):
    user_id = issuer.user()
    session_id, cookie = issuer.session(user_id, amr=("pwd",))
    bearer = issuer.access_token(user_id, session_id)

    anonymous = requests.get(gateway, headers={"X-Authgear-User-Id": "spoofed"}, timeout=5).json()
    assert anonymous.get("x-authgear-user-id", "") == ""
    assert anonymous.get("x-authgear-session-valid", "") == ""

    by_cookie = requests.get(gateway, cookies={"session": cookie}, timeout=5).json()
    assert by_cookie["x-authgear-session-valid"] == "true"
    assert by_cookie["x-authgear-user-id"] == user_id
    assert by_cookie["x-authgear-session-amr"] == "pwd"

    by_bearer = requests.get(gateway, headers={"Authorization": f"Bearer {bearer}"}, timeout=5).json()
    assert by_bearer["x-authgear-session-valid"] == "true"
    assert by_bearer["x-authgear-user-id"] == user_id

    with resolver_app.app_context():
        resolver_app.extensions["gatehouse"].sessions.revoke(session_id)
        db.session.commit()
    revoked = requests.get(gateway, cookies={"session": cookie}, timeout=5).json()
    assert revoked["x-authgear-session-valid"] == "false"
    assert revoked.get("x-authgear-user-id", "") == ""

"""Hook test fixtures: a real HTTP receiver that checks every request's signature, and apps whose
`authgear.secrets.yaml` carries a `webhook` key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

WEBHOOK_KEY = secrets.token_bytes(32)
FLOWS = "/api/v1/authentication_flows"

Answer = Callable[[dict[str, Any]], tuple[int, Any] | tuple[int, Any, float]]


class Receiver:
    """Records each event it is sent at `/<name>` and answers with `answers[name]` (status, JSON
    body[, seconds to wait first]); a request without the right signature gets 401 and is noted."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.bad_signatures = 0
        self.answers: dict[str, Answer] = {}
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = hmac.new(WEBHOOK_KEY, body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(self.headers.get("x-authgear-body-signature", ""), expected):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                name = self.path.strip("/")
                event = json.loads(body)
                answer = receiver.answers.get(name, lambda e: (200, {"is_allowed": True}))(event)
                if len(answer) == 3:
                    time.sleep(answer[2])
                with receiver.cond:
                    receiver.events.setdefault(name, []).append(event)
                    receiver.cond.notify_all()
                out = answer[1] if isinstance(answer[1], bytes) else json.dumps(answer[1]).encode()
                try:
                    self.send_response(answer[0])
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass  # the caller gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/{name}"

    def wait(self, name: str, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events.get(name, [])) < count and time.monotonic() < deadline:
                self.cond.wait(max(0.05, deadline - time.monotonic()))
            return list(self.events.get(name, []))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()
    assert r.bad_signatures == 0


@pytest.fixture
def hook_secrets(secrets_items: list[dict[str, Any]]) -> dict[str, Any]:
    key = base64.urlsafe_b64encode(WEBHOOK_KEY).rstrip(b"=").decode()
    out = {i["key"]: i["data"] for i in secrets_items}
    out["webhook"] = {"keys": [{"kid": "hook", "kty": "oct", "alg": "HS256", "k": key}]}
    return out


@pytest.fixture
def hook_app(make_app: Callable[..., Any], hook_secrets: dict[str, Any]) -> Callable[..., Any]:
    """`hook_app(hook_section, **fields)`: an app with that `hook:` and the webhook secret."""

    def build(hook: dict[str, Any], overrides: dict[str, Any] | None = None, **fields: Any) -> Any:
        return make_app({**(overrides or {}), "hook": hook}, secrets=hook_secrets, **fields)

    return build


def signup(client: Any, username: str, password: str = "Pw-hooks-1234") -> Any:
    return client.post(
        FLOWS,
        json={
            "type": "signup",
            "name": "default",
            "batch_input": [
                {"identification": "username", "login_id": username},
                {"authentication": "primary_password", "new_password": password},
            ],
        },
    )


def login(client: Any, username: str, password: str = "Pw-hooks-1234") -> Any:
    return client.post(
        FLOWS,
        json={
            "type": "login",
            "name": "default",
            "batch_input": [
                {"identification": "username", "login_id": username},
                {"authentication": "primary_password", "password": password},
            ],
        },
    )

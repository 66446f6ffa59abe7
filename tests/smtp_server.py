"""Message sinks for the tests, as a pytest plugin: a real SMTP server and a fake SMS gateway.

`smtp_server` is session-scoped: one aiosmtpd server per test process (each xdist worker has its
own) on a free loopback port. `smtp_secrets` is the test project's secrets with `mail.smtp`
pointing at it, so `make_app(secrets=smtp_secrets)` sends real email there; read what arrived with
`smtp_server.wait_for(to)` / `smtp_server.last_code(to)`.

`sms_webhook` is a tiny HTTP server (the true edge: an SMS gateway) that records the JSON the
`sms.custom` webhook provider posts; `sms_webhook.secret` configures it, `last_code(to)` reads.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook name)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.server._received(msg, [r.lower() for r in envelope.rcpt_tos], envelope.mail_from)
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._cond = threading.Condition()
        self.host = "127.0.0.1"
        self.port = 0
        self._controller: Controller | None = None

    def start(self) -> None:
        # aiosmtpd logs every DATA line at DEBUG: that would put the codes the app sends into
        # the captured logs that tests search for leaked codes.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        # The free port is found by binding port 0; another process may take it before the
        # controller binds, so try a few ports.
        for attempt in range(5):
            self.port = _free_port()
            self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
            try:
                self._controller.start()
                return
            except (OSError, RuntimeError):
                if attempt == 4:
                    raise

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    @property
    def secret(self) -> dict[str, Any]:
        """The `mail.smtp` secret that points at this server."""
        return {"mail.smtp": {"host": self.host, "port": self.port, "mode": "normal"}}

    def secrets(self, base: dict[str, Any]) -> dict[str, Any]:
        return {**base, **self.secret}

    def _received(self, msg: EmailMessage, rcpt_tos: list[str], mail_from: str) -> None:
        with self._cond:
            self.messages.append(msg)
            self.envelopes.append((mail_from, rcpt_tos))
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()
            self.envelopes.clear()

    def _latest_for(self, to: str) -> EmailMessage | None:
        wanted = to.lower()
        for msg, (_, rcpts) in zip(reversed(self.messages), reversed(self.envelopes), strict=True):
            if wanted in rcpts:
                return msg
        return None

    def all_for(self, to: str) -> list[EmailMessage]:
        wanted = to.lower()
        with self._cond:
            return [m for m, (_, rcpts) in zip(self.messages, self.envelopes, strict=True) if wanted in rcpts]

    def wait_for(self, to: str, timeout: float = 5) -> EmailMessage:
        """The latest message delivered to `to`, waiting up to `timeout` seconds for a first one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                msg = self._latest_for(to)
                if msg is not None:
                    return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no email to {to} within {timeout}s")
                self._cond.wait(left)

    def last_code(self, to: str, timeout: float = 5) -> str:
        """The 6-digit code in the plain-text body of the latest message to `to`."""
        msg = self.wait_for(to, timeout)
        part = msg.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        found = _CODE.search(text)
        if found is None:
            raise AssertionError(f"no 6-digit code in the latest email to {to}")
        return found.group(1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_secrets(smtp_server: SMTPServer, secrets_items: list[dict[str, Any]]) -> dict[str, Any]:
    """The test project's secrets plus `mail.smtp` for `smtp_server` (for `make_app(secrets=...)`)."""
    return smtp_server.secrets({i["key"]: i["data"] for i in secrets_items})


class SMSWebhook:
    """Records `POST {"to", "body", "template", "locale"}`; answers `status` (200 by default)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        self.location: str | None = None
        self._cond = threading.Condition()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server hook name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with webhook._cond:
                    webhook.requests.append(json.loads(body or b"null"))
                    webhook.headers.append(dict(self.headers))
                    webhook._cond.notify_all()
                self.send_response(webhook.status)
                if webhook.location:
                    self.send_header("Location", webhook.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/sms"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def secret(self) -> dict[str, Any]:
        return {"sms.custom": {"url": self.url, "timeout": 5}}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, to: str, timeout: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for req in reversed(self.requests):
                    if isinstance(req, dict) and req.get("to") == to:
                        return req
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no SMS to {to} within {timeout}s")
                self._cond.wait(left)

    def last_code(self, to: str, timeout: float = 5) -> str:
        found = _CODE.search(self.wait_for(to, timeout)["body"])
        if found is None:
            raise AssertionError(f"no 6-digit code in the latest SMS to {to}")
        return found.group(1)


@pytest.fixture
def sms_webhook() -> Iterator[SMSWebhook]:
    hook = SMSWebhook()
    hook.start()
    yield hook
    hook.stop()

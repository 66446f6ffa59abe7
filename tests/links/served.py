"""A Gatehouse served as `make run` serves it (granian, RSGI: app/realtime/server.py), on a project
of the test's own, and a minimal websocket client (RFC 6455) for the flow websocket."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from app.config import deep_merge
from tests.test_first_run import REPO, _env, _free_port, _make_run_commands


@contextmanager
def served(tmp_path: Path, project: dict[str, Any], env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """`make run`'s init and serve on a free port, with `project` merged into the demo project."""
    port = _free_port()
    config_dir = tmp_path / "project"
    environ = {**_env(config_dir), **(env or {})}
    init, serve = _make_run_commands(port)
    done = subprocess.run(init, cwd=REPO, env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    path = config_dir / "authgear.yaml"
    path.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(path.read_text()), project)))
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(serve, cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT)
        origin = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    urllib.request.urlopen(origin + "/healthz/live", timeout=2).close()
                    break
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.2)
            assert proc.poll() is None, log_path.read_text()
            yield {
                "origin": origin,
                "public_origin": f"http://localhost:{port}",
                "port": port,
                "config_dir": config_dir,
                "env": environ,
                "log": log_path,
            }
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def create_user(server: dict[str, Any], email: str, password: str = "Correct-horse-9") -> None:
    done = subprocess.run(
        [str(REPO / ".venv/bin/flask"), "--app", "app", "gatehouse", "create-user", "--login-id", email],
        cwd=REPO,
        env=server["env"],
        input=f"{password}\n{password}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


class WebSocket:
    """Just enough of a client: the handshake, reading the server's text frames, closing."""

    def __init__(self, url: str, origin: str | None = None, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        lines = [
            f"GET {parts.path}?{parts.query} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if origin:
            lines.append(f"Origin: {origin}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head else 0

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def receive(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame (1 text, 8 close)."""
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return b0 & 0x0F, self._read(length)

    def close(self) -> None:
        try:
            mask = os.urandom(4)
            payload = struct.pack("!H", 1000)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            self.sock.sendall(bytes([0x88, 0x80 | len(payload)]) + mask + masked)
        except OSError:
            pass
        self.sock.close()

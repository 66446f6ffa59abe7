"""The `Server` response header names no software versions. Werkzeug's server (what `make run`
serves with) sends `Werkzeug/<version> Python/<version>` on every response, error pages included;
the command `make run` runs must send `Gatehouse` instead. (gunicorn sends `gunicorn`, granian
`granian`: neither a version.)"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_command(port: int) -> list[str]:
    """The command that serves in `make run` (its last line), as make would run it."""
    out = subprocess.run(
        ["make", "-n", "run", f"PORT={port}"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return shlex.split(out.strip().splitlines()[-1])


def _env(config_dir: Path) -> dict[str, str]:
    """A fresh shell's environment with a project directory of its own (SQLite, no Redis)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "FLASK_APP", "TRUST_PROXY") and not k.startswith("PYTEST")
    }
    env["GATEHOUSE_CONFIG_DIR"] = str(config_dir)
    return env


def _headers(url: str) -> list[tuple[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.getheaders()
    except urllib.error.HTTPError as err:  # an error page is a response too
        return list(err.headers.items())


@pytest.fixture
def make_run(tmp_path: Path):
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        _serve_command(port),
        cwd=REPO,
        env=_env(tmp_path / "project"),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                _headers(origin + "/healthz/live")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        yield origin
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.embedded
@pytest.mark.parametrize("path", ["/healthz/live", "/no-such-page", "/api/v1/authentication_flows"])
def test_make_run_sends_no_software_versions(make_run, path):
    headers = _headers(make_run + path)
    assert [v for k, v in headers if k.lower() == "server"] == ["Gatehouse"]
    for name, value in headers:
        assert "werkzeug" not in value.lower() and "python" not in value.lower(), (name, value)

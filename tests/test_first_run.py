"""The first run as a newcomer makes it: the commands `make run PORT=...` runs (read from `make -n`),
in an empty project directory, serving for real. The demo project follows the port, messages say
where they went, the server is the production one and names no versions."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from app.project_files import DEMO_MARKER, ensure_project_dir

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_run_commands(port: int) -> list[list[str]]:
    """The commands of `make run PORT=port` after the install steps: init, then serve."""
    out = subprocess.run(
        ["make", "-n", "run", f"PORT={port}"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    lines = [shlex.split(line) for line in out.strip().splitlines() if "gatehouse" in line]
    assert [c[c.index("gatehouse") + 1] for c in lines] == ["init", "serve"], lines
    return lines


def _env(config_dir: Path) -> dict[str, str]:
    """A fresh shell's environment with a project directory of its own (SQLite, no Redis)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "FLASK_APP", "TRUST_PROXY") and not k.startswith("PYTEST")
    }
    env["GATEHOUSE_CONFIG_DIR"] = str(config_dir)
    return env


def _get(url: str, data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    except urllib.error.HTTPError as err:  # an error page is a response too
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


@pytest.fixture
def make_run(tmp_path: Path):
    """Runs init then serve as `make run PORT=<free port>` does; yields (origin, project dir, log)."""
    port = _free_port()
    config_dir = tmp_path / "project"
    env = _env(config_dir)
    init, serve = _make_run_commands(port)
    done = subprocess.run(init, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    log_path = tmp_path / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(serve, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                _get(origin + "/healthz/live")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert proc.poll() is None, log_path.read_text()
        yield origin, port, config_dir, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.embedded
def test_make_run_serves_the_demo_project_on_its_port(make_run):
    origin, port, config_dir, log_path = make_run
    status, _, body = _get(origin + "/.well-known/openid-configuration")
    assert status == 200 and json.loads(body)["issuer"] == f"http://localhost:{port}"
    project = yaml.safe_load((config_dir / "authgear.yaml").read_text())
    (demo,) = project["oauth"]["clients"]
    assert demo["redirect_uris"] == [f"http://localhost:{port}/demo/callback"]
    assert len(project["localization"]["supported_languages"]) >= 10  # every catalog Gatehouse ships
    assert project["account_deletion"]["scheduled_by_end_user_enabled"] is True
    status, _, page = _get(origin + "/demo/")
    assert status == 200 and b"/demo/login" in page
    text = log_path.read_text()
    assert "development server" not in text.lower()
    assert f"Gatehouse: http://localhost:{port}" in text and str(config_dir / "outbox") in text


@pytest.mark.embedded
@pytest.mark.parametrize("path", ["/healthz/live", "/no-such-page", "/api/v1/authentication_flows"])
def test_make_run_sends_no_software_versions(make_run, path):
    origin, *_ = make_run
    _, headers, _ = _get(origin + path)
    assert headers.get("server") == "granian"  # a name, no version
    for name, value in headers.items():
        assert not re.search(r"werkzeug|python|\d+\.\d+\.\d+", value.lower()) or name == "date", (name, value)


@pytest.mark.embedded
def test_each_message_file_is_named_in_the_log(make_run):
    """The outbox line the README promises is shown by `make run` (INFO of Gatehouse's loggers)."""
    origin, _, config_dir, log_path = make_run
    flows = origin + "/api/v1/authentication_flows"
    _, _, body = _get(flows, json.dumps({"type": "account_recovery", "name": "default"}).encode())
    state = json.loads(body)["result"]["state_token"]
    # A user with an email address: the CLI as a newcomer would use it.
    env = _env(config_dir)
    subprocess.run(
        [str(REPO / ".venv/bin/flask"), "--app", "app", "gatehouse", "create-user", "--login-id", "new@example.com"],
        cwd=REPO,
        env=env,
        input="Newcomer-pass-1\nNewcomer-pass-1\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    status, _, body = _get(
        flows + "/states/input",
        json.dumps(
            {"state_token": state, "input": {"identification": "email", "login_id": "new@example.com"}}
        ).encode(),
    )
    assert status == 200, body
    state = json.loads(body)["result"]["state_token"]
    status, _, body = _get(flows + "/states/input", json.dumps({"state_token": state, "input": {"index": 0}}).encode())
    assert status == 200, body
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "written to the outbox" not in log_path.read_text():
        time.sleep(0.2)
    line = next(x for x in log_path.read_text().splitlines() if "written to the outbox" in x)
    written = Path(line.rsplit(": ", 1)[1].strip())
    assert written.parent == config_dir / "outbox" and written.exists()
    text = email.message_from_bytes(written.read_bytes(), policy=email.policy.default).get_body(("plain",))
    body = text.get_content()
    # The secret: a reset link's code, or a six-digit code (account recovery sends a link by default).
    found = re.search(r"[?&]code=([A-Za-z0-9_-]+)", body) or re.search(r"(?<!\d)(\d{6})(?!\d)", body)
    assert found is not None, body
    assert found.group(1) not in log_path.read_text()  # the log names the file, never the secret


def test_the_demo_project_follows_the_origin_and_a_users_project_never_moves(tmp_path):
    demo_dir, own_dir = tmp_path / "demo", tmp_path / "own"
    ensure_project_dir(demo_dir, "http://localhost:4300")
    assert (demo_dir / "authgear.yaml").read_text().startswith(DEMO_MARKER)
    written = ensure_project_dir(demo_dir, "http://localhost:5000")
    assert any("demo project at http://localhost:5000 (was http://localhost:4300)" in w for w in written)
    project = yaml.safe_load((demo_dir / "authgear.yaml").read_text())
    assert project["http"]["public_origin"] == "http://localhost:5000"
    assert project["oauth"]["clients"][0]["post_logout_redirect_uris"] == ["http://localhost:5000/demo/"]
    assert ensure_project_dir(demo_dir) == []  # without an origin (a plain start) nothing moves

    ensure_project_dir(own_dir, "http://localhost:4300")
    body = (own_dir / "authgear.yaml").read_text().replace(DEMO_MARKER, "# my project\n")
    (own_dir / "authgear.yaml").write_text(body)
    ensure_project_dir(own_dir, "http://localhost:5000")
    assert (own_dir / "authgear.yaml").read_text() == body

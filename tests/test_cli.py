"""`flask --app app gatehouse ...` in a subprocess on a temporary project directory (SQLite), and
the embedded default end to end (`flask run` in an empty directory, then GET /healthz)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from alembic.script import ScriptDirectory
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from app import create_app
from app.config import load_config, validate_project
from app.crypto import b64url_decode
from app.extensions import db

REPO = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
RSA_PRIVATE_FIELDS = ("d", "p", "q", "dp", "dq", "qi")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no database, Redis or project from the test run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "GATEHOUSE_CONFIG_DIR", "FLASK_APP") and not k.startswith("PYTEST")
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def gatehouse(config_dir: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASK, "--app", "app", "gatehouse", *args],
        cwd=cwd or config_dir.parent,
        env=clean_env(GATEHOUSE_CONFIG_DIR=str(config_dir)),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def secrets_of(config_dir: Path) -> dict[str, dict]:
    raw = yaml.safe_load((config_dir / "authgear.secrets.yaml").read_text())
    return {item["key"]: item["data"] for item in raw["secrets"]}


def snapshot(config_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(config_dir.iterdir()) if p.suffix == ".yaml"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory after one `gatehouse init` from nothing."""
    config_dir = tmp_path_factory.mktemp("cli") / "project"
    result = gatehouse(config_dir, "init")
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout
    return config_dir


def test_flask_db_commands_load_flask_migrate_when_asked(project):
    """`flask db ...` is Flask-Migrate's, loaded on demand (app/migrations_ext.py)."""
    result = subprocess.run(
        [FLASK, "--app", "app", "db", "current"],
        cwd=project.parent,
        env=clean_env(GATEHOUSE_CONFIG_DIR=str(project)),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    head = ScriptDirectory(str(REPO / "app" / "migrations")).get_current_head()
    assert f"{head} (head)" in result.stdout


def test_a_web_worker_does_not_load_alembic(project):
    """Alembic (about 11 MB) stays out of the app until a migration runs."""
    code = (
        "import sys; from app import create_app; app = create_app(); "
        "print('alembic' in sys.modules, app.extensions['migrate'].directory)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project.parent,
        env=clean_env(GATEHOUSE_CONFIG_DIR=str(project)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", str(REPO / "app" / "migrations")]


def test_init_writes_project_with_demo_client(project):
    doc = yaml.safe_load((project / "authgear.yaml").read_text())
    validated, unimplemented = validate_project(doc)
    assert unimplemented == []
    (demo,) = [c for c in validated["oauth"]["clients"] if c["client_id"] == "demo"]
    assert demo["redirect_uris"] == ["http://localhost:3000/demo/callback"]
    assert validated["http"]["public_origin"] == "http://localhost:3000"


def test_init_writes_secrets_0600_with_rsa_keys_with_kid(project):
    path = project / "authgear.secrets.yaml"
    assert path.stat().st_mode & 0o777 == 0o600
    secrets = secrets_of(project)
    kids = set()
    for key in ("oauth", "admin-api.auth"):
        (jwk,) = secrets[key]["keys"]
        assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256"
        assert jwk["kid"]
        assert all(jwk.get(f) for f in RSA_PRIVATE_FIELDS)
        assert len(b64url_decode(jwk["n"])) * 8 >= 2048
        kids.add(jwk["kid"])
    assert len(kids) == 2  # two different keys
    assert secrets["csrf"]["keys"][0]["k"]
    (demo,) = [i for i in secrets["oauth.client_secrets"]["items"] if i["client_id"] == "demo"]
    assert demo["keys"][0]["k"] and demo["keys"][0]["kid"]


def test_init_keeps_the_sqlite_database_private(project):
    database = project / "gatehouse.sqlite"
    assert database.stat().st_mode & 0o777 == 0o600  # password hashes, TOTP secrets
    assert project.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(database) as conn:  # WAL mode: the reader's -wal and -shm files
        conn.execute("SELECT count(*) FROM users").fetchall()
        companions = [project / "gatehouse.sqlite-wal", project / "gatehouse.sqlite-shm"]
        assert all(p.exists() for p in companions)
        assert [p.stat().st_mode & 0o777 for p in companions] == [0o600, 0o600]
    conn.close()

    database.chmod(0o644)  # as an earlier version left it: made private again at the next start
    result = gatehouse(project, "init")
    assert result.returncode == 0, result.stderr
    assert database.stat().st_mode & 0o777 == 0o600


def test_init_creates_the_sqlite_schema(project):
    with sqlite3.connect(project / "gatehouse.sqlite") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"users", "identities", "authenticators", "idp_sessions", "audit_logs"} <= tables
    assert version == [(ScriptDirectory(str(REPO / "app" / "migrations")).get_current_head(),)]


def test_init_twice_changes_nothing(project):
    # In-process (a subprocess costs seconds): the same load_config + init path as `flask ... init`.
    before = snapshot(project)
    app = create_app(load_config(env={"GATEHOUSE_CONFIG_DIR": str(project)}))
    try:
        result = app.test_cli_runner().invoke(args=["gatehouse", "init"])
    finally:
        with app.app_context():
            db.engine.dispose()
    assert result.exit_code == 0, result.output
    assert "wrote" not in result.output
    assert "database is up to date" in result.output
    assert snapshot(project) == before


def test_create_user_then_duplicate_and_policy_errors(project):
    login_id = f"cli-{uuid.uuid4().hex[:8]}@Example.com"
    result = gatehouse(project, "create-user", "--login-id", login_id, "--password", "cli-password-1")
    assert result.returncode == 0, result.stderr
    user_id = result.stdout.strip().splitlines()[-1]
    assert uuid.UUID(user_id).version == 4
    with sqlite3.connect(project / "gatehouse.sqlite") as conn:
        (stored_login_id,) = conn.execute("SELECT login_id FROM identities WHERE user_id = ?", (user_id,)).fetchone()
        (hashed,) = conn.execute("SELECT password_hash FROM authenticators WHERE user_id = ?", (user_id,)).fetchone()
    assert stored_login_id == login_id.lower()
    assert hashed.startswith("$argon2id$") and "cli-password-1" not in hashed

    # The error cases run in-process on the same project (a subprocess costs seconds each).
    app = create_app(load_config(env={"GATEHOUSE_CONFIG_DIR": str(project)}))
    try:
        runner = app.test_cli_runner()
        dup = runner.invoke(args=["gatehouse", "create-user", "--login-id", login_id.upper(), "--password", "x" * 12])
        assert dup.exit_code != 0
        assert "DuplicatedIdentity" in dup.output and "Traceback" not in dup.output
        weak = runner.invoke(args=["gatehouse", "create-user", "--login-id", "weak@example.com", "--password", "short"])
        assert weak.exit_code != 0
        assert "PasswordPolicyViolated" in weak.output and "PasswordTooShort" in weak.output
        bad = runner.invoke(args=["gatehouse", "create-user", "--login-id", "not-an-email", "--password", "x" * 12])
        assert bad.exit_code != 0 and "ValidationFailed" in bad.output
        username = runner.invoke(
            args=["gatehouse", "create-user", "--key", "username", "--login-id", "CliUser", "--password", "y" * 12]
        )
        assert username.exit_code == 0, username.output
    finally:
        with app.app_context():
            db.engine.dispose()
    with sqlite3.connect(project / "gatehouse.sqlite") as conn:
        emails = [r[0] for r in conn.execute("SELECT login_id FROM identities WHERE login_id_type = 'email'")]
        assert emails.count(login_id.lower()) == 1
        assert "weak@example.com" not in emails


def decode_segment(segment: str) -> dict:
    return json.loads(b64url_decode(segment))


def public_key(jwk: dict) -> RSAKey:
    return RSAKey.import_key({k: v for k, v in jwk.items() if k not in RSA_PRIVATE_FIELDS})


def test_admin_token_is_an_rs256_jwt_for_the_project(project):
    result = gatehouse(project, "admin-token", "--ttl", "120")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    header = decode_segment(token.split(".")[0])
    secrets = secrets_of(project)
    (admin_jwk,) = secrets["admin-api.auth"]["keys"]
    assert header["alg"] == "RS256"
    assert header["kid"] == admin_jwk["kid"]

    key = public_key(admin_jwk)
    assert key.is_private is False
    claims = jwt.decode(token, key).claims
    project_id = yaml.safe_load((project / "authgear.yaml").read_text())["id"]
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert project_id in aud
    assert claims["exp"] - claims["iat"] == 120
    assert abs(claims["iat"] - time.time()) < 120

    (oauth_jwk,) = secrets["oauth"]["keys"]
    with pytest.raises(BadSignatureError):
        jwt.decode(token, public_key(oauth_jwk))  # signed with the admin key, not the OIDC key


def test_admin_token_default_ttl_is_five_minutes(project):
    app = create_app(load_config(env={"GATEHOUSE_CONFIG_DIR": str(project)}))
    try:
        result = app.test_cli_runner().invoke(args=["gatehouse", "admin-token"])
    finally:
        with app.app_context():
            db.engine.dispose()
    assert result.exit_code == 0, result.output
    claims = decode_segment(result.output.strip().split(".")[1])
    assert claims["exp"] - claims["iat"] == 300


def test_init_completes_an_existing_project_and_keeps_its_keys(tmp_path):
    config_dir = tmp_path / "existing"
    config_dir.mkdir()
    doc = {
        "id": "existing-app",
        "http": {"public_origin": "https://auth.example.com"},
        "oauth": {"clients": [{"client_id": "backend", "name": "Backend", "x_application_type": "m2m"}]},
        "hook": {"sync_hook_timeout_seconds": 5},
    }
    (config_dir / "authgear.yaml").write_text(yaml.safe_dump(doc))
    admin_key = {"key": "admin-api.auth", "data": {"keys": [{"kid": "keep-me", "kty": "RSA"}]}}
    (config_dir / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": [admin_key]}))

    app = create_app(load_config(env={"GATEHOUSE_CONFIG_DIR": str(config_dir)}))
    try:
        result = app.test_cli_runner().invoke(args=["gatehouse", "init"])
    finally:
        with app.app_context():
            db.engine.dispose()
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((config_dir / "authgear.yaml").read_text()) == doc  # the project file is untouched
    secrets = secrets_of(config_dir)
    assert secrets["admin-api.auth"] == admin_key["data"]
    assert secrets["oauth"]["keys"][0]["kid"]
    assert [i["client_id"] for i in secrets["oauth.client_secrets"]["items"]] == ["backend"]
    assert (config_dir / "authgear.secrets.yaml").stat().st_mode & 0o777 == 0o600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.embedded
def test_embedded_default_serves_healthz_from_an_empty_directory(tmp_path):
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [FLASK, "--app", "app", "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    body = json.loads(resp.read())
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert body == {"result": {"database": "ok", "redis": "disabled"}}, (tmp_path / "server.log").read_text()
        assert (tmp_path / "instance" / "authgear.yaml").exists()
        assert (tmp_path / "instance" / "authgear.secrets.yaml").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "instance").stat().st_mode & 0o777 == 0o700
        files = [tmp_path / "instance" / f"gatehouse.sqlite{suffix}" for suffix in ("", "-wal", "-shm")]
        assert files[0].exists()
        assert {f.stat().st_mode & 0o777 for f in files if f.exists()} == {0o600}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()

"""Creates and completes an Authgear project directory: authgear.yaml with a demo client, and the
secrets Gatehouse needs (OIDC signing key, Admin API key, CSRF key, demo client secret)."""

from __future__ import annotations

import logging
import os
import secrets
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from joserfc.jwk import RSAKey
from sqlalchemy.engine import make_url

from app.config import _read_yaml, parse_secrets, validate_project

log = logging.getLogger(__name__)

DEMO_CLIENT_ID = "demo"
DEMO_ORIGIN = "http://localhost:3000"
DEMO_CALLBACK_PATH = "/demo/callback"
DEMO_HOME_PATH = "/demo/"
# The first line of a project `gatehouse init` wrote: only such a project follows `--public-origin`
# (`make run PORT=...`); a project without it, the user's own, is never rewritten.
DEMO_MARKER = (
    "# Gatehouse demo project written by `gatehouse init`; `make run` keeps its origin in step with"
    " PORT. Delete this line to keep the file as it is.\n"
)
TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"


def shipped_languages() -> list[str]:
    """The BCP 47 tags of the catalogs under translations/ (`zh_HK` -> `zh-HK`), English first."""
    found = sorted(p.parent.parent.name.replace("_", "-") for p in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"))
    return ["en", *(tag for tag in found if tag != "en")]


def default_project(public_origin: str = DEMO_ORIGIN) -> dict[str, Any]:
    return {
        "id": "gatehouse",
        "http": {"public_origin": public_origin},
        "identity": {
            "login_id": {"keys": [{"key": "email", "type": "email"}, {"key": "username", "type": "username"}]}
        },
        "authentication": {
            "identities": ["login_id"],
            "primary_authenticators": ["password"],
            "secondary_authenticators": ["totp", "oob_otp_email"],
            "secondary_authentication_mode": "if_exists",
        },
        "oauth": {
            "clients": [
                {
                    "client_id": DEMO_CLIENT_ID,
                    "name": "Demo app",
                    "client_name": "Demo app",
                    "x_application_type": "traditional_webapp",
                    "redirect_uris": [public_origin + DEMO_CALLBACK_PATH],
                    "post_logout_redirect_uris": [public_origin + DEMO_HOME_PATH],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                }
            ]
        },
        "localization": {"fallback_language": "en", "supported_languages": shipped_languages()},
        "account_deletion": {"scheduled_by_end_user_enabled": True},
    }


def follow_demo_origin(project_file: Path, public_origin: str) -> str | None:
    """Moves a demo project (DEMO_MARKER) to `public_origin`: its `http.public_origin` and the
    demo client's URIs, and its languages to every catalog shipped. Returns the origin it had, or
    None when nothing changed."""
    text = project_file.read_text(encoding="utf-8")
    if not text.startswith(DEMO_MARKER):
        return None
    project = yaml.safe_load(text) or {}
    old = (project.get("http") or {}).get("public_origin")
    languages = (project.get("localization") or {}).get("supported_languages")
    if not old or (old == public_origin and languages == shipped_languages()):
        return None
    # The demo speaks every language Gatehouse ships, including catalogs added since it was written.
    project.setdefault("localization", {})["supported_languages"] = shipped_languages()
    project["http"]["public_origin"] = public_origin
    for client in (project.get("oauth") or {}).get("clients") or []:
        for key in ("redirect_uris", "post_logout_redirect_uris"):
            client[key] = [public_origin + u[len(old) :] if u.startswith(old) else u for u in client.get(key) or []]
    project_file.write_text(
        DEMO_MARKER + yaml.safe_dump(project, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return old


def new_rsa_jwk() -> dict[str, Any]:
    kid = secrets.token_hex(8)
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"}, private=True)
    return dict(key.as_dict(private=True))


def complete_secrets(items: list[dict[str, Any]], client_ids: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Adds the secrets that are missing; returns the list and the keys that were added."""
    by_key = {i["key"]: i for i in items}
    added: list[str] = []
    for key in ("oauth", "admin-api.auth"):
        if key not in by_key:
            by_key[key] = {"key": key, "data": {"keys": [new_rsa_jwk()]}}
            added.append(key)
    if "csrf" not in by_key:
        by_key["csrf"] = {"key": "csrf", "data": {"keys": [{"kty": "oct", "k": secrets.token_urlsafe(32)}]}}
        added.append("csrf")
    if "webhook" not in by_key:
        # Authgear's generated `webhook` secret: an octet JWK for HS256 signatures (the body signature
        # of webhooks; hooks need it before any handler is configured).
        key = {"kid": str(uuid.uuid4()), "kty": "oct", "k": secrets.token_urlsafe(32), "use": "sig", "alg": "HS256"}
        by_key["webhook"] = {"key": "webhook", "data": {"keys": [{**key, "created_at": int(time.time())}]}}
        added.append("webhook")
    client_secrets = by_key.setdefault("oauth.client_secrets", {"key": "oauth.client_secrets", "data": {"items": []}})
    have = {i["client_id"] for i in client_secrets["data"].setdefault("items", [])}
    for client_id in client_ids:
        if client_id not in have:
            client_secrets["data"]["items"].append(
                {
                    "client_id": client_id,
                    "keys": [
                        {
                            "kid": secrets.token_hex(8),
                            "kty": "oct",
                            "k": secrets.token_urlsafe(32),
                            "created_at": int(time.time()),
                        }
                    ],
                }
            )
            added.append(f"oauth.client_secrets/{client_id}")
    return list(by_key.values()), added


def private_sqlite_file(database_url: str) -> None:
    """Creates a SQLite database file 0600 before SQLite does (0644 under the usual umask), and takes
    group and world access away from an existing one (the project folder is created 0700). SQLite gives
    its `-wal`, `-shm` and `-journal` files the database file's mode, so they are private too.
    The file holds password hashes and TOTP secrets."""
    url = make_url(database_url)
    name = url.database
    if url.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    if not path.parent.is_dir():
        return  # a folder that does not exist is a mistake in DATABASE_URL: let the database say so
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        try:
            if file.exists() and stat.S_IMODE(file.stat().st_mode) & 0o077:
                file.chmod(0o600)
        except OSError as exc:  # not ours to change: say so, and go on
            log.warning("could not make %s private: %s", file, exc)


def ensure_project_dir(config_dir: Path, public_origin: str | None = None) -> list[str]:
    """Writes the demo authgear.yaml if missing (at `public_origin`, else DEMO_ORIGIN), moves an
    earlier demo project to `public_origin` when one is given, and adds missing secrets; returns what
    it wrote. A folder created here is 0700 (it gets the secrets and, by default, the database)."""
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: list[str] = []
    project_file = config_dir / "authgear.yaml"
    if not project_file.exists():
        body = yaml.safe_dump(default_project(public_origin or DEMO_ORIGIN), sort_keys=False, allow_unicode=True)
        project_file.write_text(DEMO_MARKER + body, encoding="utf-8")
        written.append(str(project_file))
    elif public_origin:
        moved_from = follow_demo_origin(project_file, public_origin)
        if moved_from:
            written.append(f"{project_file}: demo project at {public_origin} (was {moved_from})")
    # Both files are checked before anything is added, so a broken file stops the start with a
    # ConfigError instead of a traceback, and a malformed secrets file is never overwritten.
    project, _ = validate_project(_read_yaml(project_file))
    confidential = [
        c["client_id"]
        for c in project["oauth"]["clients"]
        if c.get("x_application_type") in ("traditional_webapp", "confidential", "third_party_app", "m2m")
    ]
    secrets_file = config_dir / "authgear.secrets.yaml"
    current = (_read_yaml(secrets_file) if secrets_file.exists() else None) or {}
    parse_secrets(current)
    items, added = complete_secrets(list(current.get("secrets", [])), confidential)
    if added:
        # Created 0600 from the first byte (a chmod after writing leaves a window where keys are readable).
        fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(yaml.safe_dump({"secrets": items}, sort_keys=False))
        secrets_file.chmod(0o600)
        written.extend(f"{secrets_file.name}: {a}" for a in added)
    return written

"""`flask --app app gatehouse ...`: init, create-user, admin-token, rotate-oidc-key, serve."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from joserfc import jwt
from joserfc.jwk import KeySet

from app.admin.auth import MAX_LIFETIME_SECONDS
from app.config import AppConfig, load_config
from app.errors import AppError
from app.extensions import db
from app.project_files import ensure_project_dir
from app.services import services


@click.group("gatehouse", cls=AppGroup)  # AppGroup: every command runs in an app context
def cli() -> None:
    """Gatehouse administration."""


@cli.command("init")
@click.option(
    "--public-origin",
    default=None,
    help="where the demo project is served (`make run` passes its PORT); a project of your own is never rewritten",
)
def init(public_origin: str | None) -> None:
    """Create or migrate the database and add missing keys to the secrets file."""
    cfg = services().config
    if cfg.config_dir is not None:
        for line in ensure_project_dir(cfg.config_dir, public_origin):
            click.echo(f"wrote {line}")
    from flask_migrate import upgrade  # Alembic, loaded here only (app/migrations_ext.py)

    upgrade(directory=current_app.extensions["migrate"].directory)
    click.echo("database is up to date")


@cli.command("create-user")
@click.option("--login-id", "login_id", required=True, help="email, phone (E.164) or username")
@click.option("--key", default="email", show_default=True, help="login ID key or type")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(login_id: str, key: str, password: str) -> None:
    """Create a user with a login ID and a password."""
    svc = services()
    try:
        user = svc.users.create_user([(key, login_id)])
        svc.passwords.create(user.id, password)
    except AppError as exc:
        db.session.rollback()
        # Say what is wrong (duplicate, policy, format) instead of printing a traceback.
        raise click.ClickException(f"{exc.name}/{exc.reason}: {exc.message} {exc.info or ''}".rstrip()) from None
    db.session.commit()
    click.echo(user.id)


@cli.command("admin-token")
@click.option(
    "--ttl",
    default=300,
    show_default=True,
    type=click.IntRange(min=1),
    help=f"lifetime in seconds, at most {MAX_LIFETIME_SECONDS} (the Admin API refuses longer-lived tokens)",
)
def admin_token(ttl: int) -> None:
    """Print a short-lived Admin API JWT signed with the admin-api.auth key."""
    if ttl > MAX_LIFETIME_SECONDS:
        click.echo(f"--ttl {ttl} is above the maximum token lifetime; using {MAX_LIFETIME_SECONDS}", err=True)
        ttl = MAX_LIFETIME_SECONDS
    cfg = services().config
    keys = cfg.secrets.get("admin-api.auth", {}).get("keys", [])
    if not keys:
        raise click.ClickException("authgear.secrets.yaml has no admin-api.auth key; run `gatehouse init`")
    key = KeySet.import_key_set({"keys": keys}).keys[0]
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
    click.echo(jwt.encode(header, {"aud": [cfg.project["id"]], "iat": now, "exp": now + ttl}, key))


@cli.command("rotate-oidc-key")
@click.option(
    "--retire-after",
    type=int,
    default=None,
    help="seconds a replaced key stays published (default: the longest access token lifetime)",
)
def rotate_oidc_key(retire_after: int | None) -> None:
    """Add a new OIDC signing key to the secrets file and make it the signing key; replaced keys
    stay in /oauth2/jwks until what they signed has expired. Restart the web processes to use it."""
    from app.oidc.id_token import ID_TOKEN_LIFETIME
    from app.oidc.keys import rotate_in_secrets_file

    cfg = services().config
    if cfg.config_dir is None:
        raise click.ClickException("no project directory to write to (set GATEHOUSE_CONFIG_DIR)")
    if retire_after is None:
        lifetimes = [c.get("access_token_lifetime_seconds", 1800) for c in cfg.project["oauth"]["clients"]]
        retire_after = max([ID_TOKEN_LIFETIME, 1800, *lifetimes])
    kid, published = rotate_in_secrets_file(cfg.config_dir / "authgear.secrets.yaml", retire_after)
    click.echo(f"new signing key {kid}; published keys: {', '.join(published)}")


@cli.command("serve", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--reload", is_flag=True, help="restart when the code, templates or catalogs change")
def serve(host: str, port: int, reload: bool) -> None:
    """Serve the embedded default on granian, the server the README recommends for production (one
    worker here; the RSGI interface, so that the flow websocket is served too), with Gatehouse's INFO
    lines shown: where one-time codes go, each message's file."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LOGGING_CONFIG

    cfg = load_config()
    click.echo(f"Gatehouse: {cfg.public_origin} (project {cfg.config_dir}, database {_database_kind(cfg)})")
    if cfg.config_dir is not None and ("mail.smtp" not in cfg.secrets or "sms.custom" not in cfg.secrets):
        click.echo(
            f"Emails and text messages (one-time codes included) go to {cfg.config_dir / 'outbox'}/ "
            "until mail.smtp and sms.custom are set in authgear.secrets.yaml; each file is named in the log."
        )
    logging_config = copy.deepcopy(LOGGING_CONFIG)
    logging_config["loggers"]["gatehouse"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    root = Path(__file__).resolve().parent.parent
    logging_config["loggers"]["gatehouse.realtime"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    # RSGI, not WSGI: granian's WSGI interface has no websockets, and the flow websocket
    # (/api/v1/authentication_flows/ws) must share the port and, without Redis, the process of the
    # pages that raise its events. The Flask app runs unchanged on 16 threads (app/realtime/server.py).
    Granian(
        "app.realtime.server:create_server_app",
        factory=True,
        interface=Interfaces.RSGI,
        address=host,
        port=port,
        log_dictconfig=logging_config,
        reload=reload,
        reload_paths=[root / "app", root / "templates", root / "translations", root / "static"],
    ).serve()


def _database_kind(cfg: AppConfig) -> str:
    return "SQLite" if cfg.database_url.startswith("sqlite") else "PostgreSQL"

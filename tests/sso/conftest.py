"""Fixtures of the social and enterprise login tests: real upstream servers started by the tests.

`standins`: the Google, Apple, GitHub, Facebook and Microsoft stand-ins behind a CONNECT proxy and a
test CA (tests/sso/standins.py), which the app reaches through E2E_HTTP_PROXY / E2E_TLS_CA_CERT_FILE.
`upstream`: panva/node-oidc-provider (tests/sso/upstream, installed by `make test`) as the generic
OpenID Provider and as AD FS. `sso_app(providers, secrets, ...)` builds an app with those providers.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from app.config import deep_merge
from tests.sso.standins import Standins, apple_p8_key

UPSTREAM_DIR = Path(__file__).parent / "upstream"
UPSTREAM_SECRET = "upstream-client-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standins]:
    s = Standins(tmp_path_factory.mktemp("standins"))
    pem, public = apple_p8_key()
    s.apple_public_key = public
    s.clients = {
        "google": {"client_id": "google-client", "client_secret": "google-secret"},
        "apple": {
            "client_id": "com.example.web",
            "client_secret": pem,
            "team_id": "TEAM123456",
            "key_id": "KEY1234567",
        },
        "github": {"client_id": "github-client", "client_secret": "github-secret"},
        "facebook": {"client_id": "1234567890", "client_secret": "facebook-secret"},
        "azureadv2": {"client_id": "entra-client", "client_secret": "entra-secret", "tid": "tenant-guid-1"},
        "linkedin": {"client_id": "86linkedin", "client_secret": "linkedin-secret"},
        "azureadb2c": {
            "client_id": "b2c-client",
            "client_secret": "b2c-secret",
            "policy": "B2C_1_signupsignin",
            "tenant_id": "775527ff-9a37-4307-8b3d-cc311f58d925",
        },
    }
    yield s
    s.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Upstream:
    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.discovery = f"{self.origin}/.well-known/openid-configuration"
        self.config = folder / "upstream.json"
        self.accounts: dict[str, dict[str, Any]] = {
            "alice": {
                "email": "alice@example.com",
                "email_verified": True,
                "name": "Alice Liddell",
                "given_name": "Alice",
            },
            "bob": {"email": "bob@example.org", "email_verified": True, "name": "Bob", "upn": "bob@corp.example.org"},
        }
        self.proc: subprocess.Popen[str] | None = None

    def start(self, redirect_uris: list[str]) -> None:
        clients = [{"client_id": "gatehouse", "client_secret": UPSTREAM_SECRET, "redirect_uris": redirect_uris}]
        self.config.write_text(json.dumps({"clients": clients, "accounts": self.accounts}))
        self.stop()
        self.proc = subprocess.Popen(  # noqa: S603 - our own script
            [shutil.which("node") or "node", "server.mjs", str(self.port), str(self.config)],
            cwd=UPSTREAM_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "ready":
                return
        raise RuntimeError("oidc-provider did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None

    def sign_in(self, authorization_url: str, login: str) -> str:
        """Drive the provider's development login and consent pages as a browser would; returns the
        URL the provider redirects back to (the callback with `code` and `state`)."""
        s = requests.Session()
        resp = s.get(authorization_url, allow_redirects=False, timeout=10)
        for _ in range(10):
            location = resp.headers.get("Location", "")
            if resp.status_code in (302, 303):
                if location.startswith("/"):
                    location = self.origin + location
                if not location.startswith(self.origin):
                    return location
                resp = s.get(location, allow_redirects=False, timeout=10)
                continue
            page = resp.text
            action = re.findall(r'<form[^>]*action="([^"]+)"', page)[0]
            data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
            if 'name="login"' in page:
                data.update(login=login, password="any")  # noqa: S106 - the development login takes any
            resp = s.post(
                action if action.startswith("http") else self.origin + action,
                data=data,
                allow_redirects=False,
                timeout=10,
            )
        raise AssertionError("the provider did not redirect back")


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    if not (UPSTREAM_DIR / "node_modules" / "oidc-provider").exists():
        pytest.skip("oidc-provider is missing (npm ci in tests/sso/upstream)")
    up = Upstream(tmp_path_factory.mktemp("upstream"))
    yield up
    up.stop()


def google_provider(alias: str = "google", **extra: Any) -> dict[str, Any]:
    return {"alias": alias, "type": "google", "client_id": "google-client", **extra}


@pytest.fixture
def sso_app(make_app: Callable[..., Flask], make_config: Any, standins: Standins) -> Callable[..., Flask]:
    """An app with `providers` and their client secrets (`secrets`: alias -> secret); every provider
    request goes through the stand-ins' proxy."""

    def build(
        providers: list[dict[str, Any]],
        secrets: dict[str, str] | None = None,
        overrides: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Flask:
        base = make_config().secrets
        items = [{"alias": a, "client_secret": s} for a, s in (secrets or {}).items()]
        merged = {**base, "sso.oauth.client": {"items": items}, **fields.pop("extra_secrets", {})}
        project = deep_merge(
            {"identity": {"oauth": {"providers": providers}}, "authentication": {"identities": ["oauth", "login_id"]}},
            overrides or {},
        )
        fields.setdefault("sso_http_proxy", standins.proxy.url)
        fields.setdefault("sso_tls_ca_cert_file", str(standins.ca))
        return make_app(project, secrets=merged, **fields)

    return build

"""Fixtures of the settings tests: an app with the settings features switched on, a signed-in test
client (a user with a password and an IdP session cookie), and the hosted pages' browser fixtures
(live server, Chromium, axe-core, screenshots) reused from tests/web."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from app.config import deep_merge
from app.extensions import db
from app.transport import session_cookie_name
from tests.factories import make_user, random_email, random_password
from tests.web.conftest import (  # noqa: F401 (fixtures)
    _catalogs,
    browser,
    context_factory,
    in_app,
    page,
    screenshot_dir,
    shots,
    web,
)

HTML = {"Accept": "text/html"}
# Email, phone number and username login IDs, whatever the test project's default is.
ALL_LOGIN_ID_KEYS: dict[str, Any] = {
    "identity": {
        "login_id": {
            "keys": [
                {"key": "email", "type": "email"},
                {"key": "phone", "type": "phone"},
                {"key": "username", "type": "username"},
            ]
        }
    }
}
SETTINGS_PROJECT: dict[str, Any] = {
    "authentication": {
        "identities": ["login_id"],
        "primary_authenticators": ["password"],
        "secondary_authenticators": ["totp", "oob_otp_email", "password"],
        "secondary_authentication_mode": "if_exists",
    },
    "account_deletion": {"scheduled_by_end_user_enabled": True, "grace_period_days": 14},
    "localization": {"fallback_language": "en", "supported_languages": ["en", "ja", "zh-HK", "fr"]},
    "user_profile": {
        "standard_attributes": {
            "access_control": [
                {"pointer": "/nickname", "access_control": {"end_user": "readonly", "bearer": "readonly"}},
                {"pointer": "/middle_name", "access_control": {"end_user": "hidden", "bearer": "hidden"}},
            ]
        },
        "custom_attributes": {
            "attributes": [
                {
                    "id": "a1",
                    "pointer": "/member_no",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 99999,
                    "access_control": {"end_user": "readwrite", "bearer": "readonly"},
                },
                {
                    "id": "a2",
                    "pointer": "/plan",
                    "type": "enum",
                    "enum": ["free", "pro"],
                    "access_control": {"end_user": "readonly", "bearer": "readonly"},
                },
                {"id": "a3", "pointer": "/internal_score", "type": "number"},
            ]
        },
    },
}


@pytest.fixture
def settings_app(make_app: Callable[..., Flask], smtp_secrets: dict[str, Any]) -> Callable[..., Flask]:
    """An app with SETTINGS_PROJECT (plus `overrides`) that mails through the test SMTP server."""

    def build(overrides: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None) -> Flask:
        return make_app(deep_merge(SETTINGS_PROJECT, overrides or {}), secrets={**smtp_secrets, **(secrets or {})})

    return build


@dataclass
class Account:
    app: Flask
    client: Any
    user_id: str
    email: str
    password: str
    session_id: str
    token: str

    @property
    def svc(self) -> Any:
        return self.app.extensions["gatehouse"]

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=HTML, **kwargs)

    def csrf(self, path: str = "/settings/profile/name/edit") -> str:
        return csrf_of(self.get(path).get_data(as_text=True))

    def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any) -> Any:
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = self.csrf()
        return self.client.post(path, data=body, headers=HTML, **kwargs)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(app: Flask, client: Any = None, email: str | None = None, password: str | None = None) -> Account:
    """A committed user with an email login ID and a password, and a session cookie on `client`."""
    client = client or app.test_client()
    email = email or random_email().lower()
    password = password or random_password()
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = make_user(svc, email=email, password=password)
        svc.users.mark_verified(user.id, "email", email)
        session, token = svc.sessions.create(user.id, ["pwd"])
        db.session.commit()
        user_id, session_id = user.id, session.id
    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), token)
    return Account(app, client, user_id, email, password, session_id, token)


@pytest.fixture
def account(settings_app: Callable[..., Flask]) -> Account:
    return sign_in(settings_app())


def audit_types(app: Flask, user_id: str) -> list[str]:
    from sqlalchemy import select

    from app.audit import AuditLog

    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.user_id == user_id).order_by(AuditLog.id))
        return [r.activity_type for r in rows]


def text_of(resp: Any) -> str:
    """The page's HTML with entities decoded (so `can't` matches `can&#39;t`)."""
    return html.unescape(resp.get_data(as_text=True))

"""Test project config and factories with random defaults."""

from __future__ import annotations

import secrets
from typing import Any

from app.identities.models import User
from app.services import Services

TEST_PROJECT: dict[str, Any] = {
    "id": "gatehouse-test",
    "http": {"public_origin": "http://localhost:3000"},
    "identity": {
        "login_id": {
            "keys": [
                {"key": "email", "type": "email"},
                {"key": "phone", "type": "phone"},
                {"key": "username", "type": "username"},
            ]
        }
    },
    "authentication": {
        "identities": ["login_id"],
        "primary_authenticators": ["password"],
        "secondary_authenticators": ["totp", "oob_otp_email"],
    },
    "oauth": {
        "clients": [
            {
                "client_id": "spa-client",
                "name": "SPA",
                "x_application_type": "spa",
                "redirect_uris": ["http://localhost:4000/callback"],
            },
            {
                "client_id": "confidential-client",
                "name": "Web",
                "client_name": "Web",
                "x_application_type": "confidential",
                "redirect_uris": ["http://localhost:4000/cb"],
            },
        ]
    },
}


def random_email() -> str:
    return f"user-{secrets.token_hex(6)}@Example.com"


def random_password() -> str:
    return "Pw-" + secrets.token_urlsafe(12)


def make_user(svc: Services, email: str | None = None, password: str | None = None, **login_ids: str) -> User:
    """A committed user with an email login ID (random by default) and optionally a password."""
    from app.extensions import db

    pairs = [("email", email or random_email())] + list(login_ids.items())
    user = svc.users.create_user(pairs)
    if password:
        svc.passwords.create(user.id, password)
    db.session.commit()
    return user

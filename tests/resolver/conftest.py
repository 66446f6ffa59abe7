from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from app.extensions import db
from app.oidc.id_token import SID_IDP, encode_sid
from app.oidc.provider import OIDCProvider
from app.sessions.models import IdPSession

JWT_CLIENT = {
    "client_id": "jwt-client",
    "name": "JWT",
    "x_application_type": "spa",
    "redirect_uris": ["http://localhost:4000/jwt"],
    "issue_jwt_access_token": True,
}


@pytest.fixture
def resolver_app(make_app: Callable[..., Flask]) -> Flask:
    from tests.factories import TEST_PROJECT

    clients = list(TEST_PROJECT["oauth"]["clients"]) + [JWT_CLIENT]
    return make_app({"oauth": {"clients": clients}})


class Issuer:
    """Users, sessions and access tokens made with the app's own services."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def session(self, user_id: str, amr: tuple[str, ...] = ("pwd",), age: timedelta | None = None) -> tuple[str, str]:
        with self.app.app_context():
            svc = self.app.extensions["gatehouse"]
            session, token = svc.sessions.create(user_id, list(amr))
            if age is not None:
                session.last_access_at = session.last_access_at - age
            db.session.commit()
            return session.id, token

    def access_token(self, user_id: str, session_id: str, client_id: str = "spa-client") -> str:
        with self.app.app_context():
            provider: OIDCProvider = self.app.extensions["gatehouse_oidc"]
            session = db.session.get(IdPSession, session_id)
            issued = provider.access_tokens.issue_for_user(
                client=provider.clients.get(client_id),
                user_id=user_id,
                scopes=["openid"],
                offline_grant_id=None,
                idp_session_id=session_id,
                sid=encode_sid(SID_IDP, session_id),
                auth_time=session.authenticated_at,
                amr=list(session.amr),
            )
            db.session.commit()
            return issued.token

    def user(self, **changes: Any) -> str:
        from tests.factories import make_user

        with self.app.app_context():
            user = make_user(self.app.extensions["gatehouse"], password="Resolver-pass-1")
            for key, value in changes.items():
                setattr(user, key, value)
            db.session.commit()
            return user.id


@pytest.fixture
def issuer(resolver_app: Flask) -> Issuer:
    return Issuer(resolver_app)

"""Unbound singletons, bound to the app in `create_app`."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer

from app.cross_origin import Verdict, verdict
from app.db import Base


class CrossOriginCSRF(CSRFProtect):
    """Every cookie-carrying form POST: Authgear's cross-origin protection first, the form token
    second. A POST the browser says is same-origin (`Sec-Fetch-Site`, or a same-host `Origin` when
    Fetch Metadata is absent) needs no token, as on Authgear's pages, so its customised templates
    post without one; one it says is cross-origin is refused whatever its token; one with neither
    header must carry the token."""

    def protect(self, apply_exemptions: bool = False) -> None:
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return  # the token-less APIs (`csrf.exempt`)
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:
            return
        public_origin = current_app.extensions["gatehouse"].config.public_origin
        found = verdict([public_origin])
        if found is Verdict.CROSS_ORIGIN:
            self._error_response("The request came from a page of another site.")
        if found is Verdict.SAME_ORIGIN:
            g.csrf_valid = True  # read by every FlaskForm's token check
            return
        super().protect(apply_exemptions)


class SigningCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, its serializer built once per set of keys instead of on
    every request (itsdangerous' constructor was the largest cost of a request that does nothing);
    the serializer keeps no state between calls."""

    _serializer: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]


db = SQLAlchemy(model_class=Base, disable_autonaming=True, session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CrossOriginCSRF()
babel = Babel()
login_manager = LoginManager()

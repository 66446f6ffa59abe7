"""Unbound singletons, bound to the app in `create_app`."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, request, session
from flask.globals import request_ctx
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Request
from flask_babel import Babel
from flask_login import LoginManager
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
        # The method first: it is what lets most requests (every GET) through, and the cheapest.
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:
            return
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return  # the token-less APIs (`csrf.exempt`)
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

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # A request without this session's cookie (the APIs, probes, the resolver) gets the empty
        # session Flask would give it, without parsing its cookies: the name must occur in the header.
        header = request.environ.get("HTTP_COOKIE")
        if not header or self.get_cookie_name(app) not in header:
            return None if self.get_signing_serializer(app) is None else self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # An empty session nobody touched: Flask would add no header and no cookie; say so first,
        # before working out the cookie's name, domain, path and flags.
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


def _opened_session() -> SessionMixin:
    """The Flask session of this request, read without marking it accessed: Flask (3.1.3 on) adds
    `Vary: Cookie` to every response whose request touched `flask.session`, even to look."""
    opened = getattr(request_ctx._get_current_object(), "_session", None)
    return session if opened is None else opened


class CookielessLoginManager(LoginManager):
    """flask-login, whose after-request hook looks for its `_remember` mark in Flask's session on
    every response; Gatehouse keeps no login in that session (the IdP session cookie is the login),
    so the look is made without marking the session accessed, and the hook does its work only when
    the mark is there (or refreshing on each request is configured), exactly as before."""

    def _update_remember_cookie(self, response: Response) -> Response:
        if "_remember" in _opened_session() or current_app.config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST"):
            return super()._update_remember_cookie(response)
        return response


class RequestScopedSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy, whose teardown removes the request's session only when there is one (most
    requests behind the resolver's cache and every liveness probe never open one)."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        if self.session.registry.has():
            self.session.remove()


db = RequestScopedSQLAlchemy(model_class=Base, disable_autonaming=True, session_options={"expire_on_commit": False})
csrf = CrossOriginCSRF()
babel = Babel()
login_manager = CookielessLoginManager()

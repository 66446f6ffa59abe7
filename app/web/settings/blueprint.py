"""The settings blueprint and what every settings page shares.

Who is signed in: flask-login with a request loader that resolves the app session cookie, then the
IdP session cookie (the one the hosted pages set; app/oidc/app_sessions.py), so `current_user` is a
`SettingsUser` holding the user and the session, or anonymous. Anonymous visitors of `/settings` go
to the login page; of any other settings page, to `/settings` (contract 7.2).

Sensitive changes ask for a fresh authentication first: when the session's last authentication
is older than `ui.settings_reauth_max_age_seconds`, the page starts the engine's `reauth` flow,
whose steps the hosted pages show, and the flow returns to the page when it finishes.

A page opened by a settings action of an app (`x_ref`, contract 1.8) keeps the `x_ref` in its links
and, once the change is made, answers with the redirect to the app (`app.oidc.settings_action`).
Its CSP then allows forms to be answered with a redirect to the app's origin.
"""

from __future__ import annotations

import dataclasses
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, get_flashed_messages, redirect, render_template, request
from flask.blueprints import BlueprintSetupState
from flask_login import UserMixin, current_user
from werkzeug.wrappers import Response as BaseResponse

from app.context import RequestContext
from app.errors import AppError
from app.extensions import db, login_manager
from app.identities.models import User
from app.oidc import app_sessions
from app.oidc.authz_request import PendingRequest
from app.oidc.provider import oidc_provider
from app.services import services
from app.sessions.models import IdPSession
from app.transport import request_context
from app.web.blueprint import _hints as web_hints
from app.web.blueprint import _page_headers as web_page_headers
from app.web.blueprint import engine, web_flow_context
from app.web.settings.messages import notice_text, settings_error_text
from app.web.settings.selfservice import SelfService

bp = Blueprint("settings", __name__)
F = TypeVar("F")
LOGIN_URL = "/login?" + urlencode({"redirect_uri": "/settings"})
HOME = "/settings"
# Pages for someone who has just been signed out by the settings themselves.
PUBLIC_ENDPOINTS = {"settings.delete_account_success"}


class SettingsUser(UserMixin):
    """flask-login's user: the account and the IdP session the cookie names."""

    def __init__(self, user: User, session: IdPSession) -> None:
        self.user = user
        self.session = session

    def get_id(self) -> str:
        return self.user.id


@login_manager.request_loader
def _load_from_cookie(req: Any) -> SettingsUser | None:
    live = app_sessions.browser_session(oidc_provider(), req.cookies)
    if live is None:
        return None
    session, user = live
    return SettingsUser(user, session)


@login_manager.user_loader
def _no_session_users(_user_id: str) -> None:
    """Nothing is kept in Flask's session: the IdP session cookie is the only login state."""
    return None


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    login_manager.session_protection = None  # the IdP session cookie is checked on every request
    login_manager.init_app(state.app)


# -- the caller -----------------------------------------------------------------------------------
def me() -> SettingsUser:
    return current_user  # type: ignore[return-value]


def account() -> SelfService:
    return SelfService(services())


def pending_change() -> tuple[SelfService, User, str, dict[str, Any]]:
    """The self-service object, the user, and the pending change (code to enter) named by `x_pending`."""
    acc, user = account(), me().user
    token = request.args.get("x_pending") or ""
    return acc, user, token, acc.pending(user, token)


def ctx() -> RequestContext:
    """The request context the services and audit rows get, speaking the page's language."""
    from app.i18n import current_language

    base = request_context()
    return dataclasses.replace(base, locale=current_language(), session_id=me().session.id)


# -- hooks ----------------------------------------------------------------------------------------
@bp.before_request
def _signed_in() -> BaseResponse | None:
    if (services().config.project.get("ui") or {}).get("settings_disabled") is True:
        abort(404)
    web_hints()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        status = 302 if request.method in ("GET", "HEAD") else 303
        return redirect(LOGIN_URL if request.path.rstrip("/") == HOME else HOME, status)
    if services().sessions.touch(me().session, request_context()):
        db.session.commit()
    return None


@bp.after_request
def _headers(resp: Response) -> Response:
    resp = web_page_headers(resp)
    pending = action_request()
    if pending is not None and resp.mimetype == "text/html":
        from app.oidc.responses import form_page_csp

        resp.headers["Content-Security-Policy"] = form_page_csp(pending.redirect_uri)
    return resp


# -- settings actions (contract 1.8) ---------------------------------------------------------------
def action_request() -> PendingRequest | None:
    """The app's pending settings-action request this page serves (`x_ref`), if any."""
    from app.oidc.provider import oidc_provider
    from app.oidc.settings_action import pending_action

    x_ref = request.args.get("x_ref")
    if not x_ref or not current_user.is_authenticated:
        return None
    return pending_action(oidc_provider(), x_ref, me().user.id)


def url(path: str, **params: str | None) -> str:
    """A settings URL with `params`, carrying this page's `x_ref` along."""
    query = {k: v for k, v in params.items() if v is not None}
    x_ref = request.args.get("x_ref")
    if x_ref and len(x_ref) <= 64 and "x_ref=" not in path:
        query["x_ref"] = x_ref
    if not query:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(query)


def done(notice: str, target: str, action: str | None = None, signed_out: bool = False) -> Response:
    """After a change: back to the app of a settings action (with its code), or on to `target`
    with a confirmation. Commits the change (and the code) in one transaction."""
    response: Any = None
    x_ref = request.args.get("x_ref")
    if action and x_ref:
        from app.oidc.provider import oidc_provider
        from app.oidc.settings_action import complete

        response = complete(oidc_provider(), x_ref, me().user.id, action, ctx())
    db.session.commit()
    if response is None:
        if not signed_out:
            flash(notice, "notice")
        response = redirect(url(target) if not signed_out else target, 303)
    return response


# -- re-authentication ----------------------------------------------------------------------------
def fresh(view: F) -> F:
    """The page needs a recent authentication; otherwise run the reauth flow and come back."""

    @wraps(view)  # type: ignore[arg-type]
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if account().needs_reauth(me().session):
            return start_reauth()
        return view(*args, **kwargs)  # type: ignore[operator]

    return wrapper  # type: ignore[return-value]


def start_reauth() -> BaseResponse:
    from app.web.flow_pages import advance, flow_name
    from app.web.steps import WebStep

    query = request.query_string.decode("latin-1")
    return_to = services().config.public_origin + request.path + ("?" + query if query else "")
    try:
        body = {"type": "reauth", "name": flow_name("reauth", ""), "url_query": ""}
        result = engine().create(body, web_flow_context())
    except AppError as exc:
        return error_page(exc)
    step = WebStep(state_token=result.state_token, flow_type="reauth", query="", extra={"return_to": return_to})
    return advance(result, step, "reauth", status=302 if request.method in ("GET", "HEAD") else 303)


# -- rendering ------------------------------------------------------------------------------------
def render(template: str, status: int = 200, **context: Any) -> Response:
    """A settings page (templates/settings/<template>.html) with the notices flashed for it."""
    notices = [t for t in (notice_text(k) for k in get_flashed_messages(category_filter=["notice"])) if t]
    pending = action_request()
    client = services().config.client(pending.client_id) if pending is not None else None
    body = render_template(
        f"settings/{template}.html",
        page="settings/" + template,
        notices=notices,
        action=pending,
        action_client=(client or {}).get("client_name") or (client or {}).get("name") or "",
        url=url,
        **context,
    )
    return Response(body, status=status, mimetype="text/html")


def error_view(exc: AppError | None, page: str, fields: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """`error` and `error_field` for the web macros: the sentence, and the field it is about."""
    if exc is None:
        return {"error": None, "error_field": None}
    data = {**exc.to_dict(), **extra}
    field = (exc.info or {}).get("field")
    for cause in (exc.info or {}).get("causes") or []:
        if isinstance(cause, dict) and fields and cause.get("location") in fields:
            field = fields[cause["location"]]
            break
    if field is None and fields and "*" in fields and exc.reason not in ("RateLimited", "AccountLockout"):
        field = fields["*"]
    return {"error": settings_error_text(data, page), "error_field": field}


def error_page(exc: AppError, status: int | None = None) -> Response:
    body = render_template(
        "settings/error.html",
        page="settings/error",
        message=settings_error_text(exc.to_dict(), "settings"),
        notices=[],
        action=None,
        action_client="",
        url=url,
    )
    return Response(body, status=status or exc.status, mimetype="text/html")


def form_error(form: Any) -> AppError:
    """A form that failed WTForms validation: CSRF, or the first field in error."""
    from flask_wtf.csrf import CSRFError

    if "csrf_token" in form.errors:
        raise CSRFError()
    from app.web.inputs import FormInvalid

    return FormInvalid(field=next(iter(form.errors), None))


@bp.errorhandler(AppError)
def _app_error(exc: AppError) -> Response:
    db.session.rollback()
    return error_page(exc)


def _register_error_pages() -> None:
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException

    @bp.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Response:
        from app.errors import BadRequest

        return error_page(BadRequest("CSRFError", "CSRF token missing or invalid"), status=400)

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        from app.errors import BadRequest, NotFound, RequestEntityTooLarge

        code = exc.code or 500
        if code == 404:
            return error_page(NotFound("NotFound", "not found"))
        if code == 413:
            return error_page(RequestEntityTooLarge("RequestEntityTooLarge", "too large"))
        return error_page(BadRequest("BadRequest", "bad request"), status=code if code < 500 else 500)


_register_error_pages()

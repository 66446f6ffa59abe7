"""`/` (contract 7.1 redirect rules), `/logout`, the theme stylesheet and the pages' error handlers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Response, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app.errors import AppError
from app.extensions import db
from app.oidc import app_sessions
from app.oidc.provider import oidc_provider
from app.oidc.responses import form_page_csp
from app.services import services
from app.transport import request_context
from app.web.blueprint import bp, theme
from app.web.flow_pages import SIGNED_UP_COOKIE
from app.web.forms import ConfirmForm
from app.web.views import error_page


@bp.route("/")
def root() -> BaseResponse:
    """To `/signup`, or `/login` when public signup is disabled or this browser signed up before;
    `x_page=login|signup` decides first. The query goes along."""
    cfg = services().config
    x_page = request.args.get("x_page")
    if x_page in ("login", "signup"):
        page = x_page
    elif cfg.project["authentication"]["public_signup_disabled"] or request.cookies.get(
        cfg.cookie_prefix + SIGNED_UP_COOKIE
    ):
        page = "login"
    else:
        page = "signup"
    if page == "signup" and cfg.project["authentication"]["public_signup_disabled"]:
        page = "login"
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "x_page"])
    return redirect(f"/{page}" + ("?" + query if query else ""), 302)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> BaseResponse:
    """GET asks; POST (with the CSRF token) ends the browser's sessions (app session and IdP session,
    app/oidc/app_sessions.py) and clears their cookies, then goes to `redirect_uri` when it is on this
    origin (end_session's way back), else says so."""
    provider = oidc_provider()
    cfg = provider.config
    sessions = app_sessions.signed_in_sessions(provider, request.cookies)
    form = ConfirmForm()
    back = same_origin_redirect(request.args.get("redirect_uri"), cfg.public_origin, request.path)
    if request.method == "POST":
        if not form.validate():
            raise CSRFError()
        if sessions:
            app_sessions.sign_out(provider, sessions, request_context())
            db.session.commit()
        if back:
            resp: BaseResponse = redirect(back, 302)
        else:
            resp = Response(render_template("web/logged_out.html", page="logout"), mimetype="text/html")
        app_sessions.clear_cookies(resp, cfg)
        return resp
    label = None
    if sessions:
        attrs = sessions[0][1].standard_attributes or {}
        label = attrs.get("email") or attrs.get("phone_number") or attrs.get("preferred_username")
    resp = Response(
        render_template("web/logout.html", page="logout", form=form, signed_in=bool(sessions), user_label=label),
        mimetype="text/html",
    )
    if back:
        # The form's answer redirects to end_session and on to the client: `form-action` covers redirects.
        resp.headers["Content-Security-Policy"] = form_page_csp(_final_target(back))
    return resp


def same_origin_redirect(uri: str | None, public_origin: str, current_path: str) -> str | None:
    """`uri` when it stays on this origin (a path, or an absolute URL of the public origin) and is
    not this very page, as Authgear's `redirect_uri` of its pages; else None."""
    if not uri or len(uri) > 8192 or "\\" in uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc:
        origin = urlsplit(public_origin)
        if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
            return None
    elif not parts.path.startswith("/"):
        return None
    if parts.path == current_path:
        return None
    return uri


def _final_target(back: str) -> str | None:
    """Where end_session sends the browser after the sign-out: its post_logout_redirect_uri, when a
    client registered it."""
    values = parse_qs(urlsplit(back).query).get("post_logout_redirect_uri")
    clients = services().config.project["oauth"]["clients"]
    if values and any(values[0] in (c.get("post_logout_redirect_uris") or []) for c in clients):
        return values[0]
    return None


@bp.route("/theme.css")
def theme_css() -> Response:
    resp = Response(theme().css(), mimetype="text/css")
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Response:
    return error_page({"name": "BadRequest", "reason": "CSRFError"}, "csrf", status=400)


@bp.errorhandler(AppError)
def _app_error(exc: AppError) -> Response:
    return error_page(exc.to_dict(), "error")


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    reason = {404: "NotFound", 413: "RequestEntityTooLarge"}.get(code, "BadRequest")
    return error_page({"name": "BadRequest", "reason": reason}, "error", status=code if code < 500 else 500)

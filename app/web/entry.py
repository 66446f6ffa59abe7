"""`/` (contract 7.1 redirect rules), `/logout`, the theme stylesheet and the pages' error handlers."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app.errors import AppError
from app.extensions import db
from app.services import services
from app.transport import clear_session_cookie, request_context, session_cookie_name
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
def logout() -> Response:
    """GET asks; POST (with the CSRF token) revokes the IdP session and clears its cookie."""
    svc = services()
    cfg = svc.config
    session = svc.sessions.resolve(request.cookies.get(session_cookie_name(cfg)))
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate():
            raise CSRFError()
        if session is not None:
            svc.sessions.revoke(session.id, request_context())
            svc.audit.write("user.signed_out", request_context(), session.user_id)
            db.session.commit()
        resp = Response(render_template("web/logged_out.html", page="logout"), mimetype="text/html")
        clear_session_cookie(resp, cfg)
        return resp
    label = None
    if session is not None:
        user = svc.users.get(session.user_id)
        attrs = user.standard_attributes or {}
        label = attrs.get("email") or attrs.get("phone_number") or attrs.get("preferred_username")
    return Response(
        render_template("web/logout.html", page="logout", form=form, signed_in=session is not None, user_label=label),
        mimetype="text/html",
    )


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

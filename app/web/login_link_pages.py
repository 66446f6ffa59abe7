"""The login link pages (Authgear's authflowv2 verify_login_link and oob_otp_link).

`/authflow/v2/verify_login_link?code=...` is what the mail links to. It can be opened in any browser:
GET checks that the link is live and shows a confirmation button (so that mail scanners that fetch
links approve nothing); the POST (`x_oob_otp_code`, Authgear's field) approves the waiting flow and
comes back with `state=matched`; an unknown, expired or used link comes back with
`state=invalid_code` (Authgear's query states).

The waiting page (`/authflow/v2/oob_otp_link`, a flow step page in app/web/flow_pages.py) loads
static/web/login_link.js, which asks `/authflow/v2/oob_otp_link/status?x_step=...` every few
seconds and submits the page's form once `can_check` is true.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from app.authenticators import login_links
from app.errors import AppError
from app.flows.state import AuthenticationFlowNotFound
from app.services import services
from app.transport import request_context
from app.web import views
from app.web.blueprint import bp, engine, web_flow_context, web_steps
from app.web.forms import ConfirmForm
from app.web.messages import error_text
from app.web.pages import data_of

STATES = ("", "invalid_code", "matched")


def _with_state(code: str, state: str) -> BaseResponse:
    query = urlencode({"code": code, "state": state})
    return redirect(f"{login_links.VERIFY_LOGIN_LINK_PATH}?{query}", 303)


@bp.route(login_links.VERIFY_LOGIN_LINK_PATH, methods=["GET", "POST"])
def verify_login_link() -> BaseResponse:
    otp, ip = services().otp, request_context().ip
    form = ConfirmForm()
    code = (request.form.get("x_oob_otp_code") if request.method == "POST" else request.args.get("code")) or ""
    code = code.strip()[:128]
    state = request.args.get("state", "")
    state = state if state in STATES else ""
    error = None
    try:
        if request.method == "POST":
            if not form.validate():
                return views.error_page({"name": "BadRequest", "reason": "CSRFError"}, "verify_login_link")
            login_links.approve(otp, code, ip)
            return _with_state(code, "matched")
        if state == "" and not login_links.peek(otp, code, ip):
            return _with_state(code, "invalid_code")
    except AppError as exc:
        if exc.reason == "InvalidOTPCode":
            return _with_state(code, "invalid_code")
        error = error_text(exc.to_dict(), "verify_login_link")
    return views.render_simple("verify_login_link", code=code, state=state, form=form, error=error)


@bp.route("/authflow/v2/oob_otp_link/status")
def oob_otp_link_status() -> Response:
    """`{"can_check": bool}` of the waiting page's step; `{"expired": true}` when there is none."""
    step = web_steps().load(request.args.get("x_step") or "")
    if step is None:
        return jsonify({"expired": True})
    try:
        result = engine().get({"state_token": step.state_token}, web_flow_context())
    except AuthenticationFlowNotFound:
        return jsonify({"expired": True})
    data = data_of(result.action)
    resp = jsonify({"can_check": bool(data.get("can_check")) and data.get("otp_form") == "link"})
    resp.headers["Cache-Control"] = "no-store"
    return resp

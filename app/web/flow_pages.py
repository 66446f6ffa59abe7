"""The flow pages: `/login`, `/signup`, `/reauth` and `/authflow/v2/<page>` (contract 6.10, 7.1).

GET shows the engine's current action for the page's `x_step`; POST turns the form into an
input, feeds it to the engine in-process and redirects (303) to the page of the next action, or
back to the same page with the error stored for it (so reload never re-sends, and the form's
same-URL navigation replaces the history entry rather than adding one).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from flask import Response, abort, current_app, g, redirect, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response as BaseResponse

from app.botprotection.service import BotProtection
from app.errors import AppError
from app.flows.engine import FlowResult
from app.flows.errors import MISCONFIGURATION_REASONS
from app.flows.state import AuthenticationFlowNotFound
from app.flows.steps.select_account import hints_allow
from app.services import services
from app.transport import apply_flow_cookies
from app.web import sso, views
from app.web.blueprint import HTML_CSP, bp, engine, pending_request, theme, web_flow_context, web_steps
from app.web.forms import ConfirmForm
from app.web.inputs import FormInvalid, build_input, form_class, form_data, kept_values, with_bot_protection
from app.web.messages import ACCOUNT_STATUS, error_text
from app.web.pages import (
    ENTRY_PAGES,
    auto_select,
    needs_bot_protection,
    pages_for,
    path_of,
    select_account_option,
)
from app.web.steps import WebStep

SIGNED_UP_COOKIE = "signed_up"  # contract 0.5: `/` then prefers the login page
ENTRY_FLOW = {"signup": "signup", "reauth": "reauth", "forgot_password": "account_recovery"}
STEP_PAGES = {
    "account_linking",
    "enter_password",
    "create_password",
    "change_password",
    "enter_oob_otp",
    "oob_otp_link",
    "setup_oob_otp",
    "enter_totp",
    "setup_totp",
    "enter_recovery_code",
    "view_recovery_code",
    "forgot_password",
    "forgot_password/otp",
    "forgot_password/link/sent",
    "reset_password",
    "terminate_other_sessions",
    "fill_in_user_profile",
    "use_passkey",
    "prompt_create_passkey",
    "verify_bot_protection",
}
SUCCESS_PAGE = {"change_password": "change_password/success", "reset_password": "reset_password/success"}
_MAX_QUERY = 4096


# -- URLs -------------------------------------------------------------------------------------------
def page_url(page: str, x_step: str, query: str = "") -> str:
    """A step's URL: `x_step`, and on a flow's first page also the query it was opened with, so
    that reloading it in a browser that lost its steps still carries the authorization request."""
    return f"{path_of(page)}?{query + '&' if query else ''}{urlencode({'x_step': x_step})}"


def entry_query() -> str:
    """The page's query for the engine's `url_query` and for links between entry pages."""
    pairs = [
        (k, v) for k, v in parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True) if k != "x_step"
    ]
    return urlencode(pairs)[:_MAX_QUERY]


def engine_query(query: str) -> str:
    """`url_query` for the engine: the page's query, with the client of a pending authorization
    request taken from that request (a query cannot claim another client's flows)."""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
    pending = pending_request()
    if pending is not None:
        pairs = [(k, v) for k, v in pairs if k != "client_id"] + [("client_id", pending.client_id)]
        if pending.ui_locales and not any(k == "ui_locales" for k, _ in pairs):
            pairs.append(("ui_locales", pending.ui_locales))
        # Sent to /oauth2/authorize, the flow group holds for the pages of that request (Authgear
        # reads it from the OAuth session), unless the page's own query names one.
        group = getattr(pending, "x_authentication_flow_group", None)
        if group and not any(k == "x_authentication_flow_group" for k, _ in pairs):
            pairs.append(("x_authentication_flow_group", group))
    return urlencode(pairs)


def entry_url(page: str, query: str) -> str:
    return path_of(page) + ("?" + query if query else "")


# -- starting -------------------------------------------------------------------------------------
def login_flow_type() -> str:
    return "signup_login" if services().config.project["ui"].get("signup_login_flow_enabled") else "login"


def flow_name(flow_type: str, query: str) -> str:
    """`default`, or the flow of this type in the group the query names
    (`x_authentication_flow_group`, contract 6.8 `ui.authentication_flow.groups`)."""
    wanted = dict(parse_qsl(query)).get("x_authentication_flow_group")
    groups = (services().config.project["ui"].get("authentication_flow") or {}).get("groups") or []
    for group in groups:
        if isinstance(group, dict) and group.get("name") == wanted:
            for f in group.get("flows") or []:
                if isinstance(f, dict) and f.get("type") == flow_type and isinstance(f.get("name"), str):
                    return f["name"]
    return "default"


def start(page: str) -> Response:
    flow_type = login_flow_type() if page == "login" else ENTRY_FLOW[page]
    if page == "signup" and promoting(pending_request()):
        flow_type = "promote"  # an anonymous user signs up as themselves (app/flows/promote.py)
    query = entry_query()
    url_query = engine_query(query)
    body = {"type": flow_type, "name": flow_name(flow_type, url_query), "url_query": url_query}
    try:
        result = engine().create(body, web_flow_context())
    except AppError as exc:
        return views.error_page(exc.to_dict(), page)
    step = WebStep(state_token=result.state_token, flow_type=flow_type, query=query)
    return advance(result, step, page, status=302)


def promoting(pending: object) -> bool:
    """The authorization request carries Authgear's anonymous login hint (`startPromoteAnonymousUser`)."""
    hint = getattr(pending, "login_hint", None) or ""
    kind = parse_qs(urlsplit(hint).query).get("type")
    return hint.startswith("https://authgear.com/login_hint?") and kind == ["anonymous"]


def advance(result: FlowResult, previous: WebStep, from_page: str, status: int = 303) -> Response:
    """Save the step the engine moved to (after any choice the pages make by themselves) and
    send the browser to its page; on `finished`, set the cookies and go to the finish page."""
    store = web_steps()
    select_from = None
    choice = auto_select(result.action)
    if choice is not None:
        chooser = WebStep(
            state_token=result.state_token, flow_type=previous.flow_type, query=previous.query, extra=previous.extra
        )
        x_chooser = store.save(chooser)
        try:
            chosen = engine().input(result.state_token, choice, web_flow_context())
        except AppError as exc:
            if exc.reason in MISCONFIGURATION_REASONS:
                return views.error_page(exc.to_dict(), from_page)
            # The choice stays on screen with the reason it could not be made (e.g. a resend cooldown).
            chooser.error = _stored_error(exc, {}, "", resend=True)
            store.put(x_chooser, chooser)
            return redirect(page_url(pages_for(previous.flow_type, result.action)[0], x_chooser), status)
        result, select_from = chosen, x_chooser
    step = WebStep(
        state_token=result.state_token,
        flow_type=previous.flow_type,
        query=previous.query,
        select_from=select_from,
        extra=previous.extra,
    )
    finished = result.action.get("type") == "finished"
    if finished:
        # A flow that server code started for a page of its own (the settings pages' reauth) returns
        # there: `extra["return_to"]` is never taken from a form or query.
        engine_target = (result.action.get("data") or {}).get("finish_redirect_uri")
        step.finish_redirect_uri = str(step.extra.get("return_to") or engine_target or "")
        step.last_page = from_page
        step.signed_up = result.state.data.get("effective_type", result.state.type) in ("signup", "promote")
    x_step = store.save(step)
    if finished:
        target = page_url(SUCCESS_PAGE.get(from_page, "finish"), x_step)
    else:
        pages = pages_for(previous.flow_type, result.action)
        first = pages[0] if pages else "finish"
        target = page_url(first, x_step, previous.query if first == ENTRY_PAGES.get(previous.flow_type) else "")
    resp = redirect(target, status)
    cfg = services().config
    apply_flow_cookies(resp, result, cfg)
    if step.signed_up:
        resp.set_cookie(
            cfg.cookie_prefix + SIGNED_UP_COOKIE,
            "true",
            max_age=365 * 86400,
            secure=cfg.secure_cookies,
            httponly=True,
            samesite="Lax",
        )
    return resp


def _stored_error(exc: AppError, values: dict[str, str], identification: str, resend: bool) -> dict[str, Any]:
    return {
        "name": exc.name,
        "reason": exc.reason,
        "info": exc.info,
        "values": values,
        "identification": identification,
        "resend": resend,
    }


# -- one page -------------------------------------------------------------------------------------
def flow_page(page: str) -> Response:
    x_step = request.args.get("x_step")
    if page == "reset_password" and request.method == "GET" and not x_step and request.args.get("code"):
        return reset_link()
    is_entry = page in ("login", "signup", "reauth", "forgot_password")
    store = web_steps()
    step = store.load(x_step) if x_step else None
    if step is None:
        if is_entry and request.method == "GET":
            return start(page)
        return views.expired_page(page, None)
    try:
        result = engine().get({"state_token": step.state_token}, web_flow_context())
    except AuthenticationFlowNotFound:
        return _expired(page, step)
    if engine().states.is_finished(result.state.flow_id):
        # A page of a flow that has ended (reached again with back): start over, never re-use it.
        return _expired(page, step)
    pages = pages_for(step.flow_type, result.action)
    if page not in pages:
        return redirect(page_url(pages[0], x_step), 303 if request.method == "POST" else 302) if pages else abort(404)
    assert x_step is not None
    if request.method == "POST":
        return submit(page, x_step, step, result)
    error = step.error
    if error is not None:
        step.error = None
        store.put(x_step, step)
    else:
        oauth_start = sso.auto_start(page, x_step, step, result.action)  # x_oauth_provider_alias
        if oauth_start is not None:
            return oauth_start
    form = form_class(page, result.action)(formdata=None, data=(error or {}).get("values") or None)
    if needs_bot_protection(page, result.action):
        _show_bot_protection()
    return views.render_page(page, x_step, step, result, form, error)


def reset_link() -> Response:
    """`/authflow/v2/reset_password?code=...`, the reset link: the Flow API's input without a state
    token opens the flow that sent it, at the new password (Authgear's HandleResumeOfFlow). Opening it
    uses nothing up; a wrong, expired or used link shows why."""
    code = (request.args.get("code") or "").strip()[:128]
    try:
        result = engine().input_request({"input": {"account_recovery_code": code}}, web_flow_context())
    except AppError as exc:
        if exc.reason in ("PasswordResetFailed", "AuthenticationFlowNotFound", "RateLimited"):
            return views.render_simple(
                "reset_password_link_invalid",
                status=400 if exc.reason != "RateLimited" else 429,
                message=error_text(exc.to_dict(), "reset_password"),
                restart_url=entry_url("forgot_password", ""),
            )
        return views.error_page(exc.to_dict(), "reset_password")
    step = WebStep(state_token=result.state_token, flow_type=result.state.type, query="")
    return advance(result, step, "reset_password", status=302)


# -- bot protection (app/botprotection): the provider's widget on the pages whose input needs it ------
def _show_bot_protection() -> None:
    """What templates/web/_bot_protection.html renders (read from `g`), and the CSP exception
    `_bot_protection_csp` makes for this page only."""
    bp = BotProtection.from_config(services().config)
    if bp.enabled:
        g.bot_protection = {
            "type": bp.provider_type,
            "site_key": bp.site_key,
            "script_url": bp.script_url,
            "origins": bp.script_origins,
        }


@bp.after_app_request
def _bot_protection_csp(resp: Response) -> Response:
    """The provider's script and frames are allowed on the widget's pages, and only there (this runs
    after the blueprint's own headers)."""
    shown = g.get("bot_protection")
    if shown and resp.mimetype == "text/html":
        sources = " ".join(shown["origins"])
        logo = theme().logo_origin
        resp.headers["Content-Security-Policy"] = (
            HTML_CSP.format(extra=" " + logo if logo else "").replace(
                "script-src 'self'", f"script-src 'self' {sources}"
            )
            + f"; frame-src {sources}"
        )
    return resp


def _expired(page: str, step: WebStep) -> Response:
    if page in ENTRY_PAGES.values() and request.method == "GET":
        return redirect(entry_url(page, step.query), 302)
    return views.expired_page(page, step)


def submit(page: str, x_step: str, step: WebStep, result: FlowResult) -> Response:
    if sso.wants_oauth(page):  # a provider button (Authgear's x_action=oauth, x_provider_alias)
        return sso.begin(page, x_step, step, result.action, request.form.get("x_provider_alias", ""))
    form = form_class(page, result.action, request.form.get("x_action"))(formdata=form_data(request.form, request.args))
    resend = request.form.get("x_action") == "resend"
    values: dict[str, str] = {}
    identification = ""
    try:
        if not form.validate():
            if "csrf_token" in form.errors:
                raise CSRFError()
            field = next(iter(form.errors), None)
            raise FormInvalid(field=field, fields=list(form.errors))
        values = kept_values(page, form)
        # The login link's waiting page: go on once the link was opened, or send a new one.
        inp = (
            ({"resend": True} if resend else {"check": True})
            if page == "oob_otp_link"
            else build_input(page, form, result.action, resend)
        )
        inp = with_bot_protection(inp, result.action, request.form)
        identification = str(inp.get("identification", ""))
        new = engine().input(step.state_token, inp, web_flow_context())
    except AppError as exc:
        return fail(page, x_step, step, exc, values, identification, resend)
    if page in ("login", "signup"):
        # Shown on the following pages, so the user sees which account they are signing in to.
        step = dataclasses.replace(step, extra={**step.extra, "login_id": values.get("login_id", "")})
    return advance(new, step, page)


def fail(
    page: str, x_step: str, step: WebStep, exc: AppError, values: dict[str, str], identification: str, resend: bool
) -> Response:
    if isinstance(exc, AuthenticationFlowNotFound):
        return _expired(page, step)
    if exc.reason in MISCONFIGURATION_REASONS or exc.reason == "BotProtectionVerificationFailed":
        # (a flow whose captcha failed fails every later check, as in Authgear: start again)
        # Nothing the user types changes a misconfigured flow: the error page says so (Authgear's
        # fatal error page), rather than the form again.
        return views.error_page(exc.to_dict(), page)
    step.error = _stored_error(exc, values, identification, resend)
    web_steps().put(x_step, step)
    if exc.reason in ACCOUNT_STATUS:
        return redirect(page_url("account_status", x_step), 303)
    if exc.reason == "InvariantViolated" and (exc.info.get("cause") or {}).get("kind") == "NoAuthenticator":
        return redirect(page_url("no_authenticator", x_step), 303)
    return redirect(page_url(page, x_step), 303)


# -- routes ---------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    return flow_page("login")


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Response:
    return flow_page("signup")


@bp.route("/reauth", methods=["GET", "POST"])
def reauth() -> Response:
    return flow_page("reauth")


@bp.route("/authflow/v2/<path:page>", methods=["GET", "POST"])
def step_page(page: str) -> Response:
    if page not in STEP_PAGES:
        abort(404)
    return flow_page(page)


# -- "continue as" (Authgear's /authflow/v2/select_account) --------------------------------------
@bp.route("/authflow/v2/select_account", methods=["GET", "POST"])
def select_account() -> Response:
    """Where /oauth2/authorize sends a browser holding a usable IdP session: continue as that user
    (a login flow's `select_account` input, the session kept as it is) or use another account."""
    x_step = request.args.get("x_step")
    step = web_steps().load(x_step) if x_step else None
    if step is None or x_step is None:
        return _start_select_account() if request.method == "GET" else views.expired_page("select_account", None)
    try:
        result = engine().get({"state_token": step.state_token}, web_flow_context())
    except AuthenticationFlowNotFound:
        return _expired("login", step)
    option, index = select_account_option(result.action)
    if engine().states.is_finished(result.state.flow_id) or option is None:
        return _expired("login", step)
    form = ConfirmForm()
    if request.method == "GET":
        return views.render_simple("select_account", step=step, form=form, account=option.get("display_name"))
    if not form.validate():
        raise CSRFError()
    if request.form.get("x_action") != "continue":
        return redirect(_another_account_url(step.query), 303)
    try:
        new = engine().input(step.state_token, {"identification": "select_account", "index": index}, web_flow_context())
    except AppError as exc:
        if exc.reason == "SelectAccountSessionChanged":
            # Signed out (or in as someone else) meanwhile: nothing to continue, so sign in.
            return redirect(_another_account_url(step.query), 303)
        return fail("login", x_step, step, exc, {}, "select_account", False)
    return advance(new, step, "select_account")


def _start_select_account() -> Response:
    """Starts the login flow and shows its "continue as" option, or goes on to the login page when the
    flow offers none (a custom flow without it, no usable session) or a hint names another user."""
    query = entry_query()
    pending = pending_request()
    if pending is None:
        return redirect(entry_url("login", query), 302)
    url_query = engine_query(query)
    body = {"type": "login", "name": flow_name("login", url_query), "url_query": url_query}
    try:
        result = engine().create(body, web_flow_context())
    except AppError as exc:
        return views.error_page(exc.to_dict(), "login")
    option, _ = select_account_option(result.action)
    if option is None or not hints_allow(services(), pending, str(option.get("user_id"))):
        return redirect(_another_account_url(query), 302)
    x_step = web_steps().save(WebStep(state_token=result.state_token, flow_type="login", query=query))
    return redirect(page_url("select_account", x_step), 302)


def _another_account_url(query: str) -> str:
    """The page of "use another account": the sign-up page when the request asked for it (x_page),
    else the login page, with the authorization request's query."""
    x_ref = dict(parse_qsl(query)).get("x_ref")
    pending = None
    if x_ref and "gatehouse_oidc" in current_app.extensions:
        from app.oidc.provider import oidc_provider  # the provider is optional for the pages

        pending = oidc_provider().pending.load(x_ref)
    page = "signup" if getattr(pending, "x_page", None) == "signup" else "login"
    if page == "signup" and services().config.project["authentication"]["public_signup_disabled"]:
        page = "login"
    return entry_url(page, query)


@bp.route("/authflow/v2/finish")
def finish() -> BaseResponse:
    """The end of a flow: on to where the engine said, when that is this server or the
    configured default; otherwise a plain "you're signed in" page."""
    x_step = request.args.get("x_step")
    store = web_steps()
    step = store.load(x_step)
    if step is None or step.finish_redirect_uri is None or x_step is None:
        return views.expired_page("finish", step)
    target = safe_finish_target(step.finish_redirect_uri)
    if target is None:
        return views.render_simple("finish", step=step)
    if step.extra.get("moved_on"):
        # Reached again with back: stay, so that back is not bounced forward again.
        return views.render_simple("finish", step=step, target=target)
    step.extra = {**step.extra, "moved_on": True}
    store.put(x_step, step)
    # A page that moves on by itself rather than a redirect: the browser got here from a form,
    # and CSP `form-action 'self'` stops a form's redirect chain at the first other origin
    # (consent redirects on to the client).
    return views.render_simple("redirect", step=step, target=target)


def safe_finish_target(uri: str) -> str | None:
    """`uri` if the pages may send the browser there: this server's own routes (consent,
    settings) or `ui.default_redirect_uri`. Never a URL that came from a query."""
    cfg = services().config
    if uri and uri == (cfg.project["ui"].get("default_redirect_uri") or None):
        return uri
    origin = urlsplit(cfg.public_origin)
    parts = urlsplit(uri)
    if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc) or not parts.path.startswith("/"):
        return None
    try:
        current_app.url_map.bind(origin.netloc).match(parts.path, method="GET")
    except RequestRedirect:
        return uri
    except HTTPNotFound:
        return None  # e.g. /settings while the settings pages are not installed
    except Exception:  # noqa: BLE001 (any other routing answer means: not a page to land on)
        return None
    return uri


@bp.route("/authflow/v2/change_password/success")
def change_password_success() -> Response:
    step = web_steps().load(request.args.get("x_step"))
    if step is None or step.finish_redirect_uri is None:
        return views.expired_page("change_password", step)
    return views.render_simple("change_password/success", step=step, x_step=request.args.get("x_step"))


@bp.route("/authflow/v2/reset_password/success")
def reset_password_success() -> Response:
    step = web_steps().load(request.args.get("x_step"))
    return views.render_simple(
        "reset_password/success", step=step, login_url=entry_url("login", step.query if step else "")
    )


@bp.route("/authflow/v2/account_status")
def account_status() -> Response:
    step = web_steps().load(request.args.get("x_step"))
    error = step.error if step else None
    if step is None or not error or error.get("reason") not in ACCOUNT_STATUS:
        return views.expired_page("account_status", step)
    return views.render_simple(
        "account_status",
        step=step,
        message=error_text(error, "account_status"),
        status=403,
        restart_url=entry_url("login", step.query),
    )


@bp.route("/authflow/v2/no_authenticator")
def no_authenticator() -> Response:
    step = web_steps().load(request.args.get("x_step"))
    return views.render_simple(
        "no_authenticator", step=step, status=403, restart_url=entry_url("login", step.query if step else "")
    )


@bp.route("/authflow/v2/view_recovery_code/download")
def download_recovery_codes() -> Response:
    """The recovery codes on screen, as a text file to keep."""
    step = web_steps().load(request.args.get("x_step"))
    if step is None:
        abort(404)
    try:
        action = engine().get({"state_token": step.state_token}, web_flow_context()).action
    except AuthenticationFlowNotFound:
        abort(404)
    codes = (action.get("data") or {}).get("recovery_codes") if action.get("type") == "view_recovery_code" else None
    if not codes:
        abort(404)
    app_name = views.theme_name()
    body = "\n".join([f"{app_name} recovery codes", "", *[str(c) for c in codes], ""])
    resp = Response(body, mimetype="text/plain")
    resp.headers["Content-Disposition"] = 'attachment; filename="recovery-codes.txt"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# The login link pages (verify_login_link, the waiting page's status) register on the same blueprint.
from app.web import login_link_pages  # noqa: E402,F401

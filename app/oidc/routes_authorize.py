"""`/oauth2/authorize` and `/oauth2/consent` (RFC 6749 section 4.1, OIDC Core 3.1.2, contract 1.3).

authorize validates the request, keeps it as a pending request (`x_ref`) and sends the browser on:
straight to consent for `prompt=none`, a settings action or an `id_token_hint` of the signed-in
user when the IdP session cookie (or an app session that may stand for a login, app/oidc/app_sessions.py)
can be used as it is; back to the client with `login_required` for
`prompt=none` without one; to the hosted "continue as" page (`/authflow/v2/select_account`) for
any other request with a usable IdP session; otherwise to the hosted login (or signup) page. A
client with its own `x_custom_ui_uri` gets its UI instead of the hosted pages. The flow engine
sends the browser to consent when the login finishes. consent issues the code (and records the
authorization), asking third-party clients' users first; the `x_ref` is used once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Response, g, redirect, render_template, request
from werkzeug.datastructures import MultiDict

from app.extensions import csrf, db
from app.identities.models import User
from app.oidc import app_sessions, pre_authenticated_urls
from app.oidc.app_session_tokens import AppSessionTokenInvalid, AppSessionTokens
from app.oidc.authz_request import (
    AuthorizeError,
    PendingRequest,
    custom_ui_url,
    parse_authorization_request,
    redirect_allowed,
    sdk_login_hint,
)
from app.oidc.blueprint import bp
from app.oidc.clients import OAuthClient
from app.oidc.codes import SessionlessLogin
from app.oidc.login_state import hint_mismatch, needs_login
from app.oidc.provider import OIDCProvider, oidc_provider
from app.oidc.responses import authorization_response, error_response, form_page_csp
from app.oidc.settings_action import is_settings_action, settings_page_url
from app.sessions.models import IdPSession
from app.transport import request_context


def _login_redirect(client: OAuthClient, pending: PendingRequest, x_ref: str) -> Response:
    if client.custom_ui_uri:
        return redirect(custom_ui_url(client, pending, x_ref), 302)
    # An anonymous user's promotion is a signup (the `promote` flow), as Authgear's UI sends it.
    promoting = (sdk_login_hint(pending.login_hint or "") or {}).get("type") == "anonymous"
    page = "/signup" if pending.x_page == "signup" or promoting else "/login"
    return redirect(f"{page}?{urlencode({'x_ref': x_ref})}", 302)


def _select_account_redirect(x_ref: str) -> Response:
    return redirect(f"/authflow/v2/select_account?{urlencode({'x_ref': x_ref})}", 302)


def _consent_redirect(x_ref: str) -> Response:
    return redirect(f"/oauth2/consent?{urlencode({'x_ref': x_ref})}", 302)


def _current_session(provider: OIDCProvider, pending: PendingRequest) -> tuple[IdPSession, User] | None:
    """The session a login may be answered with; a settings action, done by the settings page, takes
    the browser's session as the settings page does (an app session of any grant)."""
    if is_settings_action(pending):
        return app_sessions.browser_session(provider, request.cookies)
    return app_sessions.login_session(provider, request.cookies)


@bp.route("/oauth2/authorize", methods=["GET", "POST"])
@csrf.exempt
def authorize() -> Response:
    provider = oidc_provider()
    params = request.form if request.method == "POST" else request.args
    if pre_authenticated_urls.is_pre_authenticated_url_request(params):
        return _sign_in_with_pre_authenticated_url(provider, params)
    try:
        pending = parse_authorization_request(params, provider.clients, provider.clock().timestamp(), provider.issuer)
        if pending.id_token_hint:
            hint = provider.id_tokens.verify_hint(pending.id_token_hint)
            if hint is None:
                raise pending.error("invalid_request", "invalid id_token_hint")
            pending.id_token_hint_sub = hint.sub
        deletion = provider.config.project["account_deletion"]["scheduled_by_end_user_enabled"]
        if pending.x_settings_action == "delete_account" and not deletion:
            raise pending.error("invalid_request", "account deletion by the end user is disabled")
        sdk_hint = sdk_login_hint(pending.login_hint or "")
        if sdk_hint is not None and sdk_hint["type"] == "app_session_token":
            return _sign_in_with_app_session_token(provider, pending, sdk_hint["app_session_token"])
        live = _current_session(provider, pending)
        usable = live is not None and not hint_mismatch(pending, live[1].id)
        if "none" in pending.prompt and not usable:
            raise pending.error("login_required", "authentication required")
        x_ref = provider.pending.save(pending)
        client = provider.clients.get(pending.client_id)
        assert client is not None
        if live is not None and usable and not needs_login(pending, live[0], provider.clock()):
            # As Authgear: prompt=none and settings actions use the session as it is, and so does an
            # id_token_hint naming the signed-in user (the "continue as" page would not ask anything).
            if "none" in pending.prompt or pending.x_settings_action or pending.id_token_hint_sub == live[1].id:
                return _consent_redirect(x_ref)
            if not client.custom_ui_uri and not pending.suppresses_idp_session():
                return _select_account_redirect(x_ref)
        return _login_redirect(client, pending, x_ref)
    except AuthorizeError as error:
        return error_response(error)


def _sign_in_with_app_session_token(provider: OIDCProvider, pending: PendingRequest, token: str) -> Response:
    """Contract 1.8, as Authgear's authorize: the app session token signs the browser in as the app's
    user, then a settings action goes on to its page and any other request straight to its
    redirect URI (the SDKs' `open(Page.Settings)`: `response_type=none`, `prompt=none`)."""
    try:
        _, cookie = AppSessionTokens(provider).exchange(token, request_context())
    except AppSessionTokenInvalid:
        raise pending.error("invalid_request", "invalid app session token") from None
    if pending.x_settings_action:
        resp = _consent_redirect(provider.pending.save(pending))
    else:
        resp = redirect(pending.redirect_uri, 302)
    db.session.commit()
    app_sessions.set_cookie(resp, cookie, provider.config)
    return resp


def _sign_in_with_pre_authenticated_url(provider: OIDCProvider, params: MultiDict) -> Response:
    """Authgear's pre-authenticated URL (app/oidc/pre_authenticated_urls.py): the token signs the
    browser in as the app's user, then the browser goes to the web app's redirect URI."""
    try:
        resp, cookie = pre_authenticated_urls.handle_authorize(provider, params, request_context())
    except AuthorizeError as error:
        return error_response(error)
    db.session.commit()
    if cookie:
        app_sessions.set_cookie(resp, cookie, provider.config)
    return resp


def _page_error(description: str) -> Response:
    return error_response(AuthorizeError("invalid_request", description))


def _consent_page(client: OAuthClient, pending: PendingRequest, user: User, x_ref: str) -> Response:
    attrs = user.standard_attributes or {}
    label = attrs.get("email") or attrs.get("phone_number") or attrs.get("preferred_username") or user.id
    # The page speaks the language the authorization request asked for, as the login pages do.
    g.ui_locales_hint = pending.ui_locales
    resp = Response(
        render_template(
            "oidc/consent.html",
            page="consent",
            client_name=client.name,
            scopes=pending.scopes,
            user_label=label,
            x_ref=x_ref,
        ),
        mimetype="text/html",
    )
    resp.headers["Content-Security-Policy"] = form_page_csp(pending.redirect_uri)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _handed_over_login(provider: OIDCProvider, pending: PendingRequest) -> tuple[SessionlessLogin, User] | None:
    """The login a flow handed to this request instead of an IdP session (`x_suppress_idp_session_cookie`,
    app/flows/sessionless.py): the browser's cookie is then neither read nor written, as in Authgear."""
    info = pending.authentication_info if pending.suppresses_idp_session() else None
    if not isinstance(info, dict):
        return None
    user = db.session.get(User, str(info.get("user_id") or ""))
    if user is None or not provider.claims.is_active(user, provider.clock()):
        return None
    at = datetime.fromtimestamp(float(info.get("authenticated_at") or 0), UTC)
    return SessionlessLogin(user_id=user.id, authenticated_at=at, amr=list(info.get("amr") or [])), user


@bp.route("/oauth2/consent", methods=["GET", "POST"])
def consent() -> Response:
    provider = oidc_provider()
    # The form's fields or the page's own query, as Authgear's ParseForm reads both.
    x_ref = request.values.get("x_ref", "")
    pending = provider.pending.load(x_ref)
    if pending is None:
        return _page_error("the authorization request has expired or was already completed")
    client = provider.clients.get(pending.client_id)
    if client is None or not redirect_allowed(client, pending.redirect_uri, provider.issuer):
        return _page_error("the client of this authorization request is no longer valid")
    try:
        live = _handed_over_login(provider, pending) or _current_session(provider, pending)
        now = provider.clock()
        if live is None or hint_mismatch(pending, live[1].id) or needs_login(pending, live[0], now):
            if "none" in pending.prompt:
                provider.pending.consume(x_ref)
                raise pending.error("login_required", "authentication required")
            return _login_redirect(client, pending, x_ref)
        session, user = live
        if is_settings_action(pending):
            # Contract 1.8: the settings page does the action, then issues the code (settings_action.py),
            # for this user only.
            pending.settings_user_id = user.id
            provider.pending.update(x_ref, pending)
            return redirect(settings_page_url(pending, x_ref), 302)
        if client.is_third_party and not provider.authorizations.covers(user.id, client.client_id, pending.scopes):
            # Authgear's consent form: `x_action` consent or cancel; any other POST is "Unknown action".
            action = request.form.get("x_action") if request.method == "POST" else None
            if "none" in pending.prompt or action == "cancel":
                provider.pending.consume(x_ref)
                raise pending.error("access_denied", "authorization denied")
            if request.method == "POST" and action != "consent":
                return Response("Unknown action", status=400, mimetype="text/plain")
            if action != "consent":
                return _consent_page(client, pending, user, x_ref)
        if not provider.pending.consume(x_ref):
            return _page_error("the authorization request has expired or was already completed")
        if isinstance(session, IdPSession):
            provider.svc.sessions.touch(session, request_context())
        provider.authorizations.grant(user.id, client.client_id, pending.scopes)
        params: dict[str, str] = {}
        if pending.response_type == "code":
            params["code"] = provider.codes.create(
                client_id=client.client_id,
                session=session,
                redirect_uri=pending.redirect_uri,
                scopes=pending.scopes,
                nonce=pending.nonce,
                code_challenge=pending.code_challenge,
                code_challenge_method=pending.code_challenge_method,
                extra={"sessionless": True} if isinstance(session, SessionlessLogin) else None,
            )
        if pending.state:
            params["state"] = pending.state
        db.session.commit()
        return authorization_response(pending.redirect_uri, pending.response_mode, params)
    except AuthorizeError as error:
        return error_response(error)

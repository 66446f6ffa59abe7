"""`/oauth2/end_session`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, contract 1.8).

A first-party client's `id_token_hint` for the signed-in user logs out at once; otherwise the user
confirms on a page (a cross-site request alone must not sign anyone out). The browser then goes to
`post_logout_redirect_uri` (with `state`) when it exactly matches one of the client's registered
URIs, else to the settings page.
"""

from __future__ import annotations

from flask import Response, redirect, render_template, request
from flask_wtf.csrf import ValidationError, validate_csrf

from app.extensions import csrf, db
from app.oidc.authz_request import AuthorizeError
from app.oidc.blueprint import bp
from app.oidc.provider import oidc_provider
from app.oidc.responses import error_response, form_page_csp
from app.oidc.urls import add_query
from app.transport import clear_session_cookie, request_context, session_cookie_name

MAX_PARAM = 4096


def _param(name: str) -> str | None:
    values = (request.form if request.method == "POST" else request.args).getlist(name)
    if len(values) != 1 or not values[0] or len(values[0]) > MAX_PARAM:
        return None
    return values[0]


@bp.route("/oauth2/end_session", methods=["GET", "POST"])
@csrf.exempt
def end_session() -> Response:
    provider = oidc_provider()
    config = provider.config
    hint = provider.id_tokens.verify_hint(_param("id_token_hint") or "")
    client_id = _param("client_id")
    if hint is not None and client_id is not None and client_id not in hint.audience:
        hint = None  # a hint issued to another client says nothing about this one
    if client_id is None and hint is not None and hint.audience:
        client_id = hint.audience[0]
    client = provider.clients.get(client_id)
    post_logout = _param("post_logout_redirect_uri")
    state = _param("state")
    if client is not None and post_logout in client.post_logout_redirect_uris:
        target = add_query(post_logout, {"state": state}) if state else post_logout
    else:
        post_logout = None
        target = f"{provider.issuer}/settings"

    confirmed = False
    if request.method == "POST" and _param("confirm") == "1":
        try:
            validate_csrf(_param("csrf_token"))
        except ValidationError:
            return error_response(AuthorizeError("invalid_request", "the sign-out form has expired; try again"))
        confirmed = True

    live = provider.live_session(request.cookies.get(session_cookie_name(config)))
    trusted = (
        live is not None
        and hint is not None
        and client is not None
        and client.is_first_party
        and hint.sub == live[1].id
    )
    if live is not None and not (trusted or confirmed):
        attrs = live[1].standard_attributes or {}
        label = attrs.get("email") or attrs.get("phone_number") or attrs.get("preferred_username") or live[1].id
        resp = Response(
            render_template(
                "oidc/end_session.html",
                user_label=label,
                post_logout_redirect_uri=post_logout,
                state=state,
                client_id=client.client_id if client else None,
            ),
            mimetype="text/html",
        )
        resp.headers["Content-Security-Policy"] = form_page_csp(target)
        resp.headers["Cache-Control"] = "no-store"
        return resp
    if live is not None:
        provider.svc.sessions.revoke(live[0].id, request_context())
        db.session.commit()
    resp = redirect(target, 302)
    clear_session_cookie(resp, config)
    return resp

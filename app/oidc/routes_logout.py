"""`/oauth2/end_session`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, contract 1.8),
as Authgear's end_session handler answers it.

1. A POST is stashed and the browser sent back here with a GET (`app.oidc.logout_stash`): a
   cross-site POST does not carry the SameSite=Lax session cookie, a top-level GET does.
2. With a session, the user is signed out at once when `id_token_hint` names a first-party client
   and a session of the same SSO group (the IdP session itself, or an offline grant issued from it,
   whether or not the client sent `x_sso_enabled`); or, without a hint, when the SameSite=Strict
   marker cookie shows a same-site navigation. A malformed or foreign hint counts as no hint.
3. Otherwise, with a session, the user confirms on `/logout`, which comes back here afterwards
   (`redirect_uri`, the request without its hint).
4. Without a session: `303` to `post_logout_redirect_uri` (with `state`) when some client registered
   it exactly, else `302` to the settings page.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Response, redirect, request

from app.extensions import csrf, db
from app.oidc import app_sessions
from app.oidc.blueprint import bp
from app.oidc.id_token import SID_IDP
from app.oidc.logout_stash import KEY_COOKIE_MAX_AGE, KEY_COOKIE_SUFFIX, STASH_PARAM, open_sealed, seal
from app.oidc.provider import OIDCProvider, oidc_provider
from app.oidc.urls import add_query
from app.sessions.models import IdPSession, OfflineGrant
from app.transport import SAME_SITE_STRICT_COOKIE, request_context

log = logging.getLogger("gatehouse.oidc")

ENDPOINT = "/oauth2/end_session"
MAX_PARAM = 4096
# What an end_session request may carry; the rest is dropped, so a stash stays small.
PARAMS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales", "logout_hint")


def _request_params() -> dict[str, str]:
    """The request's parameters, the body's before the query's; repeated or oversized ones dropped."""
    params: dict[str, str] = {}
    for name in (STASH_PARAM, *PARAMS):
        values = request.form.getlist(name) or request.args.getlist(name)
        if len(values) == 1 and values[0] and len(values[0]) <= (4 * MAX_PARAM if name == STASH_PARAM else MAX_PARAM):
            params[name] = values[0]
    return params


@bp.route(ENDPOINT, methods=["GET", "POST"])
@csrf.exempt
def end_session() -> Response:
    provider = oidc_provider()
    config = provider.config
    key_cookie = config.cookie_prefix + KEY_COOKIE_SUFFIX
    params = _request_params()
    resumed = STASH_PARAM in request.args
    if resumed:
        opened = open_sealed(request.cookies.get(key_cookie), params.get(STASH_PARAM, ""))
        if opened is None:
            log.warning("end_session: invalid or expired logout stash; handled as a request without parameters")
        params = opened or {}
    elif request.method == "POST":
        key, sealed = seal(params)
        resp = redirect(f"{provider.issuer}{ENDPOINT}?{urlencode({STASH_PARAM: sealed})}", 302)
        resp.set_cookie(
            key_cookie,
            key,
            max_age=KEY_COOKIE_MAX_AGE,
            path=ENDPOINT,
            secure=config.secure_cookies,
            httponly=True,
            samesite="Lax",
        )
        return resp
    resp = _answer(provider, {k: v for k, v in params.items() if k in PARAMS})
    resp.headers["Cache-Control"] = "no-store"
    if resumed:
        resp.delete_cookie(key_cookie, path=ENDPOINT, secure=config.secure_cookies, httponly=True, samesite="Lax")
    return resp


def _answer(provider: OIDCProvider, params: dict[str, str]) -> Response:
    config = provider.config
    sessions = app_sessions.signed_in_sessions(provider, request.cookies)
    if sessions:
        session = sessions[-1][0]  # the IdP session when there is one: SSO groups are made of it
        hint = params.get("id_token_hint")
        if hint:
            silent = _hint_in_session_group(provider, hint, session)
        else:
            silent = request.cookies.get(config.cookie_prefix + SAME_SITE_STRICT_COOKIE) == "true"
        if not silent:
            back = f"{provider.issuer}{ENDPOINT}"
            rest = {k: v for k, v in params.items() if k != "id_token_hint"}
            if rest:
                back += "?" + urlencode(rest)
            return redirect(f"{provider.issuer}/logout?{urlencode({'redirect_uri': back})}", 302)
        app_sessions.sign_out(provider, sessions, request_context())
        db.session.commit()

    post_logout = params.get("post_logout_redirect_uri")
    if post_logout and any(post_logout in c.post_logout_redirect_uris for c in provider.clients.all()):
        state = params.get("state")
        resp = redirect(add_query(post_logout, {"state": state}) if state else post_logout, 303)
    else:
        resp = redirect(f"{provider.issuer}/settings", 302)
    app_sessions.clear_cookies(resp, config)
    return resp


def _hint_in_session_group(provider: OIDCProvider, token: str, session: IdPSession) -> bool:
    """Whether a first-party client's ID token names `session`, a grant issued from it, or (an app
    session) the grant it stands for."""
    hint = provider.id_tokens.verify_hint(token)
    if hint is None or len(hint.audience) != 1:
        return False
    client = provider.clients.get(hint.audience[0])
    if client is None or not client.is_first_party:
        return False
    if hint.sid_kind == SID_IDP:
        return hint.sid_id == session.id
    grant = db.session.get(OfflineGrant, hint.sid_id)
    if grant is None:
        return False
    # A grant issued from this IdP session, or the grant this app session stands for.
    return grant.idp_session_id == session.id or grant.id == session.offline_grant_id

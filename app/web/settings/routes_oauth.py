"""Linked providers in the settings: `/settings/identity/oauth` lists the configured providers with the
user's account at each, links another one and unlinks one (Authgear's settings_identity_list_oauth).
The rules are `app.identities.oauth_links`'.

Linking is a round trip to the provider, as at sign-in (app/web/sso.py): the page posts
`x_provider_alias` to `/settings/identity/oauth/link`, which keeps the provider's URL under a
one-time key and sends the browser to `/settings/identity/oauth/leave`, a page that moves on to the
provider by itself (the pages' CSP `form-action 'self'` stops a form's redirect to another origin).
The provider comes back to the same `/sso/oauth2/callback/<alias>` with a single-use state naming this
browser, the signed-in user and `purpose: settings_link`; the callback hands it to `finish`, which
links the account when the same user is still signed in and sends the browser on to
`/settings/identity/oauth/linked`, which ends a `link_oauth` settings action with its code (or shows
the list with a confirmation). An error (a cancel at the provider among them) is shown on the list.

Settings actions (contract 1.8): `link_oauth` opens the list with `x_provider_alias` and goes to the
provider at once, unless the account is linked already or the provider is unknown (then the list,
narrowed to that provider, says so); `unlink_oauth` (with `x_settings_action=unlink_oauth`) shows that
provider alone with its Disconnect button. Linking and unlinking are sensitive changes: both run the
reauth flow first when the session's authentication is old.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import urlencode

from flask import Response, abort, flash, get_flashed_messages, redirect, render_template, request
from flask_babel import gettext
from werkzeug.wrappers import Response as BaseResponse

from app.crypto import random_alnum, sha256_hex
from app.errors import AppError
from app.extensions import db
from app.identities.oauth_links import Candidate, oauth_links
from app.services import services
from app.transport import request_context
from app.web.settings.blueprint import account, action_request, bp, ctx, done, error_view, form_error, me, render, url
from app.web.settings.forms import IdForm

PAGE = "/settings/identity/oauth"
_LEAVE_PREFIX = "settings:oauth:leave:"
_LINKED_PREFIX = "settings:oauth:linked:"
LEAVE_TTL_SECONDS = 20 * 60
LINKED_TTL_SECONDS = 300


@bp.context_processor
def _oauth_settings() -> dict[str, Any]:
    """The settings index shows the linked-accounts row only where providers are configured."""
    return {"oauth_links_enabled": oauth_links(services()).enabled()}


def _enabled() -> None:
    if not oauth_links(services()).enabled():
        abort(404)


def _row(c: Candidate) -> dict[str, Any]:
    from app.web.sso import BRAND_ICONS, provider_name

    return {
        "alias": c.alias,
        "type": c.type,
        "name": provider_name(c.type, c.alias),
        "icon": f"web/brands/{BRAND_ICONS.get(c.type, 'oidc')}.svg",
        "identity_id": c.identity.id if c.identity is not None else None,
        "display": c.display,
        "linked_at": c.identity.created_at if c.identity is not None else None,
        "can_link": c.identity is None and not c.create_disabled,
        "can_unlink": c.identity is not None and not c.delete_disabled,
    }


def _action_mode() -> tuple[str | None, str]:
    """The settings action this page serves (`link_oauth` / `unlink_oauth`) and its provider alias."""
    pending = action_request()
    action = pending.x_settings_action if pending is not None else None
    if action not in ("link_oauth", "unlink_oauth"):
        return None, ""
    return action, (request.args.get("x_provider_alias") or "")[:100]


def _list(status: int = 200, error: AppError | dict[str, Any] | None = None) -> Response:
    links = oauth_links(services())
    rows = [_row(c) for c in links.candidates(me().user)]
    action, alias = _action_mode()
    notice = None
    if action is not None:
        rows = [r for r in rows if r["alias"] == alias]
        if not rows:
            notice = gettext("This way of signing in is not available.")
        elif action == "link_oauth" and rows[0]["identity_id"]:
            notice = gettext("Your %(provider)s account is already connected.", provider=rows[0]["name"])
        elif action == "unlink_oauth" and not rows[0]["identity_id"]:
            notice = gettext("No %(provider)s account is connected.", provider=rows[0]["name"])
    flashed = get_flashed_messages(category_filter=["oauth_error"])
    if error is None and flashed:
        error = flashed[0]
    shown: dict[str, Any] = {"error": None, "error_field": None}
    if isinstance(error, dict):
        shown["error"] = error_sentence(error)
    elif error is not None:
        shown = error_view(error, "settings")
        shown["error"] = error_sentence(error.to_dict()) or shown["error"]
    mode_params = {}
    if action is not None:  # the action's forms keep naming the provider (and the unlink mode)
        mode_params["x_provider_alias"] = alias
        if action == "unlink_oauth":
            mode_params["x_settings_action"] = action
    return render("oauth", status=status, rows=rows, form=IdForm, state_notice=notice, mode_params=mode_params, **shown)


def error_sentence(error: dict[str, Any]) -> str:
    """What the list says about a failed link or unlink."""
    from app.web.settings.messages import settings_error_text
    from app.web.sso import provider_name

    info = error.get("info") or {}
    if error.get("reason") == "InvariantViolated" and (info.get("cause") or {}).get("kind") == "DuplicatedIdentity":
        provider = provider_name(
            str(info.get("OAuthProviderTypeIncoming") or ""), str(info.get("x_provider_alias") or "")
        )
        return gettext(
            "This %(provider)s account can't be connected: its email address, phone number or username "
            "belongs to another account here.",
            provider=provider,
        )
    if error.get("reason") == "RemoveLastIdentity" or (info.get("cause") or {}).get("kind") == "RemoveLastIdentity":
        return gettext("You can't disconnect this account: it is your only way to sign in. Add another way first.")
    return settings_error_text(error, "settings")


@bp.route(PAGE)
def oauth_list() -> BaseResponse:
    _enabled()
    action, alias = _action_mode()
    if action == "link_oauth" and alias and not request.args.get("q_sso_error"):
        # Authgear's settings action: straight to the provider, when there is something to link.
        row = next(
            (r for r in (_row(c) for c in oauth_links(services()).candidates(me().user)) if r["alias"] == alias), None
        )
        if row is not None and row["can_link"]:
            if account().needs_reauth(me().session):
                from app.web.settings.blueprint import start_reauth

                return start_reauth()
            try:
                return _start(alias)
            except AppError as exc:
                db.session.rollback()
                return _list(status=exc.status, error=exc)
    return _list()


@bp.route(PAGE + "/link", methods=["GET", "POST"])
def oauth_link() -> BaseResponse:
    _enabled()
    if request.method == "GET":
        # Back from the reauth flow a link started: the list, where it is chosen again.
        return redirect(url(PAGE), 302)
    from app.web.settings.forms import ConfirmForm

    form = ConfirmForm()
    if not form.validate():
        raise form_error(form)
    if account().needs_reauth(me().session):
        from app.web.settings.blueprint import start_reauth

        return start_reauth()
    try:
        return _start((request.form.get("x_provider_alias") or "")[:100])
    except AppError as exc:
        db.session.rollback()
        return _list(status=exc.status, error=exc)


def _start(alias: str) -> BaseResponse:
    """The provider's URL with a state for this browser and user; the browser goes via the leave page."""
    from app.web.blueprint import web_steps
    from app.web.sso import _with_state, provider_name

    svc = services()
    user = me().user
    redirect_uri = svc.sso.callback_url(alias)
    start = oauth_links(svc).start_link(user, alias, redirect_uri)
    state = svc.oauth_states.generate(
        {
            "purpose": "settings_link",
            "browser_id": web_steps().browser_id,
            "alias": alias,
            "user_id": user.id,
            "redirect_uri": redirect_uri,
            "nonce": start.nonce,
            "code_verifier": start.code_verifier,
            "x_ref": request.args.get("x_ref") or "",
        }
    )
    key = random_alnum(32)
    c = oauth_links(svc).candidate(user, alias)
    record = {"user_id": user.id, "url": _with_state(start.url, state), "provider": provider_name(c.type, alias)}
    svc.store.set(_LEAVE_PREFIX + sha256_hex(key), json.dumps(record), ttl=LEAVE_TTL_SECONDS)
    status = 302 if request.method in ("GET", "HEAD") else 303
    return redirect(url(PAGE + "/leave", x_link=key), status)


@bp.route(PAGE + "/leave")
def oauth_leave() -> BaseResponse:
    _enabled()
    svc = services()
    key = _LEAVE_PREFIX + sha256_hex((request.args.get("x_link") or "")[:100])
    raw = svc.store.get(key)
    record = json.loads(raw) if raw is not None else None
    if not record or record.get("user_id") != me().user.id:
        return redirect(url(PAGE), 302)
    svc.store.delete(key)  # once: back from the provider without an answer shows the list
    body = render_template(
        "settings/oauth_leave.html",
        page="settings/oauth_leave",
        notices=[],
        action=None,
        action_client="",
        url=url,
        target=record["url"],
        provider=record["provider"],
    )
    return Response(body, mimetype="text/html")


def finish(state: dict[str, Any], query: str) -> BaseResponse:
    """The callback's half for `purpose: settings_link` (called by app.web.sso.sso_callback): links the
    account to the user still signed in, then on to the settings page."""
    from app.oidc import app_sessions
    from app.oidc.provider import oidc_provider

    svc = services()
    x_ref = str(state.get("x_ref") or "")
    alias = str(state.get("alias") or "")
    back = {"x_ref": x_ref or None}
    live = app_sessions.browser_session(oidc_provider(), request.cookies)
    if live is None or live[1].id != state.get("user_id"):
        return redirect("/settings", 303)
    session, user = live
    request_ctx = dataclasses.replace(request_context(), session_id=session.id)
    try:
        oauth_links(svc).finish_link(
            user,
            alias,
            query,
            str(state.get("redirect_uri") or ""),
            str(state.get("nonce") or ""),
            str(state.get("code_verifier") or ""),
            request_ctx,
        )
    except AppError as exc:
        db.session.rollback()
        data = exc.to_dict()
        data["info"] = {**(data.get("info") or {}), "x_provider_alias": alias}
        flash(data, "oauth_error")
        query_back = {k: v for k, v in {**back, "x_provider_alias": alias, "q_sso_error": "1"}.items() if v}
        return redirect(PAGE + "?" + urlencode(query_back), 303)
    key = random_alnum(32)
    svc.store.set(_LINKED_PREFIX + sha256_hex(key), json.dumps({"user_id": user.id}), ttl=LINKED_TTL_SECONDS)
    db.session.commit()
    return redirect(PAGE + "/linked?" + urlencode({k: v for k, v in {**back, "x_link": key}.items() if v}), 303)


@bp.route(PAGE + "/linked")
def oauth_linked() -> BaseResponse:
    """After a link: the code of a `link_oauth` settings action, or the list with a confirmation. The
    one-time key proves this browser has just linked an account (the code is issued for nothing less)."""
    _enabled()
    svc = services()
    key = _LINKED_PREFIX + sha256_hex((request.args.get("x_link") or "")[:100])
    raw = svc.store.get(key)
    svc.store.delete(key)
    if raw is None or json.loads(raw).get("user_id") != me().user.id:
        return redirect(url(PAGE), 302)
    return done("oauth_linked", PAGE, action="link_oauth")


@bp.route(PAGE + "/unlink", methods=["GET", "POST"])
def oauth_unlink() -> BaseResponse:
    _enabled()
    if request.method == "GET":
        return redirect(url(PAGE), 302)
    form = IdForm()
    if not form.validate():
        raise form_error(form)
    if account().needs_reauth(me().session):
        from app.web.settings.blueprint import start_reauth

        return start_reauth()
    try:
        oauth_links(services()).unlink(me().user, form.id.data, ctx())
    except AppError as exc:
        db.session.rollback()
        if exc.reason == "IdentityNotFound":
            raise
        return _list(status=exc.status, error=exc)
    return done("oauth_unlinked", PAGE, action="unlink_oauth")

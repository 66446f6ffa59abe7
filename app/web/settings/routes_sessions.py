"""Signed-in sessions, app authorizations and account deletion: `/settings/sessions` and
`/settings/delete_account` (contract 7.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, request
from flask_babel import format_datetime, gettext
from werkzeug.wrappers import Response as BaseResponse

from app.errors import AppError
from app.extensions import db
from app.services import services
from app.transport import clear_session_cookie
from app.web.settings import devices
from app.web.settings.blueprint import account, bp, ctx, done, error_view, form_error, fresh, me, render
from app.web.settings.forms import ConfirmForm, DeleteAccountForm, IdForm


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return format_datetime(aware, "medium")


def _device(user_agent: str | None) -> str:
    browser, system = devices.describe(user_agent)
    if browser and system:
        return gettext("%(browser)s on %(system)s", browser=browser, system=system)
    if browser or system:
        return str(browser or system)
    return devices.fallback(user_agent) or gettext("Unknown device")


def _client_name(client_id: str) -> str:
    client = services().config.client(client_id)
    if client is None:
        return client_id
    return str(client.get("client_name") or client.get("name") or client_id)


def _sessions_page(error: AppError | None = None) -> Response:
    acc, user, current = account(), me().user, me().session
    sessions = [
        {
            "id": s.id,
            "device": _device(s.last_access_user_agent or s.created_user_agent),
            "user_agent": s.last_access_user_agent or s.created_user_agent or "",
            "ip": s.last_access_ip or s.created_ip or "",
            "last_access": _when(s.last_access_at),
            "created": _when(s.created_at),
            "current": s.id == current.id,
        }
        for s in acc.idp_sessions(user)
    ]
    apps = [
        {
            "id": g.id,
            "client": _client_name(g.client_id),
            "device": _device(g.last_access_user_agent or g.created_user_agent),
            "ip": g.last_access_ip or g.created_ip or "",
            "last_access": _when(g.last_access_at),
        }
        for g in acc.app_sessions(user)
    ]
    authorizations = [
        {"id": a.id, "client": _client_name(a.client_id), "scopes": a.scopes or [], "created": _when(a.created_at)}
        for a in acc.authorizations(user)
    ]
    return render(
        "sessions",
        status=error.status if error is not None else 200,
        sessions=sessions,
        apps=apps,
        authorizations=authorizations,
        form=IdForm,
        confirm=ConfirmForm(formdata=None),
        others=sum(1 for s in sessions if not s["current"]) + len(apps),
        **error_view(error, "settings"),
    )


@bp.route("/settings/sessions")
def sessions() -> Response:
    return _sessions_page()


def _by_id(action: Any) -> BaseResponse:
    form = IdForm()
    if not form.validate():
        raise form_error(form)
    try:
        notice = action(form.id.data)
    except AppError as exc:
        db.session.rollback()
        return _sessions_page(exc)
    return done(notice, "/settings/sessions")


@bp.route("/settings/sessions/revoke", methods=["POST"])
def session_revoke() -> BaseResponse:
    def revoke(session_id: str) -> str:
        account().revoke_session(me().user, session_id, me().session.id, ctx())
        return "session_revoked"

    return _by_id(revoke)


@bp.route("/settings/sessions/revoke_all", methods=["POST"])
def session_revoke_all() -> BaseResponse:
    form = ConfirmForm()
    if not form.validate():
        raise form_error(form)
    account().revoke_other_sessions(me().user, me().session.id, ctx())
    return done("sessions_revoked", "/settings/sessions")


@bp.route("/settings/authorizations/revoke", methods=["POST"])
def authorization_revoke() -> BaseResponse:
    def revoke(authz_id: str) -> str:
        account().revoke_authorization(me().user, authz_id, ctx())
        return "authorization_revoked"

    return _by_id(revoke)


# -- deleting the account -------------------------------------------------------------------------
@bp.route("/settings/delete_account", methods=["GET", "POST"])
@fresh
def delete_account() -> BaseResponse:
    acc = account()
    if not acc.deletion_enabled:
        abort(404)
    form = DeleteAccountForm() if request.method == "POST" else DeleteAccountForm(formdata=None)
    error = None
    if request.method == "POST":
        try:
            if not form.validate():
                raise form_error(form)
            acc.schedule_deletion(me().user, ctx())
            resp = done("", "/settings/delete_account/success", action="delete_account", signed_out=True)
            clear_session_cookie(resp, services().config)
            return resp
        except AppError as exc:
            db.session.rollback()
            error = exc
    return render(
        "delete_account",
        status=error.status if error is not None else 200,
        form=form,
        days=acc.deletion_grace_days,
        **error_view(error, "settings", {"*": "confirm"}),
    )


@bp.route("/settings/delete_account/success")
def delete_account_success() -> Response:
    """The user is signed out by now (see `PUBLIC_ENDPOINTS`)."""
    return render("delete_account_success", days=account().deletion_grace_days)

"""Passkeys in the settings: `/settings/passkey` lists them (name, added, last used), `/settings/passkey/add`
creates one and `/settings/passkey/remove` removes one (Authgear's settings_passkey page).

Adding and removing are sensitive changes: both run behind `fresh` (the reauth flow when the
session's authentication is old). Adding has a page of its own so that the reauth flow comes back to
where the ceremony starts, rather than losing a credential posted meanwhile. A removal that would
leave the user without a way to sign in is refused with Authgear's RemoveLastIdentity or
RemoveLastPrimaryAuthenticator, said on the list. The WebAuthn ceremonies run in the browser
(static/web/passkey.js); the checks are `app.passkeys.service`'s, shared with the flows and the
Admin API.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from app.errors import AppError
from app.extensions import db
from app.passkeys.service import passkeys
from app.services import services
from app.web.settings.blueprint import bp, ctx, done, error_view, form_error, fresh, me, render, url
from app.web.settings.forms import ConfirmForm, IdForm


def passkeys_enabled() -> bool:
    """As Authgear: the settings offer passkeys when the project has the passkey identity."""
    return "passkey" in (services().config.project["authentication"].get("identities") or [])


@bp.context_processor
def _passkey_settings() -> dict[str, Any]:
    """The settings index shows the passkeys row only where they are enabled."""
    return {"passkeys_enabled": passkeys_enabled()}


def _enabled() -> None:
    if not passkeys_enabled():
        abort(404)


def _list(status: int = 200, error: AppError | None = None) -> Response:
    items = passkeys(services()).list(me().user.id)
    return render("passkeys", status=status, items=items, form=IdForm, adding=False, **error_view(error, "settings"))


@bp.route("/settings/passkey")
def passkey_list() -> Response:
    _enabled()
    return _list()


def _credential(raw: str) -> Any:
    from app.web.inputs import FormInvalid

    if len(raw) > 200_000:
        raise FormInvalid(field="x_attestation_response")
    try:
        return json.loads(raw)
    except ValueError:
        raise FormInvalid(field="x_attestation_response") from None


@bp.route("/settings/passkey/add", methods=["GET", "POST"])
@fresh
def passkey_add() -> BaseResponse:
    _enabled()
    user = me().user
    service = passkeys(services())
    error = None
    if request.method == "POST":
        form = ConfirmForm()
        if not form.validate():
            raise form_error(form)
        try:
            service.register(user.id, _credential(request.form.get("x_attestation_response", "")), ctx())
            return done("passkey_added", "/settings/passkey")
        except AppError as exc:
            db.session.rollback()
            error = exc
    # New creation options each time the page is shown (each holds its own five-minute challenge).
    return render(
        "passkeys",
        status=error.status if error is not None else 200,
        adding=True,
        form=IdForm,
        creation_options=service.creation_options_for(user),
        **error_view(error, "settings/passkeys"),
    )


@bp.route("/settings/passkey/remove", methods=["GET", "POST"])
@fresh
def passkey_remove() -> BaseResponse:
    _enabled()
    if request.method == "GET":
        # Back from the reauth flow a removal started: the list, where it is made again.
        return redirect(url("/settings/passkey"), 302)
    form = IdForm()
    if not form.validate():
        raise form_error(form)
    try:
        passkeys(services()).remove(me().user.id, form.id.data, ctx())
    except AppError as exc:
        db.session.rollback()
        if exc.reason == "IdentityNotFound":
            raise
        return _list(status=exc.status, error=exc)
    return done("authenticator_removed", "/settings/passkey")

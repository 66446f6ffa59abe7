"""Biometric sign-in in the settings: `/settings/biometric` lists the devices whose key signs the user
in (Authgear's settings_biometric page, shown when `identity.biometric.list_enabled` and `biometric`
is among `authentication.identities`); `/settings/biometric/remove` removes one, behind `fresh`
like every sensitive change. Keys are set up by the app (the biometric-request grant, app/oidc/
biometric.py), never here.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from app.identities.biometric import FORMATTED_DEVICE_INFO_CLAIM, BiometricIdentityService
from app.services import services
from app.web.settings.blueprint import bp, ctx, done, form_error, fresh, me, render, url
from app.web.settings.forms import IdForm


def _service() -> BiometricIdentityService:
    svc = services()
    return BiometricIdentityService(svc.config.project, svc.audit, svc.clock)


def biometric_listed() -> bool:
    service = _service()
    return service.enabled and service.list_enabled


@bp.context_processor
def _biometric_settings() -> dict[str, Any]:
    """The settings index shows the biometric row only where Authgear would."""
    return {"biometric_listed": biometric_listed()}


def _enabled() -> None:
    if not biometric_listed():
        abort(404)


@bp.route("/settings/biometric")
def biometric_list() -> Response:
    _enabled()
    items = [
        {"id": i.id, "name": (i.claims or {}).get(FORMATTED_DEVICE_INFO_CLAIM) or "", "created_at": i.created_at}
        for i in _service().list_of(me().user.id)
    ]
    return render("biometric", items=items, form=IdForm)


@bp.route("/settings/biometric/remove", methods=["GET", "POST"])
@fresh
def biometric_remove() -> BaseResponse:
    _enabled()
    if request.method == "GET":
        # Back from the reauth flow a removal started: the list, where it is made again.
        return redirect(url("/settings/biometric"), 302)
    form = IdForm()
    if not form.validate():
        raise form_error(form)
    _service().remove(me().user.id, form.id.data, ctx())
    return done("authenticator_removed", "/settings/biometric")

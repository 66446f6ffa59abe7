"""Login IDs: `/settings/identity/<kind>` and its add, change, view, verify, change-primary pages
(contract 7.2), for emails, phone numbers and usernames.

A new email address or phone number whose claim must be verified becomes a login ID only once the
code sent to it is entered (`verify_<kind>?x_pending=...`); the code goes through the OTP service
(purpose `verification`), with its cooldown, rate limits and failed-attempt revocation.
"""

from __future__ import annotations

from flask import Response, abort, redirect, request
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from app.errors import AppError
from app.extensions import db
from app.identities.models import Identity
from app.web.inputs import entered_code
from app.web.settings.blueprint import (
    account,
    bp,
    ctx,
    done,
    error_view,
    form_error,
    fresh,
    me,
    pending_change,
    render,
    url,
)
from app.web.settings.forms import CodeForm, ConfirmForm, IdForm, LoginIDForm
from app.web.settings.selfservice import KINDS

KIND_TITLES = {"email": _l("Email addresses"), "phone": _l("Phone numbers"), "username": _l("Usernames")}
KIND_LABELS = {"email": _l("Email address"), "phone": _l("Phone number"), "username": _l("Username")}
VERIFIABLE = ("email", "phone")


def _kind_or_404(kind: str) -> None:
    if kind not in KINDS or not account().login_id_keys(kind):
        abort(404)


def _rows(kind: str) -> list[dict[str, object]]:
    acc, user = account(), me().user
    primary = acc.primary_value(user, kind)
    rows = []
    for identity in acc.identities(user, kind):
        key = acc.key_of(identity)
        rows.append(
            {
                "identity": identity,
                "verified": acc.is_verified(user, identity),
                "primary": identity.login_id == primary,
                "can_change": bool(key and key.update),
                "can_remove": bool(key and key.delete),
            }
        )
    return rows


@bp.route("/settings/identity/<any(email, phone, username):kind>")
def identity_list(kind: str) -> Response:
    _kind_or_404(kind)
    acc = account()
    return render(
        "identity_list",
        kind=kind,
        title=KIND_TITLES[kind],
        rows=_rows(kind),
        can_add=any(k.create for k in acc.login_id_keys(kind)),
        verification=acc.verification(kind),
        can_change_primary=kind in VERIFIABLE and len(acc.identities(me().user, kind)) > 1,
    )


def _identity(kind: str) -> Identity:
    return account().owned_identity(me().user, request.args.get("identity_id"), kind)


@bp.route("/settings/identity/view_<any(email, phone, username):kind>")
def identity_view(kind: str) -> Response:
    _kind_or_404(kind)
    identity = _identity(kind)
    acc = account()
    key = acc.key_of(identity)
    return render(
        "identity_view",
        kind=kind,
        label=KIND_LABELS[kind],
        identity=identity,
        verified=acc.is_verified(me().user, identity),
        verification=acc.verification(kind),
        can_change=bool(key and key.update),
        can_remove=bool(key and key.delete),
        remove_form=IdForm(formdata=None, data={"id": identity.id}),
        verify_form=ConfirmForm(formdata=None),
    )


def _value_page(kind: str, mode: str, form: LoginIDForm, error: AppError | None, identity: Identity | None) -> Response:
    return render(
        "identity_edit",
        status=error.status if error is not None else 200,
        kind=kind,
        mode=mode,
        label=KIND_LABELS[kind],
        identity=identity,
        form=form,
        needs_code=account().verification(kind) == "required",
        **error_view(error, "settings", {"/login_id": "value", "*": "value"}, identification=kind),
    )


def _after_change(kind: str, mode: str, token: str | None) -> BaseResponse:
    if token is not None:
        return redirect(url(f"/settings/identity/verify_{kind}", x_pending=token), 303)
    notice = "login_id_added" if mode == "add" else "login_id_changed"
    return done(notice, f"/settings/identity/{kind}", action=f"{mode}_{kind}")


@bp.route("/settings/identity/add_<any(email, phone, username):kind>", methods=["GET", "POST"])
@fresh
def identity_add(kind: str) -> BaseResponse:
    _kind_or_404(kind)
    if not any(k.create for k in account().login_id_keys(kind)):
        abort(404)
    form = LoginIDForm() if request.method == "POST" else LoginIDForm(formdata=None)
    if request.method == "POST":
        try:
            if not form.validate():
                raise form_error(form)
            token = account().add_login_id(me().user, kind, form.value.data.strip(), ctx())
            return _after_change(kind, "add", token)
        except AppError as exc:
            db.session.rollback()
            return _value_page(kind, "add", form, exc, None)
    return _value_page(kind, "add", form, None, None)


@bp.route("/settings/identity/change_<any(email, phone, username):kind>", methods=["GET", "POST"])
@fresh
def identity_change(kind: str) -> BaseResponse:
    _kind_or_404(kind)
    acc, user = account(), me().user
    if request.args.get("identity_id") is None:
        # A settings action names no identity: with one, change it; otherwise let the user pick.
        mine = acc.identities(user, kind)
        if len(mine) == 1:
            return redirect(url(f"/settings/identity/change_{kind}", identity_id=mine[0].id), 302)
        if not mine:
            return redirect(url(f"/settings/identity/add_{kind}"), 302)
        return redirect(url(f"/settings/identity/{kind}"), 302)
    identity = _identity(kind)
    form = LoginIDForm() if request.method == "POST" else LoginIDForm(formdata=None)
    if request.method == "POST":
        try:
            if not form.validate():
                raise form_error(form)
            token = acc.change_login_id(user, identity, form.value.data.strip(), ctx())
            return _after_change(kind, "change", token)
        except AppError as exc:
            db.session.rollback()
            return _value_page(kind, "change", form, exc, identity)
    return _value_page(kind, "change", form, None, identity)


@bp.route("/settings/identity/remove", methods=["POST"])
@fresh
def identity_remove() -> BaseResponse:
    form = IdForm()
    if not form.validate():
        raise form_error(form)
    acc, user = account(), me().user
    identity = acc.owned_identity(user, form.id.data)
    kind = identity.login_id_type or "email"
    try:
        acc.remove_login_id(user, identity, ctx())
    except AppError as exc:
        db.session.rollback()
        return render(
            "identity_list",
            status=exc.status,
            kind=kind,
            title=KIND_TITLES.get(kind, ""),
            rows=_rows(kind),
            can_add=any(k.create for k in acc.login_id_keys(kind)),
            verification=acc.verification(kind),
            can_change_primary=kind in VERIFIABLE and len(acc.identities(user, kind)) > 1,
            **error_view(exc, "settings"),
        )
    return done("login_id_removed", f"/settings/identity/{kind}")


@bp.route("/settings/identity/start_verify_<any(email, phone):kind>", methods=["POST"])
def identity_start_verify(kind: str) -> BaseResponse:
    _kind_or_404(kind)
    form = ConfirmForm()
    if not form.validate():
        raise form_error(form)
    identity = _identity(kind)
    token = account().verify_login_id(me().user, identity, ctx())
    db.session.commit()
    return redirect(url(f"/settings/identity/verify_{kind}", x_pending=token), 303)


@bp.route("/settings/identity/verify_<any(email, phone):kind>", methods=["GET", "POST"])
def identity_verify(kind: str) -> BaseResponse:
    _kind_or_404(kind)
    acc, user, token, record = pending_change()
    if record.get("op") == "oob" or record.get("kind") != kind:
        abort(404)
    form = CodeForm() if request.method == "POST" else CodeForm(formdata=None)
    error, error_extra = None, {}
    if request.method == "POST":
        resend = request.form.get("x_action") == "resend"
        try:
            if not form.validate():
                raise form_error(form)
            if resend:
                acc.resend(user, token, ctx())
                return done("code_sent", f"/settings/identity/verify_{kind}?x_pending={token}")
            record = acc.confirm(user, token, entered_code(form), ctx())
            action = {"add": f"add_{kind}", "change": f"change_{kind}"}.get(record["op"])
            notice = {"add": "login_id_added", "change": "login_id_changed"}.get(record["op"], "login_id_verified")
            return done(notice, f"/settings/identity/{kind}", action=action)
        except AppError as exc:
            db.session.rollback()
            error, error_extra = exc, {"resend": resend}
    from app.authenticators.otp import mask

    return render(
        "verify",
        status=error.status if error is not None else 200,
        kind=kind,
        target=mask(record["value"]),
        form=form,
        status_info=acc.code_status(record),
        back_url=url(f"/settings/identity/{kind}"),
        **error_view(error, "enter_oob_otp", {"*": "code"}, **error_extra),
    )


@bp.route("/settings/identity/change_primary_<any(email, phone):kind>", methods=["GET", "POST"])
def identity_change_primary(kind: str) -> BaseResponse:
    _kind_or_404(kind)
    acc, user = account(), me().user
    error = None
    if request.method == "POST":
        form = IdForm()
        try:
            if not form.validate():
                raise form_error(form)
            acc.set_primary(user, acc.owned_identity(user, form.id.data, kind), ctx())
            return done("primary_changed", f"/settings/identity/{kind}")
        except AppError as exc:
            db.session.rollback()
            error = exc
    return render(
        "change_primary",
        status=error.status if error is not None else 200,
        kind=kind,
        title=KIND_TITLES[kind],
        rows=_rows(kind),
        form=IdForm(formdata=None),
        **error_view(error, "settings"),
    )

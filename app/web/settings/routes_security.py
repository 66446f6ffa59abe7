"""Password and second factors: `/settings/change_password` and `/settings/mfa/*` (contract 7.2).

Changing the password asks for the current one (rate-limited and counted by the lockout) and
applies the policy and history. Second factors (TOTP, email or SMS codes, a secondary password)
are added and removed after a fresh authentication; the first one added also brings recovery
codes, shown once, like the hosted enrolment.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, abort, redirect, request
from flask_babel import gettext
from werkzeug.wrappers import Response as BaseResponse

from app.authenticators.otp import mask
from app.errors import AppError
from app.extensions import db
from app.services import services
from app.web.inputs import entered_code
from app.web.messages import broken_rules, password_rules
from app.web.qr import qr_svg
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
from app.web.settings.forms import (
    ChangePasswordForm,
    CodeForm,
    ConfirmForm,
    IdForm,
    NewPasswordForm,
    TargetForm,
    TOTPForm,
)

NEW_PASSWORD_FIELDS = {"*": "new_password"}


def _rules(error: AppError | None) -> list[dict[str, object]]:
    policy = services().passwords.policy.to_api()
    broken = broken_rules(error.to_dict() if error is not None else None)
    return [{"key": k, "text": t, "broken": k in broken} for k, t in password_rules(policy)]


def _new_password(form: ChangePasswordForm | NewPasswordForm) -> str:
    from app.web.inputs import FormInvalid

    if form.new_password.data != form.confirm_password.data:
        raise FormInvalid("NewPasswordTypo", "confirm_password")
    return form.new_password.data


# -- the primary password -------------------------------------------------------------------------
@bp.route("/settings/change_password", methods=["GET", "POST"])
def change_password() -> BaseResponse:
    acc, user = account(), me().user
    if not acc.primary_password_enabled:
        abort(404)
    if not acc.has_password(user):
        return redirect(url("/settings/create_password"), 302 if request.method == "GET" else 303)
    form = ChangePasswordForm() if request.method == "POST" else ChangePasswordForm(formdata=None)
    error = None
    if request.method == "POST":
        try:
            if not form.validate():
                raise form_error(form)
            acc.change_password(user, form.current_password.data, _new_password(form), ctx())
            return done("password_changed", "/settings", action="change_password")
        except AppError as exc:
            db.session.rollback()
            error = exc
    wrong_current = error is not None and error.reason == "InvalidCredentials"
    fields = {"*": "current_password"} if wrong_current else NEW_PASSWORD_FIELDS
    return render(
        "change_password",
        status=error.status if error is not None else 200,
        form=form,
        password_rules=_rules(error),
        **error_view(error, "change_password", fields),
    )


@bp.route("/settings/create_password", methods=["GET", "POST"])
@fresh
def create_password() -> BaseResponse:
    acc, user = account(), me().user
    if not acc.primary_password_enabled or acc.has_password(user):
        abort(404)
    return _new_password_page("create_password", "primary", lambda: done("password_created", "/settings"))


def _new_password_page(template: str, kind: str, after: Callable[[], BaseResponse]) -> BaseResponse:
    """Set the `kind` password (create it, or change it without asking for the old one: the page
    is behind a fresh authentication)."""
    acc, user = account(), me().user
    form = NewPasswordForm() if request.method == "POST" else NewPasswordForm(formdata=None)
    error = None
    if request.method == "POST":
        try:
            if not form.validate():
                raise form_error(form)
            new = _new_password(form)
            existing = services().passwords.get(user.id, kind)
            if existing is None:
                acc.create_password(user, new, ctx(), kind)
            else:
                services().passwords.change(existing, new, ctx())
            return after()
        except AppError as exc:
            db.session.rollback()
            error = exc
    return render(
        template,
        status=error.status if error is not None else 200,
        form=form,
        kind=kind,
        password_rules=_rules(error),
        **error_view(error, "create_password", NEW_PASSWORD_FIELDS),
    )


# -- overview -------------------------------------------------------------------------------------
@bp.route("/settings/mfa")
def mfa() -> Response:
    acc, user = account(), me().user
    offered = acc.secondary_authenticators
    if not offered:
        abort(404)
    secondaries = acc.secondaries(user)
    return render(
        "mfa",
        offered=offered,
        totp=[a for a in secondaries if a.type == "totp"],
        oob_email=[a for a in secondaries if a.type == "oob_otp_email"],
        oob_sms=[a for a in secondaries if a.type == "oob_otp_sms"],
        password=next((a for a in secondaries if a.type == "password"), None),
        recovery=acc.recovery_codes_enabled and bool(secondaries),
        remaining=services().recovery_codes.remaining(user.id),
        mode=services().config.project["authentication"].get("secondary_authentication_mode"),
    )


def _offered(name: str) -> None:
    if name not in account().secondary_authenticators:
        abort(404)


def _remove(*types: str) -> BaseResponse:
    form = IdForm()
    if not form.validate():
        raise form_error(form)
    acc, user = account(), me().user
    auth = acc.owned_secondary(user, form.id.data, types)
    _offered(auth.type)
    try:
        acc.remove_secondary(user, auth, ctx())
    except AppError as exc:
        db.session.rollback()
        return render("mfa_error", status=exc.status, **error_view(exc, "settings"))
    return done("authenticator_removed", "/settings/mfa")


def _after_first_factor(notice: str) -> BaseResponse:
    token = account().first_recovery_codes(me().user, ctx())
    if token is not None:
        db.session.commit()
        return redirect(url("/settings/mfa/view_recovery_code", x_codes=token, first="1"), 303)
    return done(notice, "/settings/mfa")


# -- TOTP -----------------------------------------------------------------------------------------
@bp.route("/settings/mfa/totp")
def totp_list() -> Response:
    _offered("totp")
    return render("totp_list", totp=[a for a in account().secondaries(me().user) if a.type == "totp"], form=IdForm)


@bp.route("/settings/mfa/create_totp", methods=["GET", "POST"])
@fresh
def totp_create() -> BaseResponse:
    _offered("totp")
    acc, user = account(), me().user
    token = request.args.get("x_totp")
    if request.method == "GET" and token is None:
        return redirect(url("/settings/mfa/create_totp", x_totp=acc.totp_begin(user)), 302)
    secret, uri = acc.totp_secret(user, token)
    assert token is not None
    form = TOTPForm() if request.method == "POST" else TOTPForm(formdata=None)
    error = None
    if request.method == "POST":
        try:
            if not form.validate():
                raise form_error(form)
            acc.totp_confirm(user, token, form.code.data, form.display_name.data or "", ctx())
            return _after_first_factor("totp_added")
        except AppError as exc:
            db.session.rollback()
            error = exc
    return render(
        "totp_create",
        status=error.status if error is not None else 200,
        form=form,
        qr_svg=qr_svg(uri, gettext("QR code for your authenticator app")),
        secret_groups=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        **error_view(error, "setup_totp", {"*": "code"}),
    )


@bp.route("/settings/mfa/totp/remove", methods=["POST"])
@fresh
def totp_remove() -> BaseResponse:
    return _remove("totp")


# -- email and SMS codes --------------------------------------------------------------------------
@bp.route("/settings/mfa/oob_otp_<any(email, sms):channel>")
def oob_list(channel: str) -> Response:
    _offered(f"oob_otp_{channel}")
    items = [a for a in account().secondaries(me().user) if a.type == f"oob_otp_{channel}"]
    return render("oob_list", channel=channel, items=items, form=IdForm)


@bp.route("/settings/mfa/create_oob_otp_<any(email, sms):channel>", methods=["GET", "POST"])
@fresh
def oob_create(channel: str) -> BaseResponse:
    _offered(f"oob_otp_{channel}")
    form = TargetForm() if request.method == "POST" else TargetForm(formdata=None)
    error = None
    if request.method == "POST":
        try:
            if not form.validate():
                raise form_error(form)
            token = account().oob_begin(me().user, channel, form.target.data.strip(), ctx())
            db.session.commit()
            return redirect(url("/settings/mfa/enter_oob_otp", x_pending=token), 303)
        except AppError as exc:
            db.session.rollback()
            error = exc
    return render(
        "oob_create",
        status=error.status if error is not None else 200,
        channel=channel,
        form=form,
        **error_view(error, "setup_oob_otp", {"*": "target"}),
    )


@bp.route("/settings/mfa/enter_oob_otp", methods=["GET", "POST"])
@fresh
def oob_verify() -> BaseResponse:
    acc, user, token, record = pending_change()
    if record.get("op") != "oob":
        abort(404)
    form = CodeForm() if request.method == "POST" else CodeForm(formdata=None)
    error, extra = None, {}
    if request.method == "POST":
        resend = request.form.get("x_action") == "resend"
        try:
            if not form.validate():
                raise form_error(form)
            if resend:
                acc.resend(user, token, ctx())
                return done("code_sent", f"/settings/mfa/enter_oob_otp?x_pending={token}")
            acc.confirm(user, token, entered_code(form), ctx())
            return _after_first_factor("oob_added")
        except AppError as exc:
            db.session.rollback()
            error, extra = exc, {"resend": resend}
    channel = record["channel"]
    return render(
        "verify",
        status=error.status if error is not None else 200,
        kind="email" if channel == "email" else "phone",
        target=mask(record["value"]),
        form=form,
        status_info=acc.code_status(record),
        back_url=url("/settings/mfa"),
        **error_view(error, "enter_oob_otp", {"*": "code"}, **extra),
    )


@bp.route("/settings/mfa/oob_otp/remove", methods=["POST"])
@fresh
def oob_remove() -> BaseResponse:
    return _remove("oob_otp_email", "oob_otp_sms")


# -- secondary password ---------------------------------------------------------------------------
@bp.route("/settings/mfa/password")
def secondary_password() -> Response:
    _offered("password")
    auth = services().passwords.get(me().user.id, "secondary")
    return render("secondary_password", auth=auth, form=IdForm(formdata=None, data={"id": auth.id if auth else ""}))


@bp.route("/settings/mfa/create_password", methods=["GET", "POST"])
@fresh
def secondary_password_create() -> BaseResponse:
    _offered("password")
    if services().passwords.get(me().user.id, "secondary") is not None:
        return redirect(url("/settings/mfa/change_password"), 302 if request.method == "GET" else 303)
    return _new_password_page("secondary_password_edit", "secondary", lambda: _after_first_factor("password_created"))


@bp.route("/settings/mfa/change_password", methods=["GET", "POST"])
@fresh
def secondary_password_change() -> BaseResponse:
    _offered("password")
    if services().passwords.get(me().user.id, "secondary") is None:
        return redirect(url("/settings/mfa/create_password"), 302 if request.method == "GET" else 303)
    return _new_password_page("secondary_password_edit", "secondary", lambda: done("password_changed", "/settings/mfa"))


@bp.route("/settings/mfa/password/remove", methods=["POST"])
@fresh
def secondary_password_remove() -> BaseResponse:
    return _remove("password")


# -- recovery codes -------------------------------------------------------------------------------
@bp.route("/settings/mfa/view_recovery_code", methods=["GET", "POST"])
@fresh
def recovery_codes() -> BaseResponse:
    acc, user = account(), me().user
    if not acc.recovery_codes_enabled or not acc.secondaries(user):
        abort(404)
    if request.method == "POST":
        form = ConfirmForm()
        if not form.validate():
            raise form_error(form)
        token = acc.regenerate_recovery_codes(user, ctx())
        db.session.commit()
        return redirect(url("/settings/mfa/view_recovery_code", x_codes=token), 303)
    token = request.args.get("x_codes")
    codes = acc.shown_codes(user, token) if token else None
    return render(
        "recovery_codes",
        codes=codes,
        first=request.args.get("first") == "1",
        remaining=services().recovery_codes.remaining(user.id),
        form=ConfirmForm(formdata=None),
        download_url=url("/settings/mfa/view_recovery_code/download", x_codes=token) if codes else None,
    )


@bp.route("/settings/mfa/view_recovery_code/download")
def recovery_codes_download() -> Response:
    codes = account().shown_codes(me().user, request.args.get("x_codes"))
    from app.web.views import theme_name

    body = "\n".join([f"{theme_name()} recovery codes", "", *codes, ""])
    resp = Response(body, mimetype="text/plain")
    resp.headers["Content-Disposition"] = 'attachment; filename="recovery-codes.txt"'
    resp.headers["Cache-Control"] = "no-store"
    return resp

"""The WTForms of the hosted pages. Each form becomes the input object the JSON API takes
(contract 6.4-6.7); that translation is in `app.web.inputs`.

Fields are posted under the names of Authgear's authflowv2 templates (`x_login_id`, `x_password`,
`x_code`, ...), so a customised Authgear template, or a client that posts Authgear's fields, works;
`app.web.inputs.form_data` also takes Gatehouse's earlier names. Element IDs keep the short names.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

_REQUIRED = _l("This field is required.")
_TOO_LONG = _l("This is too long.")


def _device_token() -> BooleanField:
    return BooleanField(_l("Don't ask again on this device"), name="x_device_token", id="request_device_token")


class IdentifyForm(FlaskForm):
    login_id = StringField(
        _l("Email address"),
        validators=[DataRequired(_REQUIRED), Length(max=320, message=_TOO_LONG)],
        name="x_login_id",
        id="login_id",
    )
    # Which kind of login ID the field holds, when the page says so (Authgear's phone/email inputs
    # and its `q_login_id_key`); otherwise the value decides.
    login_id_key = HiddenField(validators=[Optional(), Length(max=64)], name="x_login_id_key")
    login_id_input_type = HiddenField(validators=[Optional(), Length(max=64)], name="x_login_id_input_type")


class PasswordForm(FlaskForm):
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_REQUIRED), Length(max=1000, message=_TOO_LONG)],
        name="x_password",
        id="password",
    )
    request_device_token = _device_token()


class CodeForm(FlaskForm):
    """An emailed, texted or authenticator code; `resend` asks for another one instead."""

    code = StringField(_l("Code"), validators=[Optional(), Length(max=64, message=_TOO_LONG)], name="x_code", id="code")
    request_device_token = _device_token()


class RecoveryCodeForm(FlaskForm):
    recovery_code = StringField(
        _l("Recovery code"),
        validators=[DataRequired(_REQUIRED), Length(max=64, message=_TOO_LONG)],
        name="x_recovery_code",
        id="recovery_code",
    )


class NewPasswordForm(FlaskForm):
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_REQUIRED), Length(max=1000, message=_TOO_LONG)],
        name="x_new_password",
        id="new_password",
    )
    confirm_password = PasswordField(
        _l("Confirm password"),
        validators=[DataRequired(_REQUIRED), Length(max=1000, message=_TOO_LONG)],
        name="x_confirm_password",
        id="confirm_password",
    )


class TargetForm(FlaskForm):
    """Where a new email/SMS authenticator sends its codes; left out when the flow knows it."""

    target = StringField(
        _l("Email address"), validators=[Optional(), Length(max=320, message=_TOO_LONG)], name="x_target", id="target"
    )
    request_device_token = _device_token()


class ConfirmForm(FlaskForm):
    """A button and its CSRF token."""


class PasskeyForm(FlaskForm):
    """What static/web/passkey.js posts: the `PublicKeyCredential` JSON of `navigator.credentials.get`
    (Authgear's `x_assertion_response`) or `.create` (`x_attestation_response`), or a button's
    `x_action` (`passkey`, `skip`, `skip_and_do_not_ask_again`)."""

    assertion_response = HiddenField(validators=[Optional(), Length(max=200_000)], name="x_assertion_response")
    creation_response = HiddenField(validators=[Optional(), Length(max=200_000)], name="x_attestation_response")
    action = HiddenField(validators=[Optional(), Length(max=64)], name="x_action")


class ProfileForm(FlaskForm):
    """Fields are added per step: `profile_form(pointers)`."""


ATTRIBUTE_LABELS = {
    "name": _l("Full name"),
    "given_name": _l("First name"),
    "family_name": _l("Last name"),
    "middle_name": _l("Middle name"),
    "nickname": _l("Nickname"),
    "profile": _l("Profile page"),
    "picture": _l("Picture URL"),
    "website": _l("Website"),
    "gender": _l("Gender"),
    "birthdate": _l("Birthday"),
    "zoneinfo": _l("Time zone"),
    "locale": _l("Language"),
}


def attribute_field_name(pointer: str) -> str:
    return "attr_" + pointer.strip("/").replace("/", "_")


def profile_form(fields: list[dict[str, Any]]) -> type[ProfileForm]:
    """A ProfileForm class with one text field per `{pointer, required}` of the step."""

    class _Form(ProfileForm):
        pass

    for f in fields:
        pointer = str(f.get("pointer", ""))
        name = pointer.strip("/")
        label = ATTRIBUTE_LABELS.get(name, name)
        validators: list[Any] = [Length(max=400, message=_TOO_LONG)]
        validators.insert(0, DataRequired(_REQUIRED) if f.get("required") else Optional())
        setattr(_Form, attribute_field_name(pointer), StringField(label, validators=validators))
    return _Form

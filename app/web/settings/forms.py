"""The settings pages' WTForms (CSRF through flask-wtf, like the hosted pages' forms).

Profile forms are built per variant from the attributes the end user may see; a field for an
attribute that is readonly is rendered disabled, so a browser never sends it, and the page refuses
it when it is sent anyway.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

_REQUIRED = _l("This field is required.")
_TOO_LONG = _l("This is too long.")
MAX_VALUE = 400
# Control characters never belong in a name, an address or a login ID (and PostgreSQL text refuses NUL).
PRINTABLE = Regexp(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z", message=_l("Please check what you entered and try again."))


def _text(label: Any, required: bool = True, max_length: int = MAX_VALUE) -> StringField:
    first = DataRequired(_REQUIRED) if required else Optional()
    return StringField(label, validators=[first, Length(max=max_length, message=_TOO_LONG), PRINTABLE])


def _password(label: Any) -> PasswordField:
    return PasswordField(label, validators=[DataRequired(_REQUIRED), Length(max=1000, message=_TOO_LONG)])


class ConfirmForm(FlaskForm):
    """A button and its CSRF token."""


class IdForm(FlaskForm):
    """A button that acts on one row (an identity, authenticator, session or authorization)."""

    id = HiddenField(validators=[DataRequired(), Length(max=64)])


class LoginIDForm(FlaskForm):
    value = _text(_l("Email address"), max_length=MAX_VALUE)


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[Optional(), Length(max=64, message=_TOO_LONG), PRINTABLE])


class ChangePasswordForm(FlaskForm):
    current_password = _password(_l("Current password"))
    new_password = _password(_l("New password"))
    confirm_password = _password(_l("Confirm password"))


class NewPasswordForm(FlaskForm):
    new_password = _password(_l("New password"))
    confirm_password = _password(_l("Confirm password"))


class TOTPForm(FlaskForm):
    display_name = _text(_l("Name of this authenticator (optional)"), required=False, max_length=100)
    code = StringField(_l("Code"), validators=[DataRequired(_REQUIRED), Length(max=64, message=_TOO_LONG)])


class TargetForm(FlaskForm):
    target = _text(_l("Email address"), max_length=320)


class DeleteAccountForm(FlaskForm):
    confirm = BooleanField(
        _l("I understand that my account and its data will be deleted."), validators=[DataRequired(_REQUIRED)]
    )


class ProfileForm(FlaskForm):
    """Fields are added per variant by `profile_form`."""


def profile_form(fields: list[dict[str, Any]]) -> type[ProfileForm]:
    """A ProfileForm class with one field per `{name, label, kind, choices}`: `text`, `date`,
    `select` (with choices) or `email`/`url`/`tel`/`number` (text inputs of that type)."""

    class _Form(ProfileForm):
        pass

    for f in fields:
        validators: list[Any] = [Optional(), Length(max=MAX_VALUE, message=_TOO_LONG), PRINTABLE]
        if f["kind"] == "select":
            choices = [SelectChoice(value=v, label=label) for v, label in f["choices"]]
            field: Any = SelectField(f["label"], choices=choices, validate_choice=False, validators=validators)
        else:
            field = StringField(f["label"], validators=validators)
        setattr(_Form, f["name"], field)
    return _Form

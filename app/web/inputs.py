"""Forms to engine inputs: each page's submitted form becomes the very input object the JSON API
takes (contract 6.4-6.7, DESIGN 3.1), and each page's form class."""

from __future__ import annotations

import json
import re
from typing import Any

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

from app.errors import Invalid
from app.web import forms
from app.web.pages import data_of, oob_choice, option_index, options_of

_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-.]{5,}$")


class FormInvalid(Invalid):
    """A form the page itself refuses before asking the engine (an empty or mismatched field)."""

    def __init__(self, reason: str = "FormInvalid", field: str | None = None, fields: list[str] | None = None) -> None:
        info: dict[str, object] | None = {"field": field} if field else None
        if info is not None and fields and len(fields) > 1:
            info["fields"] = fields  # every field the page refused, each marked (issue 21)
        super().__init__(reason, "the form is incomplete", info)


# Gatehouse's earlier field names -> the Authgear names the forms use (app.web.forms).
_EARLIER_NAMES = {
    "login_id": "x_login_id",
    "password": "x_password",
    "code": "x_code",
    "recovery_code": "x_recovery_code",
    "new_password": "x_new_password",
    "confirm_password": "x_confirm_password",
    "target": "x_target",
    "request_device_token": "x_device_token",
}
# Authgear's other spellings of the same fields on some of its pages.
_AUTHGEAR_SYNONYMS = {"x_oob_otp_code": "x_code", "x_login_id_type": "x_login_id_input_type"}
# Authgear's `x_login_id_input_type` / `q_login_id_key` values -> identification
_INPUT_TYPES = {"email": "email", "phone": "phone", "username": "username"}


def form_data(posted: MultiDict, query: MultiDict) -> MultiDict:
    """The posted form under the forms' field names: Authgear's names as they are, Gatehouse's earlier
    names and Authgear's synonyms mapped to them, and the page's `q_login_id_key` as the login ID key."""
    data = MultiDict(posted)
    for old, new in (*_EARLIER_NAMES.items(), *_AUTHGEAR_SYNONYMS.items()):
        if new not in data and old in data:
            data.setlist(new, posted.getlist(old))
    if "x_login_id_key" not in data and query.get("q_login_id_key"):
        data["x_login_id_key"] = query["q_login_id_key"]
    return data


def identification_of(form: Any, value: str, offered: list[str]) -> str:
    """The identification the page said (login ID key or input type), else what the value looks like."""
    for said in (form.login_id_key.data, form.login_id_input_type.data):
        kind = _INPUT_TYPES.get(said or "")
        if kind in offered:
            return kind
    return infer_identification(value, offered)


def infer_identification(value: str, offered: list[str]) -> str:
    """Which login ID type the one text field holds: `+...` is a phone number, `@` an email,
    anything else a username, as far as the step offers them."""
    if value.startswith("+") and "phone" in offered:
        return "phone"
    if "@" in value and "email" in offered:
        return "email"
    if "username" in offered:
        return "username"
    if "phone" in offered and _PHONE.match(value):
        return "phone"
    if "email" in offered:
        return "email"
    return offered[0] if offered else "email"


def form_class(page: str, action: dict[str, Any], x_action: str | None = None) -> type[FlaskForm]:
    """The form `page` posts; `x_action` is the posted button (the login page's passkey button
    posts the passkey form rather than the login ID)."""
    if page in ("use_passkey", "prompt_create_passkey") or (page == "login" and x_action == "passkey"):
        return forms.PasskeyForm
    if page in ("login", "signup", "forgot_password"):
        return forms.IdentifyForm
    if page == "enter_password":
        return forms.PasswordForm
    if page == "enter_recovery_code":
        return forms.RecoveryCodeForm
    if page in ("create_password", "change_password", "reset_password"):
        return forms.NewPasswordForm
    if page in ("enter_totp", "enter_oob_otp", "forgot_password/otp", "setup_totp"):
        return forms.CodeForm
    if page == "setup_oob_otp":
        return forms.TargetForm
    if page == "fill_in_user_profile":
        return forms.profile_form(data_of(action).get("attributes") or [])
    return forms.ConfirmForm


def _new_password(form: Any) -> str:
    if form.new_password.data != form.confirm_password.data:
        raise FormInvalid("NewPasswordTypo", "confirm_password")
    return form.new_password.data


def entered_code(form: Any) -> str:
    """The code of a code form, blanks removed (people paste codes with spaces)."""
    code = "".join((form.code.data or "").split())
    if not code:
        raise FormInvalid(field="code")
    return code


def _device(form: Any, action: dict[str, Any], authentication: str) -> dict[str, Any]:
    wanted = bool(getattr(form, "request_device_token", None) and form.request_device_token.data)
    if wanted and data_of(action).get("device_token_enabled") and not authentication.startswith("primary_"):
        return {"request_device_token": True}
    return {}


def build_input(page: str, form: Any, action: dict[str, Any], resend: bool) -> dict[str, Any]:
    """The engine input for `form` submitted on `page` while the flow shows `action`."""
    data = data_of(action)
    options = options_of(action)
    if isinstance(form, forms.PasskeyForm):
        return _passkey_input(page, form, action)
    if page in ("login", "signup", "forgot_password"):
        value = (form.login_id.data or "").strip()
        offered = [str(o.get("identification")) for o in options]
        return {"identification": identification_of(form, value, offered), "login_id": value}
    if page in ("enter_password", "enter_totp", "enter_recovery_code", "enter_oob_otp") and (
        data.get("type") == "authentication_data"
    ):
        index = option_index(action, page)
        if index is None:
            raise FormInvalid()
        authentication = options[index]["authentication"]
        if page == "enter_password":
            return {
                "authentication": authentication,
                "password": form.password.data,
                **_device(form, action, authentication),
            }
        if page == "enter_totp":
            code = entered_code(form)
            return {"authentication": authentication, "code": code, **_device(form, action, authentication)}
        if page == "enter_recovery_code":
            return {"authentication": authentication, "recovery_code": form.recovery_code.data.strip()}
        return oob_choice(action, index, bool(_device(form, action, authentication)))
    if page == "verify_bot_protection":
        index = option_index(action, page)
        if index is None:
            raise FormInvalid()
        return oob_choice(action, index)
    if page == "forgot_password/link/sent":
        return {"resend": True}  # the reset link's page only sends a new link
    if page in ("enter_oob_otp", "forgot_password/otp"):
        if page == "forgot_password/otp" and action.get("type") == "select_destination":
            return {"index": 0}
        if resend:
            return {"resend": True}
        key = "account_recovery_code" if page == "forgot_password/otp" else "code"
        return {key: entered_code(form)}
    if page in ("create_password", "setup_oob_otp", "setup_totp") and data.get("type") == "create_authenticator_data":
        index = option_index(action, page)
        if index is None:
            raise FormInvalid()
        option = options[index]
        authentication = option["authentication"]
        if page == "create_password":
            return {"authentication": authentication, "new_password": _new_password(form)}
        if page == "setup_oob_otp" and not isinstance(option.get("target"), dict):
            target = (form.target.data or "").strip()
            if not target:
                raise FormInvalid(field="target")
            return {"authentication": authentication, "target": target}
        return {"authentication": authentication}
    if page == "setup_totp":
        return {"code": entered_code(form)}
    if page in ("change_password", "reset_password"):
        return {"new_password": _new_password(form)}
    if page == "view_recovery_code":
        return {"confirm_recovery_code": True}
    if page == "terminate_other_sessions":
        return {"confirm_terminate_other_sessions": True}
    if page == "fill_in_user_profile":
        attributes = []
        for f in data.get("attributes") or []:
            pointer = str(f.get("pointer", ""))
            value = (getattr(form, forms.attribute_field_name(pointer)).data or "").strip()
            if value:
                attributes.append({"pointer": pointer, "value": value})
        return {"attributes": attributes}
    raise FormInvalid()


def with_bot_protection(inp: dict[str, Any], action: dict[str, Any], posted: MultiDict) -> dict[str, Any]:
    """The input with Authgear's `bot_protection` from the widget's fields (`x_bot_protection_provider_type`,
    `x_bot_protection_provider_response`) when the option it takes asks for one."""
    key = "identification" if "identification" in inp else "authentication"
    option = next((o for o in options_of(action) if key in inp and o.get(key) == inp[key]), None)
    required = (option or {}).get("bot_protection")
    if not required:
        return inp
    response = (posted.get("x_bot_protection_provider_response") or "").strip()
    if not response:
        raise FormInvalid("BotProtectionRequired")
    kind = posted.get("x_bot_protection_provider_type") or required.get("provider", {}).get("type")
    return {**inp, "bot_protection": {"type": kind, "response": response[:8192]}}


def _credential_json(value: str | None, field: str) -> dict[str, Any]:
    """The `PublicKeyCredential` JSON passkey.js put in a hidden field; the engine checks its shape."""
    try:
        parsed = json.loads(value or "")
    except ValueError:
        raise FormInvalid(field=field) from None
    if not isinstance(parsed, dict):
        raise FormInvalid(field=field)
    return parsed


def _passkey_input(page: str, form: Any, action: dict[str, Any]) -> dict[str, Any]:
    """The passkey pages' inputs (contract 6.5, 6.6): an assertion identifies on the login page and
    authenticates on use_passkey; the prompt takes an attestation, or a skip."""
    if page == "login":
        response = _credential_json(form.assertion_response.data, "assertion_response")
        return {"identification": "passkey", "assertion_response": response}
    if page == "use_passkey":
        index = option_index(action, page)
        if index is None or data_of(action).get("type") != "authentication_data":
            raise FormInvalid()
        response = _credential_json(form.assertion_response.data, "assertion_response")
        return {"authentication": options_of(action)[index]["authentication"], "assertion_response": response}
    if form.action.data in ("skip", "skip_and_do_not_ask_again"):
        inp: dict[str, Any] = {"skip": True}
        if form.action.data == "skip_and_do_not_ask_again" and data_of(action).get("allow_do_not_ask_again"):
            inp["do_not_ask_again"] = True
        return inp
    return {"creation_response": _credential_json(form.creation_response.data, "creation_response")}


def kept_values(page: str, form: Any) -> dict[str, str]:
    """What the page shows again after an error: never a password or a code."""
    if isinstance(form, forms.PasskeyForm):
        return {}
    if page in ("login", "signup", "forgot_password"):
        return {"login_id": (form.login_id.data or "")[:320]}
    if page == "setup_oob_otp":
        return {"target": (form.target.data or "")[:320]}
    if page == "fill_in_user_profile":
        return {
            name: (field.data or "")[:400]
            for name, field in form._fields.items()
            if name.startswith("attr_") and isinstance(field.data, str)
        }
    return {}

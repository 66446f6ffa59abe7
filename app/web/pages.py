"""Which page shows an engine action (contract 7.1), and which choices the pages make by themselves.

The page follows the action: its step type, its data type and, for a choice between
authenticators, the option the user is looking at. A step whose options fit several pages (for
example TOTP or a recovery code) can be shown by any of them; the first is the default.
"""

from __future__ import annotations

from typing import Any

ENTRY_PAGES = {
    "login": "login",
    "signup_login": "login",
    "signup": "signup",
    "promote": "signup",
    "reauth": "reauth",
    "account_recovery": "forgot_password",
}
# Pages at `/<page>`; every other page is at `/authflow/v2/<page>`.
TOP_LEVEL_PAGES = {"login", "signup", "reauth"}

AUTHENTICATE_PAGE = {
    "primary_password": "enter_password",
    "secondary_password": "enter_password",
    "secondary_totp": "enter_totp",
    "recovery_code": "enter_recovery_code",
    "primary_oob_otp_email": "enter_oob_otp",
    "primary_oob_otp_sms": "enter_oob_otp",
    "secondary_oob_otp_email": "enter_oob_otp",
    "secondary_oob_otp_sms": "enter_oob_otp",
    "primary_passkey": "use_passkey",
}
CREATE_PAGE = {
    "primary_password": "create_password",
    "secondary_password": "create_password",
    "secondary_totp": "setup_totp",
    "primary_oob_otp_email": "setup_oob_otp",
    "primary_oob_otp_sms": "setup_oob_otp",
    "secondary_oob_otp_email": "setup_oob_otp",
    "secondary_oob_otp_sms": "setup_oob_otp",
}
STEP_PAGE = {
    "view_recovery_code": "view_recovery_code",
    "change_password": "change_password",
    "terminate_other_sessions": "terminate_other_sessions",
    "fill_in_user_profile": "fill_in_user_profile",
    "select_destination": "forgot_password/otp",
    "verify_account_recovery_code": "forgot_password/otp",
    "reset_password": "reset_password",
    "prompt_create_passkey": "prompt_create_passkey",
}
OOB = {k for k in AUTHENTICATE_PAGE if "_oob_otp_" in k}


def data_of(action: dict[str, Any]) -> dict[str, Any]:
    data = action.get("data")
    return data if isinstance(data, dict) else {}


def options_of(action: dict[str, Any]) -> list[dict[str, Any]]:
    options = data_of(action).get("options")
    return [o for o in options if isinstance(o, dict)] if isinstance(options, list) else []


def pages_for(flow_type: str, action: dict[str, Any]) -> list[str]:
    """The pages that can show `action`, the default first; empty when no page can."""
    kind = action.get("type")
    data_type = data_of(action).get("type")
    if kind == "finished":
        return ["finish"]
    if kind == "identify" and data_type == "account_linking_identification_data":
        return ["account_linking"]  # which existing account to sign in to and link (app/web/sso.py)
    if kind == "identify":
        page = ENTRY_PAGES.get(flow_type)
        return [page] if page else []
    if data_type == "account_recovery_verify_code_data" and data_of(action).get("otp_form") == "link":
        return ["forgot_password/link/sent"]  # a reset link was sent: Authgear's forgot_password_link_sent
    if data_type == "verify_oob_otp_data":
        # A login link waits on Authgear's oob_otp_link page until the link is opened.
        return ["oob_otp_link"] if data_of(action).get("otp_form") == "link" else ["enter_oob_otp"]
    if data_type == "create_totp_data":
        return ["setup_totp"]
    if kind == "authenticate" and data_type != "create_authenticator_data":
        table = AUTHENTICATE_PAGE
    elif kind in ("create_authenticator", "authenticate"):
        # (an authenticate step enrolling a second factor in an MFA grace period shows its options)
        table = CREATE_PAGE
    else:
        page = STEP_PAGE.get(str(kind))
        return [page] if page else []
    pages: list[str] = []
    for option in options_of(action):
        page = table.get(option.get("authentication", ""))
        if page == "enter_oob_otp" and option.get("bot_protection"):
            # Choosing it sends a code, which needs a captcha first (Authgear's verify_bot_protection).
            page = "verify_bot_protection"
        if page and page not in pages:
            pages.append(page)
    return pages


def select_account_option(action: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
    """The identify action's "continue as" option and its index (the input names it by index; a
    custom flow may declare it anywhere, not only first), or (None, 0)."""
    if action.get("type") != "identify":
        return None, 0
    for i, option in enumerate(options_of(action)):
        if option.get("identification") == "select_account":
            return option, i
    return None, 0


def option_index(action: dict[str, Any], page: str) -> int | None:
    """The first option of an authenticate / create_authenticator action that `page` shows."""
    enrolling = data_of(action).get("type") == "create_authenticator_data"
    table = AUTHENTICATE_PAGE if action.get("type") == "authenticate" and not enrolling else CREATE_PAGE
    if page == "verify_bot_protection":
        return next(
            (i for i, o in enumerate(options_of(action)) if o.get("authentication") in OOB and o.get("bot_protection")),
            None,
        )
    for i, option in enumerate(options_of(action)):
        if table.get(option.get("authentication", "")) == page:
            return i
    return None


def auto_select(action: dict[str, Any]) -> dict[str, Any] | None:
    """The input the pages send by themselves when the default choice needs nothing from the user:
    sending the code of the only destination, or of an OOB authenticator whose target is known, or
    making a TOTP secret to show. A second-factor OOB code waits for a click while the device can
    be remembered, because that choice is made when the code is requested."""
    kind = action.get("type")
    data = data_of(action)
    options = options_of(action)
    if kind == "select_destination" and len(options) == 1:
        return {"index": 0}
    if not options:
        return None
    first = options[0]
    if first.get("bot_protection"):
        return None  # the choice needs a captcha: the user makes it (verify_bot_protection)
    authentication = first.get("authentication")
    if kind == "authenticate" and data.get("type") == "authentication_data" and authentication in OOB:
        if authentication.startswith("primary_") or not data.get("device_token_enabled"):
            return _oob_choice(first, 0)
    if kind in ("create_authenticator", "authenticate") and data.get("type") == "create_authenticator_data":
        if authentication == "secondary_totp":
            return {"authentication": authentication}
        if authentication in OOB and isinstance(first.get("target"), dict):
            return {"authentication": authentication}
    return None


def _oob_choice(option: dict[str, Any], index: int) -> dict[str, Any]:
    inp: dict[str, Any] = {"authentication": option["authentication"], "index": index}
    channels = option.get("channels") or []
    if len(channels) > 1:
        # The hosted pages have no channel choice page yet: SMS, when offered, as before WhatsApp.
        inp["channel"] = "sms" if "sms" in channels else channels[0]
    return inp


def oob_choice(action: dict[str, Any], index: int, request_device_token: bool = False) -> dict[str, Any]:
    inp = _oob_choice(options_of(action)[index], index)
    if request_device_token:
        inp["request_device_token"] = True
    return inp


def needs_bot_protection(page: str, action: dict[str, Any]) -> bool:
    """Whether `page` shows the captcha widget: an option it submits carries `bot_protection`."""
    options = options_of(action)
    if page in ("login", "signup", "forgot_password"):
        return any(o.get("bot_protection") for o in options if o.get("identification") not in ("passkey", "oauth"))
    index = option_index(action, page)
    return index is not None and bool(options[index].get("bot_protection"))


def path_of(page: str) -> str:
    return f"/{page}" if page in TOP_LEVEL_PAGES else f"/authflow/v2/{page}"

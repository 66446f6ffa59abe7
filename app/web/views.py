"""What each page's template receives: the action's data, the form, the error tied to its field,
links to the other entry pages and to the other ways of getting past the step."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from babel.lists import format_list
from flask import Response, current_app, render_template
from flask_babel import get_locale, gettext

from app.errors import AppError
from app.flows.engine import FlowResult
from app.messaging.service import mask_address
from app.services import services
from app.web.blueprint import engine, pending_request, theme, web_flow_context, web_steps
from app.web.inputs import infer_identification
from app.web.messages import broken_rules, error_text, identification_label, login_id_text, password_rules
from app.web.pages import ENTRY_PAGES, data_of, option_index, options_of, pages_for, path_of
from app.web.qr import qr_svg
from app.web.steps import WebStep
from app.web.theme import _logo

# The field an error belongs to on each page (aria-describedby), when it is about what was typed.
MAIN_FIELD = {
    "login": "login_id",
    "signup": "login_id",
    "forgot_password": "login_id",
    "enter_password": "password",
    "enter_totp": "code",
    "enter_oob_otp": "code",
    "forgot_password/otp": "code",
    "setup_totp": "code",
    "enter_recovery_code": "recovery_code",
    "create_password": "new_password",
    "change_password": "new_password",
    "reset_password": "new_password",
    "setup_oob_otp": "target",
}
FIELD_REASONS = {
    "InvalidCredentials",
    "InvalidOTPCode",
    "InvalidVerificationCode",
    "InvalidTOTPCode",
    "ValidationFailed",
    "PasswordPolicyViolated",
    "PasswordReused",
    "UserNotFound",
    "InvariantViolated",
    "FormInvalid",
    "NewPasswordTypo",
}


def theme_name() -> str:
    return theme().app_name


def _template(page: str) -> str:
    return "web/" + page.replace("/", "_") + ".html"


def _error_view(
    error: dict[str, Any] | None, page: str, form: Any, labels: dict[str, Any] | None = None
) -> dict[str, Any]:
    if not error:
        return {"error": None, "error_field": None}
    text = error_text(error, page)
    field = None
    # A passkey or provider sign-in typed nothing: its error goes above the form, not under a field.
    if error.get("reason") in FIELD_REASONS and error.get("identification") not in ("passkey", "oauth"):
        field = (error.get("info") or {}).get("field") or MAIN_FIELD.get(page)
        if page == "fill_in_user_profile" and field is None:
            field = next((n for n in form._fields if n.startswith("attr_")), None)
        if field is not None and field not in form._fields:
            field = None
    if error.get("reason") == "FormInvalid" and field is not None:
        return _missing_fields(error, form, field, labels or {})
    # The macros match a field by the name it is posted under (Authgear's `x_...`).
    return {"error": text, "error_field": form[field].name if field else None}


def _missing_fields(error: dict[str, Any], form: Any, field: str, labels: dict[str, Any]) -> dict[str, Any]:
    """A form the page refused: the fields it names, each marked (a list of posted names makes the
    macros mark them all and show the sentence above the form)."""
    info = error.get("info") or {}
    names = [n for n in (info.get("fields") or [field]) if n in form._fields and n != "csrf_token"] or [field]
    values = error.get("values") or {}
    if any(values.get(n) for n in names):  # a kept value that was refused: too long, not missing
        return {"error": gettext("Please check what you entered and try again."), "error_field": form[field].name}
    label_list = [str(labels.get(n) or form[n].label.text) for n in names]
    text = gettext("Please fill in %(fields)s.", fields=format_list(label_list, locale=get_locale() or "en"))
    posted = [form[n].name for n in names]
    return {"error": text, "error_field": posted if len(posted) > 1 else posted[0]}


def _alternative_label(page: str, option: dict[str, Any] | None) -> str:
    channel = ((option or {}).get("channels") or ["email"])[0]
    labels = {
        "enter_password": gettext("Use your password"),
        "enter_totp": gettext("Use your authenticator app"),
        "enter_recovery_code": gettext("Use a recovery code"),
        "enter_oob_otp": gettext("Get a code by text message") if channel == "sms" else gettext("Get a code by email"),
        "create_password": gettext("Use a password"),
        "setup_totp": gettext("Use an authenticator app"),
        "setup_oob_otp": gettext("Use text messages") if channel == "sms" else gettext("Use email"),
        "use_passkey": gettext("Use a passkey"),
    }
    return labels.get(page, page)


def alternatives(page: str, x_step: str, step: WebStep, action: dict[str, Any]) -> list[dict[str, str]]:
    """Links to the other pages that can get past this step (other authenticators)."""
    source_step, source_action = x_step, action
    if step.select_from:
        chooser = web_steps().load(step.select_from)
        if chooser is None:
            return []
        try:
            source_action = engine().get({"state_token": chooser.state_token}, web_flow_context()).action
        except AppError:
            return []
        source_step = step.select_from
    out = []
    for other in pages_for(step.flow_type, source_action):
        if other == page:
            continue
        index = option_index(source_action, other)
        option = options_of(source_action)[index] if index is not None else None
        out.append(
            {
                "label": _alternative_label(other, option),
                "url": f"{path_of(other)}?{urlencode({'x_step': source_step})}",
            }
        )
    return out


def entry_links(step: WebStep | None) -> dict[str, str]:
    query = step.query if step else ""
    suffix = "?" + query if query else ""
    return {
        "login_url": "/login" + suffix,
        "signup_url": "/signup" + suffix,
        "forgot_password_url": "/authflow/v2/forgot_password" + suffix,
    }


def _page_data(page: str, action: dict[str, Any], error: dict[str, Any] | None) -> dict[str, Any]:
    data = data_of(action)
    out: dict[str, Any] = {}
    options = options_of(action)
    if page in ("login", "signup", "forgot_password"):
        kinds = {str(o.get("identification")) for o in options}
        out["login_id_label"] = identification_label(kinds)
        out["login_id_kinds"] = sorted(kinds - {"passkey"})
        if page == "forgot_password":  # the lead names what the project takes (issue 21)
            out["forgot_password_lead"] = login_id_text("forgot_password", kinds)
        # A passkey identification: the button's and the autofill's (conditional UI) request options.
        passkey = next((o for o in options if o.get("identification") == "passkey" and o.get("request_options")), None)
        out["passkey_request_options"] = passkey["request_options"] if passkey else None
        out["login_id_autocomplete"] = "username webauthn" if passkey else "username"
    if page in (
        "enter_password",
        "enter_totp",
        "enter_recovery_code",
        "enter_oob_otp",
        "create_password",
        "setup_oob_otp",
        "setup_totp",
        "use_passkey",
    ) and data.get("type") in ("authentication_data", "create_authenticator_data"):
        index = option_index(action, page)
        out["option"] = options[index] if index is not None else {}
        out["choosing"] = True
    else:
        out["choosing"] = False
    policy = data.get("password_policy") or (out.get("option") or {}).get("password_policy")
    if policy:
        broken = broken_rules(error)
        out["password_rules"] = [{"key": k, "text": t, "broken": k in broken} for k, t in password_rules(policy)]
    if data.get("type") == "create_totp_data":
        out["qr_svg"] = qr_svg(str(data.get("otpauth_uri", "")), gettext("QR code for your authenticator app"))
        secret = str(data.get("secret", ""))
        out["secret_groups"] = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    if data.get("type") == "view_recovery_code_data":
        out["recovery_codes"] = [str(c) for c in data.get("recovery_codes") or []]
    out["device_token_enabled"] = bool(data.get("device_token_enabled"))
    out["secondary"] = str((out.get("option") or {}).get("authentication", "")).startswith("secondary_")
    return out


def render_page(
    page: str, x_step: str, step: WebStep, result: FlowResult, form: Any, error: dict[str, Any] | None
) -> Response:
    action = result.action
    delivery_error = data_of(action).get("delivery_error")
    if error is None and data_of(action).get("delivery_status") == "failed" and isinstance(delivery_error, dict):
        error = delivery_error  # the code's message could not be sent: say so above the resend button
    context = {
        "page": page,
        "x_step": x_step,
        "action": action,
        "data": data_of(action),
        "options": options_of(action),
        "form": form,
        "flow_type": step.flow_type,
        "login_id": step.extra.get("login_id") if page not in ("login", "signup") else None,
        "alternatives": alternatives(page, x_step, step, action),
        **entry_links(step),
        **_page_data(page, action, error),
        **_polish(page, step, result, step.extra.get("login_id") if page not in ("login", "signup") else None),
    }
    context.update(_error_view(error, page, form, {"login_id": context.get("login_id_label")}))
    if page == "view_recovery_code":
        context["download_url"] = f"/authflow/v2/view_recovery_code/download?{urlencode({'x_step': x_step})}"
    status = 200
    return Response(render_template(_template(page), **context), status=status, mimetype="text/html")


def render_simple(page: str, status: int = 200, **context: Any) -> Response:
    step = context.get("step")
    context.setdefault("x_step", None)
    if page == "select_account":
        context.setdefault("client", client_view(step))
    body = render_template(_template(page), page=page, **{**entry_links(step), **context})
    return Response(body, status=status, mimetype="text/html")


def error_page(error: dict[str, Any], page: str, status: int | None = None) -> Response:
    """A page that cannot go on (a flow that may not start, an expired form): what happened, in
    the user's language, and a way back."""
    body = render_template(
        "web/error.html",
        page=page,
        message=error_text(error, page),
        **entry_links(None),
    )
    return Response(body, status=status or int(error.get("code") or 400), mimetype="text/html")


def expired_page(page: str, step: WebStep | None) -> Response:
    first = ENTRY_PAGES.get(step.flow_type, "login") if step else "login"
    query = step.query if step else ""
    restart = path_of(first) + ("?" + query if query else "")
    body = render_template(
        "web/error.html",
        page=page,
        message=error_text({"reason": "AuthenticationFlowNotFound"}, page),
        restart_url=restart,
        **entry_links(step),
    )
    return Response(body, status=410, mimetype="text/html")


# -- page polish (issue 21): the client, the account, the resend countdown ---------------------------
def _pending_of(step: WebStep | None) -> Any:
    """The pending authorization request of the page: `x_ref` in its query or in the flow's."""
    pending = pending_request()
    if pending is None and step is not None and step.query:
        x_ref = dict(parse_qsl(step.query)).get("x_ref")
        if x_ref and "gatehouse_oidc" in current_app.extensions:
            from app.oidc.provider import oidc_provider  # the provider is optional for the pages

            pending = oidc_provider().pending.load(x_ref)
    return pending


def client_view(step: WebStep | None) -> dict[str, Any] | None:
    """The OAuth client the user signs in to (Authgear's `client_name`/`name`, `client_uri`), with its
    `logo_uri` when it is a same-origin path or a data:image URI (the pages' CSP allows no other)."""
    pending = _pending_of(step)
    if pending is None:
        return None
    client = services().config.client(pending.client_id)
    if not client:
        return None
    name = str(client.get("client_name") or client.get("name") or pending.client_id)
    uri = client.get("client_uri")
    parts = urlsplit(uri) if isinstance(uri, str) else None
    logo = _logo(client.get("logo_uri"))
    return {
        "name": name,
        "uri": uri if parts and parts.scheme in ("http", "https") and parts.netloc else None,
        "host": parts.hostname if parts else None,
        "logo": logo if logo and not logo.startswith("https://") else None,
        "third_party": client.get("x_application_type") == "third_party_app",
    }


def display_login_id(raw: str) -> str:
    """The login ID as the account holds it (Authgear's normalization: lower-case email domain,
    E.164 phone number, ...), for the identity chip; what was typed when it does not normalize."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    users = services().users
    keys = [str(k.get("type")) for k in services().config.project["identity"]["login_id"].get("keys") or []]
    kind = infer_identification(raw, [k for k in ("email", "phone", "username") if k in keys])
    try:
        return users.normalize(kind, raw)[1].value
    except (AppError, KeyError, ValueError):
        return raw


def account_label(user_id: str) -> str:
    """The login ID (else the social account's email) a re-authenticating user is known by."""
    best, rank = None, 0
    for identity in services().users.identities_of(user_id):
        level = {"login_id": 2, "oauth": 1}.get(identity.type, 0)
        if level > rank:
            best, rank = identity, level
    if best is None:
        return ""
    if best.type == "login_id":
        return str(best.login_id or best.original_login_id or "")
    return str((best.claims or {}).get("email") or "")


def resend_wait(data: dict[str, Any]) -> int:
    """Whole seconds until a new code may be sent (`can_resend_at` of the code's data), 0 if now."""
    value = data.get("can_resend_at")
    if not isinstance(value, str):
        return 0
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return max(0, math.ceil((at - services().clock()).total_seconds()))


def _polish(page: str, step: WebStep, result: FlowResult, login_id: str | None) -> dict[str, Any]:
    """What the issue-21 parts of the templates read: the client, the reauthenticating account and
    where to go back, the normalized login ID (and whether the text beside it masks it), the wait."""
    out: dict[str, Any] = {"client": client_view(step) if page in ENTRY_PAGES.values() else None}
    data = data_of(result.action)
    chip = display_login_id(login_id or "") if login_id else ""
    if step.flow_type == "reauth":
        user_id = (getattr(result.state, "data", None) or {}).get("user_id")
        chip = account_label(str(user_id)) if user_id else chip
        return_to = str(step.extra.get("return_to") or "")
        out["reauth"] = {
            "settings": "/settings" in return_to,
            "back_url": "/settings" if "/settings" in return_to else None,
        }
        out["client"] = client_view(step)
    # When the text beside the chip names the same address masked, it shows it as the chip does (the
    # user typed it): never two spellings of one address (templates/web/enter_oob_otp.html).
    out["chip_mask"] = mask_address(chip) if chip else None
    out["login_id"] = chip or None
    out["resend_wait"] = resend_wait(data)
    out["use_another_account_url"] = "/login" + ("?" + step.query if step.query else "")
    return out

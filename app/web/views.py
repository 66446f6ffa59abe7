"""What each page's template receives: the action's data, the form, the error tied to its field,
links to the other entry pages and to the other ways of getting past the step."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, render_template
from flask_babel import gettext

from app.errors import AppError
from app.flows.engine import FlowResult
from app.web.blueprint import engine, theme, web_flow_context, web_steps
from app.web.messages import broken_rules, error_text, identification_label, password_rules
from app.web.pages import ENTRY_PAGES, data_of, option_index, options_of, pages_for, path_of
from app.web.qr import qr_svg
from app.web.steps import WebStep

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


def _error_view(error: dict[str, Any] | None, page: str, form: Any) -> dict[str, Any]:
    if not error:
        return {"error": None, "error_field": None}
    text = error_text(error, page)
    field = None
    if error.get("reason") in FIELD_REASONS:
        field = (error.get("info") or {}).get("field") or MAIN_FIELD.get(page)
        if page == "fill_in_user_profile" and field is None:
            field = next((n for n in form._fields if n.startswith("attr_")), None)
        if field is not None and field not in form._fields:
            field = None
    # The macros match a field by the name it is posted under (Authgear's `x_...`).
    return {"error": text, "error_field": form[field].name if field else None}


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
        out["login_id_kinds"] = sorted(kinds)
    if page in (
        "enter_password",
        "enter_totp",
        "enter_recovery_code",
        "enter_oob_otp",
        "create_password",
        "setup_oob_otp",
        "setup_totp",
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
        **_error_view(error, page, form),
        **_page_data(page, action, error),
    }
    if page == "view_recovery_code":
        context["download_url"] = f"/authflow/v2/view_recovery_code/download?{urlencode({'x_step': x_step})}"
    status = 200
    return Response(render_template(_template(page), **context), status=status, mimetype="text/html")


def render_simple(page: str, status: int = 200, **context: Any) -> Response:
    step = context.get("step")
    context.setdefault("x_step", None)
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

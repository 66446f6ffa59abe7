"""Pieces several step types share: branch choice, rate limits and the OTP verification sub-state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.authenticators import login_links
from app.authenticators.failures import authentication_failed
from app.authenticators.otp import mask
from app.errors import ValidationFailed
from app.flows.failures import note_mismatch
from app.flows.inputs import CODE, TRUE, obj, validate
from app.flows.run import FlowRun
from app.hooks import effects as hook_effects
from app.messaging.service import MessageDeliveryFailed
from app.ratelimit import ACCOUNT_ENUMERATION_WEIGHT, GENERAL_WEIGHT, VerifyLimit, hook_weight
from app.realtime.events import websocket_url


def branches(run: FlowRun) -> list[dict[str, Any]]:
    return list(run.step.get("one_of", []))


def choose(options: list[dict[str, Any]], key: str, value: Any) -> int:
    """Index of the option whose `key` equals `value`, or a ValidationFailed naming the choices."""
    for i, option in enumerate(options):
        if option.get(key) == value:
            return i
    raise ValidationFailed(
        [{"location": f"/{key}", "kind": "enum", "details": {"expected": [o.get(key) for o in options]}}],
        f"{key} must be one of the offered options",
    )


def authenticator_weight(run: FlowRun) -> float:
    """How much an attempt at an authenticator counts: `authentication.general`'s weight in the hooks' answers."""
    return hook_weight(hook_effects.rate_limit_weights(run), GENERAL_WEIGHT)


def authentication_rate_limits(run: FlowRun, limit: VerifyLimit, user_id: str | None) -> None:
    """Authgear's rate limits of checking an authenticator (`limit`; its rules fall back to
    `general`'s, contract 10), each attempt weighted by the hooks' answers; then the lockout."""
    rules = run.project["authentication"]["rate_limits"]
    run.svc.rate_limiter.check_verification(limit, rules, run.ip, user_id, authenticator_weight(run))
    if user_id:
        run.svc.lockout.check(user_id, run.ip)


def account_enumeration_limit(run: FlowRun) -> None:
    """authentication.account_enumeration per IP: a login ID looked up, weighted by the hooks' answers."""
    rule = run.project["authentication"]["rate_limits"]["account_enumeration"]["per_ip"]
    weight = hook_weight(hook_effects.rate_limit_weights(run), ACCOUNT_ENUMERATION_WEIGHT)
    group, bucket = "authentication.account_enumeration", "AccountEnumerationPerIP"
    run.svc.rate_limiter.check(group, bucket, run.ip, rule, weight)


def failed_attempt(run: FlowRun, user_id: str | None, authentication: str) -> None:
    """A check of `authentication` failed: it counts towards the lockout and leaves an audit row."""
    if user_id:
        run.svc.lockout.record_failure(user_id, run.ip)
    note_mismatch(run, authentication_failed(authentication, user_id))


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


# -- OTP verification sub-state (authenticate OOB, create_authenticator OOB, verify) -----------------
OTP_INPUT = {
    "type": "object",
    "oneOf": [obj({"code": CODE}, ["code"]), obj({"resend": TRUE}, ["resend"])],
}
# A login link's step (otp_form "link"): `{"check": true}` once the link was opened, or a resend.
LINK_INPUT = {
    "type": "object",
    "oneOf": [obj({"check": TRUE}, ["check"]), obj({"resend": TRUE}, ["resend"])],
}


def otp_form(run: FlowRun, purpose: str, channel: str) -> str:
    """`otp_form` of an OOB OTP option: `link` for email under email_otp_mode login_link."""
    return login_links.email_otp_form(run.project, purpose, channel)


def otp_start(run: FlowRun, purpose: str, channel: str, target: str, **extra: Any) -> None:
    """Send a code and enter the sub-state that waits for it."""
    form = otp_form(run, purpose, channel)
    ws_channel = login_links.new_ws_channel() if form == "link" else None
    _send_otp(run, purpose, channel, target, form, ws_channel)
    run.local["otp"] = {"purpose": purpose, "channel": channel, "target": target}
    if form == "link":
        run.local["otp"].update({"form": form, "ws_channel": ws_channel})
    run.local.update(extra)


def _send_otp(
    run: FlowRun, purpose: str, channel: str, target: str, form: str = "code", ws_channel: str | None = None
) -> None:
    """As in Authgear, a message that could not be delivered does not fail the step: the step's
    data says `delivery_status: failed` with the `delivery_error`, and a resend may follow at once."""
    try:
        run.svc.otp.send(purpose, channel, target, locale=run.locale, ip=run.ip, form=form, ws_channel=ws_channel)
    except MessageDeliveryFailed:
        run.svc.otp.allow_resend(purpose, channel, target)


# The channels a phone number's code may take, by `authenticator.oob_otp.sms.phone_otp_mode`, in
# Authgear's order (getChannels): WhatsApp first when both are offered.
PHONE_CHANNELS = {"sms": ["sms"], "whatsapp": ["whatsapp"], "whatsapp_sms": ["whatsapp", "sms"]}


def oob_channels(run: FlowRun, base: str) -> list[str]:
    """The channels offered for an OOB OTP whose target is an email address (`base` "email") or a
    phone number ("sms")."""
    if base == "email":
        return ["email"]
    mode = run.project["authenticator"]["oob_otp"]["sms"].get("phone_otp_mode", "sms")
    return list(PHONE_CHANNELS.get(mode, ["sms"]))


def channel_of_input(inp: dict[str, Any], channels: list[str]) -> str | None:
    """The channel to send on: the only one offered, or the offered one `inp` names; None when the
    step must first ask (Authgear's select_oob_otp_channels_data)."""
    if len(channels) == 1:
        return channels[0]
    given = inp.get("channel")
    if given is None:
        return None
    if given not in channels:
        raise ValidationFailed(
            [{"location": "/channel", "kind": "enum", "details": {"expected": channels}}],
            "channel must be one of the offered channels",
        )
    return given


def channel_select_start(run: FlowRun, channels: list[str], target: str, **extra: Any) -> None:
    """Wait for `{"channel"}` before anything is sent."""
    run.local["select_channel"] = {"channels": channels, "target": target}
    run.local.update(extra)


def channel_select_data(run: FlowRun) -> dict[str, Any]:
    sel = run.local["select_channel"]
    return {
        "type": "select_oob_otp_channels_data",
        "channels": sel["channels"],
        "masked_claim_value": mask(sel["target"]),
    }


def channel_select_input(run: FlowRun, inp: dict[str, Any]) -> str:
    """The channel chosen by `{"channel"}`; the sub-state ends once a code is on its way."""
    channels = run.local["select_channel"]["channels"]
    validate(inp, obj({"channel": {"enum": channels}}, ["channel"]))
    return inp["channel"]


def otp_start_on(run: FlowRun, purpose: str, channel: str, target: str, **extra: Any) -> None:
    """`otp_start` on a chosen channel. A WhatsApp code goes as app/messaging/whatsapp.py sends it; as in
    Authgear, one that cannot go (`NoAvailableWhatsappClient`, `InvalidWhatsappUser`, ...) is the
    code step's `delivery_error`, and the previous state token still offers the other channels."""
    run.local.pop("select_channel", None)
    otp_start(run, purpose, channel, target, **extra)


def otp_data(run: FlowRun) -> dict[str, Any]:
    otp = run.local["otp"]
    status = run.svc.otp.status(otp["purpose"], otp["target"])
    return {
        "type": "verify_oob_otp_data",
        "channel": otp["channel"],
        "otp_form": otp.get("form", "code"),
        # Authgear's: where the page hears that the link was approved (app/realtime)
        **(
            {"websocket_url": websocket_url(run.project["http"]["public_origin"], otp["ws_channel"])}
            if otp.get("form") == "link" and otp.get("ws_channel")
            else {}
        ),  # fmt: skip
        "masked_claim_value": mask(otp["target"]),
        "code_length": status["code_length"],
        "can_resend_at": iso(status["can_resend_at"]),
        "can_check": status["can_check"] if otp.get("form") == "link" else False,
        "failed_attempt_rate_limit_exceeded": status["failed_attempt_rate_limit_exceeded"],
        "delivery_status": status["delivery_status"],
        **({"delivery_error": status["delivery_error"]} if status["delivery_error"] else {}),
    }


def otp_input(run: FlowRun, inp: dict[str, Any]) -> bool:
    """Handle `{"code"}` or `{"resend": true}`; True once the code was right."""
    otp = run.local["otp"]
    link = otp.get("form") == "link"
    validate(inp, LINK_INPUT if link else OTP_INPUT)
    if inp.get("resend"):
        _send_otp(run, otp["purpose"], otp["channel"], otp["target"], otp.get("form", "code"), otp.get("ws_channel"))
        return False
    # Authentication codes (login, setup) fall back to authentication.general's weight, as in Authgear.
    weight = authenticator_weight(run) if otp["purpose"] in ("login", "setup") else 1.0
    if link:
        login_links.check(run.svc.otp, otp["purpose"], otp["target"], ip=run.ip, weight=weight)
        return True
    run.svc.otp.verify(otp["purpose"], otp["target"], inp["code"], ip=run.ip, weight=weight)
    return True

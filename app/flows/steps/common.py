"""Pieces several step types share: branch choice, rate limits and the OTP verification sub-state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.authenticators.failures import authentication_failed
from app.authenticators.otp import mask
from app.errors import ValidationFailed
from app.flows.failures import note_mismatch
from app.flows.inputs import CODE, TRUE, obj, validate
from app.flows.run import FlowRun
from app.messaging.service import MessageDeliveryFailed


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


def authentication_rate_limits(run: FlowRun, user_id: str | None) -> None:
    """authentication.general: per IP, and per user per IP (contract 10)."""
    limits = run.project["authentication"]["rate_limits"]["general"]
    limiter = run.svc.rate_limiter
    limiter.check("authentication.general", "AuthenticationGeneralPerIP", run.ip, limits["per_ip"])
    if user_id:
        limiter.check(
            "authentication.general",
            "AuthenticationGeneralPerUserPerIP",
            f"{user_id}:{run.ip}",
            limits["per_user_per_ip"],
        )
        run.svc.lockout.check(user_id, run.ip)


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


def otp_start(run: FlowRun, purpose: str, channel: str, target: str, **extra: Any) -> None:
    """Send a code and enter the sub-state that waits for it."""
    _send_otp(run, purpose, channel, target)
    run.local["otp"] = {"purpose": purpose, "channel": channel, "target": target}
    run.local.update(extra)


def _send_otp(run: FlowRun, purpose: str, channel: str, target: str) -> None:
    """As in Authgear, a message that could not be delivered does not fail the step: the step's
    data says `delivery_status: failed` with the `delivery_error`, and a resend may follow at once."""
    try:
        run.svc.otp.send(purpose, channel, target, locale=run.locale, ip=run.ip)
    except MessageDeliveryFailed:
        run.svc.otp.allow_resend(purpose, channel, target)


def otp_data(run: FlowRun) -> dict[str, Any]:
    otp = run.local["otp"]
    status = run.svc.otp.status(otp["purpose"], otp["target"])
    return {
        "type": "verify_oob_otp_data",
        "channel": otp["channel"],
        "otp_form": "code",
        "masked_claim_value": mask(otp["target"]),
        "code_length": status["code_length"],
        "can_resend_at": iso(status["can_resend_at"]),
        "can_check": False,
        "failed_attempt_rate_limit_exceeded": status["failed_attempt_rate_limit_exceeded"],
        "delivery_status": status["delivery_status"],
        **({"delivery_error": status["delivery_error"]} if status["delivery_error"] else {}),
    }


def otp_input(run: FlowRun, inp: dict[str, Any]) -> bool:
    """Handle `{"code"}` or `{"resend": true}`; True once the code was right."""
    validate(inp, OTP_INPUT)
    otp = run.local["otp"]
    if inp.get("resend"):
        _send_otp(run, otp["purpose"], otp["channel"], otp["target"])
        return False
    run.svc.otp.verify(otp["purpose"], otp["target"], inp["code"], ip=run.ip)
    return True

"""account_recovery steps: `select_destination`, `verify_account_recovery_code`, `reset_password` (contract 6.7).

Whether an account exists is never revealed. As in Authgear (forgotpassword's dummy OTP), an unknown
login ID goes through everything a known one does but the delivery: the target's resend cooldown and
the trigger and messaging limits are charged and a code is stored, so `can_resend_at`, a resend's
answer (429 while the cooldown runs) and the failed-attempt revocation read the same; the stored code
was never sent and is refused even if guessed. What still differs is the time a synchronous SMTP or
SMS-webhook delivery takes on the known path.
"""

from __future__ import annotations

from typing import Any

from app.authenticators.otp import mask
from app.errors import Forbidden, TooManyRequest
from app.flows.inputs import CODE, INDEX, PASSWORD, TRUE, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps.common import iso
from app.messaging.service import MessageDeliveryFailed

PURPOSE = "account_recovery"


def _recovery(run: FlowRun) -> dict[str, Any]:
    return run.data["recovery"]


def _send(run: FlowRun, first: bool = False) -> None:
    r = _recovery(run)
    try:
        run.svc.otp.send(PURPOSE, r["channel"], r["target"], locale=run.locale, ip=run.ip, deliver=bool(r["user_id"]))
    except MessageDeliveryFailed:
        # Answered as if sent, cooldown included: a failure only a known address can have must not
        # tell the two apart (the log names it for the operator).
        pass
    except TooManyRequest as exc:
        # As in Authgear, the first send of a flow goes on to the code step while the target's
        # cooldown runs: the code sent moments ago (by another flow or by an administrator's
        # sendResetPasswordMessage) is the one to enter. A resend still gets the error.
        if not (first and run.svc.otp.is_cooldown(exc, PURPOSE, r["channel"])):
            raise


@register("select_destination")
class SelectDestination:
    def enter(self, run: FlowRun) -> Outcome:
        return WAIT

    def action(self, run: FlowRun) -> dict[str, Any]:
        r = _recovery(run)
        option = {"masked_display_name": mask(r["target"]), "channel": r["channel"], "otp_form": "code"}
        return {"data": {"type": "account_recovery_select_destination_data", "options": [option]}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        validate(inp, obj({"index": {**INDEX, "maximum": 0}}, ["index"]))
        _send(run, first=True)
        return Done()


@register("verify_account_recovery_code")
class VerifyAccountRecoveryCode:
    def enter(self, run: FlowRun) -> Outcome:
        if "recovery_sent" not in run.data:
            run.data["recovery_sent"] = True
        return WAIT

    def action(self, run: FlowRun) -> dict[str, Any]:
        r = _recovery(run)
        status = run.svc.otp.status(PURPOSE, r["target"])
        return {
            "data": {
                "type": "account_recovery_verify_code_data",
                "masked_display_name": mask(r["target"]),
                "channel": r["channel"],
                "otp_form": "code",
                "code_length": status["code_length"],
                "can_resend_at": iso(status["can_resend_at"]),
                "failed_attempt_rate_limit_exceeded": status["failed_attempt_rate_limit_exceeded"],
            }
        }

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        validate(
            inp,
            {
                "type": "object",
                "oneOf": [
                    obj({"account_recovery_code": CODE}, ["account_recovery_code"]),
                    obj({"resend": TRUE}, ["resend"]),
                ],
            },
        )
        if inp.get("resend"):
            _send(run)
            return WAIT
        r = _recovery(run)
        # An unknown login ID's code counts tries and is revoked like a real one.
        run.svc.otp.verify(PURPOSE, r["target"], inp["account_recovery_code"], ip=run.ip)
        if not r["user_id"]:
            raise Forbidden("InvalidOTPCode", "invalid otp code")
        run.data["user_id"] = r["user_id"]
        return Done()


@register("reset_password")
class ResetPassword:
    def enter(self, run: FlowRun) -> Outcome:
        return WAIT

    def action(self, run: FlowRun) -> dict[str, Any]:
        return {
            "data": {
                "type": "new_password_data",
                "password_policy": run.svc.passwords.policy.to_api(),
                "masked_target": mask(_recovery(run)["target"]),
            }
        }

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        validate(inp, obj({"new_password": PASSWORD}, ["new_password"]))
        user_id, ctx, svc = run.user_id or "", run.ctx.request, run.svc
        auth = svc.passwords.get(user_id)
        if auth is None:
            svc.passwords.create(user_id, inp["new_password"], ctx=ctx)
        else:
            svc.passwords.change(auth, inp["new_password"], ctx)
        # Whoever held the old password is signed out everywhere.
        svc.sessions.revoke_all(user_id, ctx=ctx)
        svc.lockout.reset(user_id)
        svc.audit.write("user.password_reset", ctx, user_id)
        return Done()

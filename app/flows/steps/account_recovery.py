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

from app.authenticators import login_links, recovery_links
from app.authenticators.otp import mask
from app.errors import Forbidden, TooManyRequest
from app.flows.errors import AuthenticationFlowInvalidFlowConfig
from app.flows.inputs import CODE, INDEX, PASSWORD, TRUE, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps.common import iso
from app.messaging.service import MessageDeliveryFailed

PURPOSE = "account_recovery"


# Where the code may go when the step declares no `allowed_channels`: Authgear's defaults
# (`ui.forgot_password`), a reset link by email (app/authenticators/recovery_links.py), a code by SMS.
DEFAULT_CHANNELS = [{"channel": "email", "otp_form": "link"}, {"channel": "sms", "otp_form": "code"}]
OTP_FORMS = ("code", "link")
# The standard attribute holding a username's destination for each channel.
ATTRIBUTE = {"email": "email", "sms": "phone_number"}


def _recovery(run: FlowRun, destination: bool = True) -> dict[str, Any]:
    """What identify found and, once chosen, the destination; a flow whose steps come before what
    they depend on is misconfigured, as Authgear says."""
    r = run.data.get("recovery")
    if r is None:
        raise AuthenticationFlowInvalidFlowConfig(f"{run.step['type']} depends on an identify step before it")
    if destination and not r.get("target"):
        raise AuthenticationFlowInvalidFlowConfig(f"{run.step['type']} depends on select_destination before it")
    return r


def _display(r: dict[str, Any]) -> str:
    return r.get("display") or mask(r["target"])


def _destinations(run: FlowRun, r: dict[str, Any]) -> list[dict[str, Any]]:
    """The options of select_destination, each with its `_target` (None: nothing is sent)."""
    allowed = [
        {"channel": c.get("channel"), "otp_form": c.get("otp_form") if c.get("otp_form") in OTP_FORMS else "code"}
        for c in run.step.get("allowed_channels") or DEFAULT_CHANNELS
        if isinstance(c, dict) and c.get("channel") in ATTRIBUTE
    ]
    if run.step.get("enumerate_destinations") and r["user_id"]:
        # Authgear lists the account's own addresses (the flow chose to reveal them).
        kinds = {"email": "email", "sms": "phone"}
        return [
            {"masked_display_name": mask(i.login_id), **c, "_target": i.login_id}
            for c in allowed
            for i in run.svc.users.identities_of(r["user_id"], "login_id")
            if i.login_id and i.login_id_type == kinds[c["channel"]]
        ]
    if r.get("username") is None:
        # An email address or phone number is its own destination, when its channel is allowed.
        if r["identified_channel"] not in [c["channel"] for c in allowed]:
            return []
        target = r["identified_target"]
        return [
            {
                "masked_display_name": mask(target),
                "channel": r["identified_channel"],
                "otp_form": next(c["otp_form"] for c in allowed if c["channel"] == r["identified_channel"]),
                "_target": target,
            }
        ]
    # A username, with enumerate_destinations false (Authgear's default): one option per allowed
    # channel, shown as the username itself, whether or not the account exists or has an address
    # for that channel; the code goes to the account's standard attribute, if any.
    attributes: dict[str, Any] = {}
    if r["user_id"]:
        attributes = run.svc.users.get(r["user_id"]).standard_attributes or {}
    out = []
    for c in allowed:
        target = attributes.get(ATTRIBUTE[c["channel"]])
        out.append({"masked_display_name": r["username"], **c, "_target": target if isinstance(target, str) else None})
    return out


def _link_meta(run: FlowRun, r: dict[str, Any]) -> dict[str, Any]:
    """What a reset link keeps: its user and where its flow goes on (the verify step and the rest),
    so that the link opens a new flow there (app/flows/engine.py, `input_request` without a state token)."""
    steps = [run.step, *run.state.queue]
    start = next((i for i, s in enumerate(steps) if s.get("type") == "verify_account_recovery_code"), len(steps))
    return {
        "user_id": r["user_id"],
        "flow": {"type": run.flow_type, "name": run.state.name, "steps": steps[start:]},
    }


def admin_link_meta(svc: Any, user_id: str) -> dict[str, Any] | None:
    """The Admin API's reset link (sendResetPasswordMessage) opens the default account_recovery flow
    at its verify step, as Authgear's does; None when that flow has no such step at its top level."""
    from app.flows.definitions import FlowCatalog

    flow = FlowCatalog(svc.config.project).get("account_recovery", "default") or {}
    steps = list(flow.get("steps") or [])
    start = next((i for i, s in enumerate(steps) if s.get("type") == "verify_account_recovery_code"), None)
    if start is None:
        return None
    return {"user_id": user_id, "flow": {"type": "account_recovery", "name": "default", "steps": steps[start:]}}


def _send(run: FlowRun, first: bool = False) -> None:
    r = _recovery(run)
    form = r.get("otp_form", "code")
    meta = _link_meta(run, r) if form == "link" else None
    try:
        run.svc.otp.send(
            PURPOSE,
            r["channel"],
            r["target"],
            locale=run.locale,
            ip=run.ip,
            deliver=bool(r["user_id"]),
            form=form,
            meta=meta,
        )
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
        run.local["options"] = _destinations(run, _recovery(run, destination=False))
        return WAIT

    def action(self, run: FlowRun) -> dict[str, Any]:
        options = [{k: v for k, v in o.items() if not k.startswith("_")} for o in run.local["options"]]
        return {"data": {"type": "account_recovery_select_destination_data", "options": options}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        options = run.local["options"]
        validate(inp, obj({"index": {**INDEX, "maximum": len(options) - 1}}, ["index"]))
        option = options[inp["index"]]
        r = _recovery(run, destination=False)
        r.update(channel=option["channel"], display=option["masked_display_name"], otp_form=option["otp_form"])
        if option["_target"]:
            r["target"] = option["_target"]
        else:
            # Nothing to send to (an unknown username, or no address for this channel): the code is
            # stored under a name of the username that no address can have, so limits and cooldown
            # are charged as for a real one and the answer reads the same; it is never sent.
            r["user_id"] = None
            username = r["username"]
            r["target"] = f"{username}@no-send.invalid" if option["channel"] == "email" else f"no-send:{username}"
        _send(run, first=True)
        return Done()


@register("verify_account_recovery_code")
class VerifyAccountRecoveryCode:
    def enter(self, run: FlowRun) -> Outcome:
        _recovery(run)
        if "recovery_sent" not in run.data:
            run.data["recovery_sent"] = True
        return WAIT

    def action(self, run: FlowRun) -> dict[str, Any]:
        r = _recovery(run)
        status = run.svc.otp.status(PURPOSE, r["target"])
        form = r.get("otp_form", "code")
        return {
            "data": {
                "type": "account_recovery_verify_code_data",
                "masked_display_name": _display(r),
                "channel": r["channel"],
                "otp_form": form,
                "code_length": login_links.LINK_CODE_LENGTH if form == "link" else status["code_length"],
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
        if r.get("otp_form") == "link":
            # A reset link's code, checked and kept for reset_password, which uses it up.
            record = recovery_links.verify(run.svc.otp, r["target"], inp["account_recovery_code"], ip=run.ip)
            r["link_id"] = record["id"]
            run.data["user_id"] = r["user_id"]
            return Done()
        # An unknown login ID's code counts tries and is revoked like a real one.
        run.svc.otp.verify(PURPOSE, r["target"], inp["account_recovery_code"], ip=run.ip)
        if not r["user_id"]:
            raise Forbidden("InvalidOTPCode", "invalid otp code")
        run.data["user_id"] = r["user_id"]
        return Done()


@register("reset_password")
class ResetPassword:
    def enter(self, run: FlowRun) -> Outcome:
        _recovery(run)
        if not run.user_id:
            raise AuthenticationFlowInvalidFlowConfig("reset_password depends on verify_account_recovery_code")
        return WAIT

    def action(self, run: FlowRun) -> dict[str, Any]:
        return {
            "data": {
                "type": "new_password_data",
                "password_policy": run.svc.passwords.policy.to_api(),
                "masked_target": _display(_recovery(run)),
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
        r = _recovery(run)
        if r.get("link_id"):
            # Last, so that a refused password leaves the link working (the rollback undoes the rest).
            recovery_links.consume(svc.otp, r["target"], r["link_id"])
        return Done()


def restore(svc: Any, inp: Any, ip: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A flow opened by a reset link's code alone (Authgear's input without a state token): checks
    the code and returns the flow it was sent from (`type`, `name`, `steps` from the verify step on)
    and what that flow's earlier steps had found (`data["recovery"]`). `PasswordResetFailed` for a
    wrong, expired or used code."""
    code = inp.get("account_recovery_code") if isinstance(inp, dict) else None
    target, record = recovery_links.lookup(svc.otp, code, ip=ip)
    meta = record.get("meta") or {}
    recovery = {
        "username": None,
        "identified_channel": record["channel"],
        "identified_target": target,
        "user_id": meta.get("user_id"),
        "target": target,
        "channel": record["channel"],
        "display": mask(target),
        "otp_form": "link",
        "restored": True,
    }
    return meta.get("flow") or {}, recovery

"""`create_authenticator` (signup, or enrolment during login): password, OOB OTP, TOTP (contract 6.6)."""

from __future__ import annotations

from typing import Any

from app.authenticators import totp
from app.authenticators.otp import mask
from app.authenticators.password import hash_password
from app.botprotection import flow as bot_protection
from app.errors import Invalid
from app.flows.errors import AuthenticationFlowInvalidTargetStep
from app.flows.inputs import CODE, PASSWORD, STRING, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps.common import (
    branches,
    channel_of_input,
    channel_select_data,
    channel_select_input,
    channel_select_start,
    choose,
    oob_channels,
    otp_data,
    otp_form,
    otp_input,
    otp_start_on,
)
from app.identities.normalize import normalize_email, normalize_phone

OOB_CHANNEL = {
    "primary_oob_otp_email": "email",
    "primary_oob_otp_sms": "sms",
    "secondary_oob_otp_email": "email",
    "secondary_oob_otp_sms": "sms",
}
CLAIM = {"email": "email", "sms": "phone_number"}


def _kind(authentication: str) -> str:
    return "primary" if authentication.startswith("primary_") else "secondary"


def _verified_in_flow(run: FlowRun, claim: str, value: str) -> bool:
    return any(v["name"] == claim and v["value"] == value for v in run.pending["verified"])


@register("create_authenticator")
class CreateAuthenticator:
    def enter(self, run: FlowRun) -> Outcome:
        run.local["options"] = self.options_for(run, branches(run))
        return WAIT

    def options_for(self, run: FlowRun, declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The options of `declared` branches (also used by `authenticate` to enrol a second factor)."""
        out: list[dict[str, Any]] = []
        for b in declared:
            a = b["authentication"]
            if a in ("primary_password", "secondary_password"):
                out.append({"authentication": a, "password_policy": run.svc.passwords.policy.to_api()})
            elif a in OOB_CHANNEL:
                channel = OOB_CHANNEL[a]
                option: dict[str, Any] = {
                    "authentication": a,
                    "otp_form": otp_form(run, "setup", channel),
                    "channels": oob_channels(run, channel),
                }
                target = self._target_of(run, b.get("target_step")) if b.get("target_step") else None
                if target:
                    option["target"] = {
                        "masked_display_name": mask(target),
                        "verification_required": not _verified_in_flow(run, CLAIM[channel], target),
                    }
                    option["_target"] = target
                out.append(option)
            elif a == "secondary_totp":
                out.append({"authentication": a})
        return out

    def _target_of(self, run: FlowRun, name: str) -> str | None:
        """The address a `target_step` identified (Authgear: only an identify step can be one)."""
        identified = run.target(name, ("identify",))
        value = identified.get("value")
        if value and identified.get("claim") not in CLAIM.values():
            raise AuthenticationFlowInvalidTargetStep(name, "target_step contains unsupported claim for OOB-OTP")
        return value

    def action(self, run: FlowRun) -> dict[str, Any]:
        if "select_channel" in run.local:
            return {"authentication": run.local["chosen"], "data": channel_select_data(run)}
        if "otp" in run.local:
            return {"authentication": run.local["chosen"], "data": otp_data(run)}
        if "totp" in run.local:
            t = run.local["totp"]
            return {
                "authentication": "secondary_totp",
                "data": {"type": "create_totp_data", "secret": t["secret"], "otpauth_uri": t["otpauth_uri"]},
            }
        options = [{k: v for k, v in o.items() if not k.startswith("_")} for o in run.local["options"]]
        options = bot_protection.decorate(run, options, branches(run), "authentication")
        return {"data": {"type": "create_authenticator_data", "options": options}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        if "select_channel" in run.local:
            channel = channel_select_input(run, inp)
            otp_start_on(run, "setup", channel, run.local["select_channel"]["target"])
            return WAIT
        if "otp" in run.local:
            if not otp_input(run, inp):
                return WAIT
            pending = run.local["pending_oob"]
            self._verified(run, CLAIM[pending["channel"]], pending["target"])
            return self._created(run, pending)
        if "totp" in run.local:
            validate(inp, obj({"code": CODE}, ["code"]))
            t = run.local["totp"]
            if not run.svc.totp.verify_code(t["secret"], inp["code"]):
                raise Invalid("InvalidTOTPCode", "the code does not match")
            return self._created(
                run, {"type": "totp", "kind": "secondary", "secret": t["secret"], "display_name": "TOTP"}
            )
        options = run.local["options"]
        validate(inp, {"type": "object", "required": ["authentication"]})
        option = options[choose(options, "authentication", inp["authentication"])]
        authentication = option["authentication"]
        branch = next((b for b in branches(run) if b.get("authentication") == authentication), None)
        run.local["branch_steps"] = list((branch or {}).get("steps") or [])  # run once it is created
        inp = bot_protection.take(run, branch, inp)  # before a code is sent to the new target
        if authentication in ("primary_password", "secondary_password"):
            validate(inp, obj({"authentication": STRING, "new_password": PASSWORD}, ["new_password"]))
            run.svc.passwords.policy.check(inp["new_password"])
            return self._created(
                run,
                {
                    "type": "password",
                    "kind": _kind(authentication),
                    "password_hash": hash_password(inp["new_password"]),
                },
            )
        if authentication in OOB_CHANNEL:
            return self._start_oob(run, option, inp)
        validate(inp, obj({"authentication": STRING}))
        secret = totp.new_secret()
        account = self._account_name(run)
        run.local["totp"] = {
            "secret": secret,
            "otpauth_uri": totp.otpauth_uri(secret, account, run.project["id"]),
        }
        return WAIT

    def _start_oob(self, run: FlowRun, option: dict[str, Any], inp: dict[str, Any]) -> Outcome:
        authentication = option["authentication"]
        channel = OOB_CHANNEL[authentication]
        schema = obj({"authentication": STRING, "target": STRING, "channel": {"enum": ["email", "sms", "whatsapp"]}})
        validate(inp, {**schema, "required": [] if option.get("_target") else ["target"]})
        if option.get("_target"):
            target = option["_target"]
        else:
            normalize = normalize_email if channel == "email" else normalize_phone
            target = normalize(inp["target"], {}).value
        pending = {"type": f"oob_otp_{channel}", "kind": _kind(authentication), "channel": channel, "target": target}
        if _verified_in_flow(run, CLAIM[channel], target):
            return self._created(run, pending)
        extra = {"chosen": authentication, "pending_oob": pending}
        channels = oob_channels(run, channel)
        chosen_channel = channel_of_input(inp, channels)
        if chosen_channel is None:
            # Several channels (phone_otp_mode whatsapp_sms): nothing is sent before one is chosen.
            channel_select_start(run, channels, target, **extra)
            return WAIT
        otp_start_on(run, "setup", chosen_channel, target, **extra)
        return WAIT

    def _account_name(self, run: FlowRun) -> str:
        identified = run.data.get("identified", {})
        if identified.get("value"):
            return identified["value"]
        return run.user_id or "user"

    def _verified(self, run: FlowRun, claim: str, value: str) -> None:
        if run.signing_up:
            run.pending["verified"].append({"name": claim, "value": value})
        elif run.user_id:
            run.svc.users.mark_verified(run.user_id, claim, value)

    def _created(self, run: FlowRun, authenticator: dict[str, Any]) -> Outcome:
        if authenticator["kind"] == "secondary":
            run.data["secondary_created"] = True
            run.data.setdefault("factors", [])
        steps = list(run.local.get("branch_steps") or [])  # the chosen branch's nested steps come next
        if run.signing_up:
            run.pending["authenticators"].append(authenticator)
            return Done(steps)
        # Enrolment during login: the user exists, so the authenticator is written now.
        user_id, ctx, svc = run.user_id or "", run.ctx.request, run.svc
        if authenticator["type"] == "password":
            auth = svc.passwords.create_from_hash(user_id, authenticator["password_hash"], authenticator["kind"])
        elif authenticator["type"] == "totp":
            auth = svc.totp.create(user_id, authenticator["secret"], authenticator["display_name"], ctx)
        else:
            auth = svc.oob.create(
                user_id, authenticator["channel"], authenticator["target"], authenticator["kind"], ctx
            )
        svc.audit.write("authenticator.created", ctx, user_id, {"type": auth.type, "kind": auth.kind})
        return Done(steps)

"""`authenticate` (login, reauth): password, OOB OTP, TOTP, recovery code, remembered device (contract 6.5)."""

from __future__ import annotations

from typing import Any

from app.authenticators.otp import mask
from app.errors import Forbidden, InvariantViolated, Unauthorized, ValidationFailed
from app.flows.inputs import CODE, INDEX, PASSWORD, STRING, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps.common import (
    authentication_rate_limits,
    branches,
    choose,
    failed_attempt,
    otp_data,
    otp_input,
    otp_start,
)

OOB_CHANNEL = {
    "primary_oob_otp_email": "email",
    "primary_oob_otp_sms": "sms",
    "secondary_oob_otp_email": "email",
    "secondary_oob_otp_sms": "sms",
}
AMR = {"email": ["otp"], "sms": ["otp", "sms"]}
DEVICE = {"request_device_token": {"type": "boolean"}}


def invalid_credentials() -> Unauthorized:
    return Unauthorized("InvalidCredentials", "invalid credentials")


def _kind(authentication: str) -> str:
    return "primary" if authentication.startswith("primary_") else "secondary"


@register("authenticate")
class Authenticate:
    def enter(self, run: FlowRun) -> Outcome:
        declared = [b["authentication"] for b in branches(run)]
        options = self._options(run)
        run.local["options"] = options
        if "device_token" in declared and self._device_remembered(run):
            run.data.setdefault("factors", []).append("device_token")
            return Done()
        if options:
            return WAIT
        is_secondary = all(_kind(a) == "secondary" or a == "recovery_code" for a in declared if a != "device_token")
        if run.step.get("optional"):
            return Done()
        if is_secondary and run.project["authentication"]["secondary_authentication_mode"] == "required":
            # Enrolment: a user without a second factor sets one up now.
            create = [{"authentication": a} for a in declared if a.startswith("secondary_")]
            enrol: list[dict[str, Any]] = [{"type": "create_authenticator", "one_of": create}]
            if not run.project["authentication"]["recovery_code"]["disabled"]:
                enrol.append({"type": "view_recovery_code"})
            return Done(enrol)
        raise InvariantViolated("NoAuthenticator", "the user has no authenticator for this step")

    def _device_remembered(self, run: FlowRun) -> bool:
        from app.flows.engine import device_token_user

        return bool(run.user_id) and device_token_user(run.svc, run.ctx.device_token) == run.user_id

    def _options(self, run: FlowRun) -> list[dict[str, Any]]:
        user_id = run.user_id
        if not user_id:
            return []
        svc = run.svc
        out: list[dict[str, Any]] = []
        for b in branches(run):
            a = b["authentication"]
            if a in ("primary_password", "secondary_password"):
                if svc.passwords.get(user_id, _kind(a)) is not None:
                    out.append({"authentication": a})
            elif a in OOB_CHANNEL:
                channel = OOB_CHANNEL[a]
                wanted = run.output(b.get("target_step")).get("value") if b.get("target_step") else None
                for auth in svc.oob.list_for_user(user_id, _kind(a)):
                    if auth.type != f"oob_otp_{channel}" or (wanted and auth.oob_target != wanted):
                        continue
                    out.append(
                        {
                            "authentication": a,
                            "otp_form": "code",
                            "masked_display_name": mask(auth.oob_target or ""),
                            "channels": [channel],
                            "_target": auth.oob_target,
                        }
                    )
            elif a == "secondary_totp":
                if svc.totp.list_for_user(user_id):
                    out.append({"authentication": a})
            elif a == "recovery_code":
                if svc.recovery_codes.remaining(user_id) > 0 and any(
                    o["authentication"].startswith("secondary_") for o in out
                ):
                    out.append({"authentication": a})
        return out

    def action(self, run: FlowRun) -> dict[str, Any]:
        if "otp" in run.local:
            return {"authentication": run.local["chosen"], "data": otp_data(run)}
        options = [{k: v for k, v in o.items() if not k.startswith("_")} for o in run.local["options"]]
        device = "device_token" in [b["authentication"] for b in branches(run)]
        return {"data": {"type": "authentication_data", "options": options, "device_token_enabled": device}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        if "otp" in run.local:
            authentication = run.local["chosen"]
            authentication_rate_limits(run, run.user_id)
            try:
                otp_input_done = otp_input(run, inp)
            except Forbidden:
                failed_attempt(run, run.user_id, authentication)
                raise
            if not otp_input_done:
                return WAIT
            return self._succeeded(run, authentication, AMR[run.local["otp"]["channel"]], run.local.get("device"))
        options = run.local["options"]
        validate(inp, {"type": "object", "required": ["authentication"]})
        index = choose(options, "authentication", inp["authentication"])
        authentication = options[index]["authentication"]
        user_id = run.user_id
        if authentication in ("primary_password", "secondary_password"):
            validate(inp, obj({"authentication": STRING, "password": PASSWORD, **DEVICE}, ["password"]))
            authentication_rate_limits(run, user_id)
            auth = run.svc.passwords.verify(user_id, inp["password"], _kind(authentication))
            if auth is None:
                failed_attempt(run, user_id, authentication)
                raise invalid_credentials()
            run.record(
                {"authenticator_id": auth.id, "must_change": run.svc.passwords.must_change(auth, inp["password"])}
            )
            return self._succeeded(run, authentication, ["pwd"], inp.get("request_device_token"))
        if authentication in OOB_CHANNEL:
            schema = obj({"authentication": STRING, "index": INDEX, "channel": {"enum": ["email", "sms"]}, **DEVICE})
            validate(inp, {**schema, "required": ["index"]})
            chosen = options[inp["index"]] if inp["index"] < len(options) else None
            if chosen is None or chosen["authentication"] != authentication:
                raise _bad_index()
            channel = OOB_CHANNEL[authentication]
            otp_start(
                run, "login", channel, chosen["_target"], chosen=authentication, device=inp.get("request_device_token")
            )
            return WAIT
        if authentication == "secondary_totp":
            validate(inp, obj({"authentication": STRING, "code": CODE, **DEVICE}, ["code"]))
            authentication_rate_limits(run, user_id)
            if run.svc.totp.verify_user(user_id, inp["code"]) is None:
                failed_attempt(run, user_id, authentication)
                raise invalid_credentials()
            return self._succeeded(run, authentication, ["otp"], inp.get("request_device_token"))
        validate(inp, obj({"authentication": STRING, "recovery_code": CODE}, ["recovery_code"]))
        authentication_rate_limits(run, user_id)
        if not run.svc.recovery_codes.consume(user_id, inp["recovery_code"]):
            failed_attempt(run, user_id, authentication)
            raise invalid_credentials()
        return self._succeeded(run, authentication, [], False)

    def _succeeded(self, run: FlowRun, authentication: str, amr: list[str], device: Any) -> Outcome:
        if run.user_id:
            run.svc.lockout.reset(run.user_id, ip=run.ip)
        run.add_amr(*amr)
        run.data.setdefault("factors", []).append(_kind(authentication))
        if device and _kind(authentication) == "secondary":
            run.data["device_token_requested"] = True
        return Done()


def _bad_index() -> ValidationFailed:
    return ValidationFailed([{"location": "/index", "kind": "enum", "details": {}}], "index must match the option")

"""`verify`: confirm the email or phone identified by `target_step` with an OTP (contract 6.7)."""

from __future__ import annotations

from typing import Any

from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps.common import otp_data, otp_input, otp_start

CHANNEL = {"email": "email", "phone_number": "sms"}
CONFIG_CLAIM = {"email": "email", "phone_number": "phone_number"}


@register("verify")
class Verify:
    def enter(self, run: FlowRun) -> Outcome:
        name = run.step.get("target_step")
        # Only an identify step can name what to verify (Authgear's IntentSignupFlowStepVerifyTarget).
        target = run.target(name, ("identify",)) if name else {}
        claim, value = target.get("claim"), target.get("value")
        if claim not in CHANNEL or not value:
            return Done()  # usernames have nothing to verify
        setting = run.project["verification"]["claims"][CONFIG_CLAIM[claim]]
        if not setting["enabled"] or self._already_verified(run, claim, value):
            return Done()
        otp_start(run, "verification", CHANNEL[claim], value, claim=claim)
        return WAIT

    def _already_verified(self, run: FlowRun, claim: str, value: str) -> bool:
        if run.signing_up:
            return any(v["name"] == claim and v["value"] == value for v in run.pending["verified"])
        return bool(run.user_id) and run.svc.users.is_verified(run.user_id or "", claim, value)

    def action(self, run: FlowRun) -> dict[str, Any]:
        return {"data": otp_data(run)}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        if not otp_input(run, inp):
            return WAIT
        claim, value = run.local["claim"], run.local["otp"]["target"]
        if run.signing_up:
            run.pending["verified"].append({"name": claim, "value": value})
        elif run.user_id:
            run.svc.users.mark_verified(run.user_id, claim, value)
        return Done()

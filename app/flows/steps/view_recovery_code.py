"""`view_recovery_code`: show the recovery codes made for a new second factor (contract 6.7)."""

from __future__ import annotations

from typing import Any

from app.authenticators.recovery_codes import generate
from app.flows.inputs import TRUE, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register


@register("view_recovery_code")
class ViewRecoveryCode:
    def enter(self, run: FlowRun) -> Outcome:
        settings = run.project["authentication"]["recovery_code"]
        if settings["disabled"] or not run.data.get("secondary_created"):
            return Done()
        run.local["codes"] = generate(settings["count"])
        return WAIT

    def action(self, run: FlowRun) -> dict[str, Any]:
        return {"data": {"type": "view_recovery_code_data", "recovery_codes": run.local["codes"]}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        validate(inp, obj({"confirm_recovery_code": TRUE}, ["confirm_recovery_code"]))
        if run.signing_up:
            run.pending["recovery_codes"] = run.local["codes"]
        elif run.user_id:
            run.svc.recovery_codes.replace(run.user_id, run.local["codes"])
        return Done()

"""`change_password` (login): forced when the password just used violates the policy or expired."""

from __future__ import annotations

from typing import Any

from app.authenticators.models import Authenticator
from app.extensions import db
from app.flows.inputs import PASSWORD, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register


@register("change_password")
class ChangePassword:
    def enter(self, run: FlowRun) -> Outcome:
        name = run.step.get("target_step")
        # The password to change is the one an authenticate step used (Authgear's change_password target).
        used = run.target(name, ("authenticate",)) if name else {}
        return WAIT if used.get("must_change") and used.get("authenticator_id") else Done()

    def action(self, run: FlowRun) -> dict[str, Any]:
        reason = run.output(run.step.get("target_step")).get("must_change")
        data = {"type": "new_password_data", "password_policy": run.svc.passwords.policy.to_api()}
        return {"data": {**data, "reason": reason}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        validate(inp, obj({"new_password": PASSWORD}, ["new_password"]))
        auth = db.session.get(Authenticator, run.output(run.step.get("target_step"))["authenticator_id"])
        if auth is not None:
            run.svc.passwords.change(auth, inp["new_password"], run.ctx.request)
        return Done()

"""`terminate_other_sessions` (login): a client with `x_max_concurrent_session: 1` asks the user to end
the other sessions before signing in."""

from __future__ import annotations

from typing import Any

from app.flows.inputs import TRUE, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register


@register("terminate_other_sessions")
class TerminateOtherSessions:
    def enter(self, run: FlowRun) -> Outcome:
        client = run.client or {}
        if client.get("x_max_concurrent_session") != 1 or not run.user_id:
            return Done()
        return WAIT if run.svc.sessions.list_for_user(run.user_id) else Done()

    def action(self, run: FlowRun) -> dict[str, Any]:
        return {"data": {}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        validate(inp, obj({"confirm_terminate_other_sessions": TRUE}, ["confirm_terminate_other_sessions"]))
        run.data["terminate_other_sessions"] = True
        return Done()

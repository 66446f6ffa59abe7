"""`prompt_create_passkey`: passkeys are not enabled in Gatehouse yet, so the step passes."""

from __future__ import annotations

from typing import Any

from app.flows.run import Done, FlowRun, Outcome, register


@register("prompt_create_passkey")
class PromptCreatePasskey:
    def enter(self, run: FlowRun) -> Outcome:
        return Done()

    def action(self, run: FlowRun) -> dict[str, Any]:
        return {"data": {}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        return Done()

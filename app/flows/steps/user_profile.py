"""`fill_in_user_profile`: standard attributes asked for during signup (contract 6.7)."""

from __future__ import annotations

from typing import Any

from app.errors import ValidationFailed
from app.flows.inputs import validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.identities.account import PROFILE_ATTRIBUTES

SCHEMA = {
    "type": "object",
    "required": ["attributes"],
    "additionalProperties": False,
    "properties": {
        "attributes": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["pointer", "value"],
                "additionalProperties": False,
                "properties": {
                    "pointer": {"type": "string", "pattern": "^/[a-z_]+$"},
                    "value": {"type": "string", "maxLength": 400},
                },
            },
        }
    },
}


@register("fill_in_user_profile")
class FillInUserProfile:
    def enter(self, run: FlowRun) -> Outcome:
        return WAIT if run.step.get("user_profile") else Done()

    def action(self, run: FlowRun) -> dict[str, Any]:
        fields = [{"pointer": f["pointer"], "required": bool(f.get("required"))} for f in run.step["user_profile"]]
        return {"data": {"type": "fill_in_user_profile_data", "attributes": fields}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        validate(inp, SCHEMA)
        asked = {f["pointer"]: bool(f.get("required")) for f in run.step["user_profile"]}
        given = {a["pointer"]: a["value"] for a in inp["attributes"]}
        causes = [
            {"location": "/attributes", "kind": "required", "details": {"missing": [p]}}
            for p, required in asked.items()
            if required and not given.get(p)
        ]
        causes += [
            {"location": "/attributes", "kind": "enum", "details": {"actual": p}}
            for p in given
            if p not in asked or p[1:] not in PROFILE_ATTRIBUTES
        ]
        if causes:
            raise ValidationFailed(causes)
        values = {p[1:]: v for p, v in given.items()}
        if run.signing_up:
            run.pending["attributes"].update(values)
        elif run.user_id:
            user = run.svc.users.get(run.user_id)
            user.standard_attributes = {**(user.standard_attributes or {}), **values}
        return Done()

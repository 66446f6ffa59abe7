"""`prompt_create_passkey` (signup, promote, login): offer to create a passkey (contract 6.6).

As Authgear (IntentLoginFlowStepPromptCreatePasskey, NodePromptCreatePasskey): the step asks only
when the flow identified the user by a login ID (an identification whose primary authentications
include passkey), the user has no passkey yet, it was not asked before in this flow, and the user
did not opt out (`ui.passkey_upselling_opt_out_enabled` and "do not ask again"). Its data is
`create_passkey_data` with the creation options; the input is the `creation_response` of
`navigator.credentials.create`, or `{"skip": true}` (with `do_not_ask_again` when allowed).

In a signup nothing is written before the flow finishes: the user's ID is chosen here, so the
credential's user handle is that ID, and the checked credential waits in the pending signup.
"""

from __future__ import annotations

from typing import Any

from app.db import new_id
from app.errors import BadRequest
from app.flows.inputs import obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps.passkey import CREATION_RESPONSE
from app.passkeys.relying_party import invalid_credentials
from app.passkeys.service import end_user_account_id, passkeys

# Identifications whose primary authentications include primary_passkey (Authgear's model).
PASSKEY_CAPABLE = ("email", "phone", "username")


def _opt_out_allowed(run: FlowRun) -> bool:
    return bool((run.project.get("ui") or {}).get("passkey_upselling_opt_out_enabled"))


@register("prompt_create_passkey")
class PromptCreatePasskey:
    def enter(self, run: FlowRun) -> Outcome:
        if run.data.get("passkey_prompted") or run.data.get("identification") not in PASSKEY_CAPABLE:
            return Done()
        service = passkeys(run.svc)
        if run.signing_up:
            user_id = run.pending.setdefault("user_id", new_id())
            name = end_user_account_id(run.pending["attributes"]) or run.data.get("identified", {}).get("value", "")
            options = service.creation_options(user_id, name)
        else:
            user = run.svc.users.get(run.user_id or "")
            if service.has_passkey(user.id) or (_opt_out_allowed(run) and user.opt_out_passkey_upsell):
                return Done()
            options = service.creation_options_for(user)
        run.data["passkey_prompted"] = True
        run.local["creation_options"] = options
        return WAIT

    def action(self, run: FlowRun) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "create_passkey_data", "creation_options": run.local["creation_options"]}
        if _opt_out_allowed(run):
            data["allow_do_not_ask_again"] = True
        return {"data": data}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        skip: dict[str, Any] = {"skip": {"type": "boolean"}}
        if _opt_out_allowed(run):
            skip["do_not_ask_again"] = {"type": "boolean"}
        schema = {
            "type": "object",
            "oneOf": [obj({"creation_response": CREATION_RESPONSE}, ["creation_response"]), obj(skip, ["skip"])],
        }
        validate(inp, schema)
        if "creation_response" in inp:
            self._create(run, inp["creation_response"])
            return Done()
        if not inp["skip"]:
            raise BadRequest("AuthenticationFlowIncompatibleInput", "incompatible input")
        # Input keys no schema names are ignored (Authgear): `do_not_ask_again` counts only when offered.
        opt_out = inp.get("do_not_ask_again") is True and _opt_out_allowed(run)
        if opt_out and not run.signing_up:
            run.svc.users.get(run.user_id or "").opt_out_passkey_upsell = True
        elif opt_out:
            run.pending["opt_out_passkey_upsell"] = True
        return Done()

    def _create(self, run: FlowRun, response: dict[str, Any]) -> None:
        service = passkeys(run.svc)
        if not run.signing_up:
            service.register(run.user_id or "", response, run.ctx.request)
            return
        registration, challenge = service.verify_creation(response)
        if registration.user_handle != run.pending.get("user_id"):
            raise invalid_credentials()
        run.pending.setdefault("passkeys", []).append({"response": response})


def create_pending(run: FlowRun, user_id: str) -> None:
    """At the end of a signup: the passkeys its prompt checked, written for the new user (their
    challenges are used up now, when the signup commits)."""
    service = passkeys(run.svc)
    for item in run.pending.get("passkeys", []):
        registration, challenge = service.verify_creation(item["response"])
        service.create(user_id, registration, challenge, run.ctx.request)
    if run.pending.get("opt_out_passkey_upsell"):
        run.svc.users.get(user_id).opt_out_passkey_upsell = True

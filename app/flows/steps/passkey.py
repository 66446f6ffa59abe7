"""Passkeys in the flow steps (Authgear's IntentUseIdentityPasskey, IntentUseAuthenticatorPasskey,
IntentLookupIdentityPasskey): `identification: passkey` of identify and `primary_passkey` of
authenticate. Both take `{"assertion_response": <PublicKeyCredential JSON>}` answering the
`request_options` their step offered; `identify` and `authenticate` call in here for that one branch.
"""

from __future__ import annotations

from typing import Any

from app.errors import BadRequest, NotFound, Unauthorized
from app.flows.inputs import STRING, obj, validate
from app.flows.run import Done, FlowRun, Outcome
from app.flows.steps.common import authentication_rate_limits, failed_attempt
from app.passkeys.service import passkeys
from app.ratelimit import PASSKEY_LIMIT

AMR = ["x_passkey"]
# A base64url value as WebAuthn's JSON serialisation writes it (Authgear's `x_base64_url` format).
B64URL = {"type": "string", "maxLength": 65536, "pattern": "^[A-Za-z0-9_-]*={0,2}$"}
ASSERTION_RESPONSE = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 2048},
        "type": {"type": "string", "maxLength": 64},
        "rawId": B64URL,
        "clientExtensionResults": {"type": "object"},
        "response": {
            "type": "object",
            "properties": {
                "clientDataJSON": B64URL,
                "authenticatorData": B64URL,
                "signature": B64URL,
                "userHandle": B64URL,
            },
            "required": ["clientDataJSON", "authenticatorData", "signature"],
        },
    },
    "required": ["id", "type", "rawId", "response"],
}
CREATION_RESPONSE = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 2048},
        "type": {"type": "string", "maxLength": 64},
        "rawId": B64URL,
        "clientExtensionResults": {"type": "object"},
        "response": {
            "type": "object",
            "properties": {"attestationObject": B64URL, "clientDataJSON": B64URL},
            "required": ["attestationObject", "clientDataJSON"],
        },
    },
    "required": ["id", "type", "rawId", "response"],
}
# Where a passkey may identify: a login (or a signup_login that becomes one). Authgear has no
# signup with a passkey as the identity; a signup creates one at prompt_create_passkey.
IDENTIFY_FLOWS = ("login", "signup_login")


def _user_not_found() -> NotFound:
    return NotFound("UserNotFound", "user not found")


# -- identify ---------------------------------------------------------------------------------------
def offer_identify(run: FlowRun, branches: list[dict[str, Any]]) -> None:
    """As the identify step starts: the request options of its passkey branch, made once so that
    every read of the state shows the same challenge."""
    if run.state.type in IDENTIFY_FLOWS and any(b.get("identification") == "passkey" for b in branches):
        run.local["passkey_request_options"] = passkeys(run.svc).request_options()


def identify_options(run: FlowRun, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The identify options with the passkey one carrying its `request_options`."""
    request_options = run.local.get("passkey_request_options")
    out = []
    for o in options:
        if o.get("identification") != "passkey":
            out.append(o)
        elif request_options is not None:
            out.append({**o, "request_options": request_options})
    return out


def identify(run: FlowRun, branch: dict[str, Any], inp: dict[str, Any]) -> Outcome:
    """`{"identification": "passkey", "assertion_response"}`: the passkey names its user and proves
    it at once (the passkey identity needs no other primary authentication)."""
    if run.state.type not in IDENTIFY_FLOWS or "passkey_request_options" not in run.local:
        raise BadRequest("AuthenticationFlowUnsupported", "passkey is not available")
    validate(inp, obj({"identification": STRING, "assertion_response": ASSERTION_RESPONSE}, ["assertion_response"]))
    response = inp["assertion_response"]
    authentication_rate_limits(run, PASSKEY_LIMIT, None)
    service = passkeys(run.svc)
    user_id = service.credential_user(response)
    if user_id is None:
        # Authgear's lookup of the passkey identity; there is no signup with a passkey identity.
        raise _user_not_found()
    _verify(run, user_id, response)
    run.data.update(user_id=user_id, identification="passkey", identified={"identification": "passkey"})
    run.record({"identification": "passkey"})
    if run.flow_type == "signup_login":
        return _switch_to_login(run, branch)
    return Done(list(branch.get("steps", [])))


def _switch_to_login(run: FlowRun, branch: dict[str, Any]) -> Outcome:
    """A signup_login identified by a passkey goes on as its login flow, whose identify step is
    already answered (Authgear's switch with a synthetic passkey input)."""
    name = branch.get("login_flow") or "default"
    flow = run.catalog.get("login", name)
    first = flow["steps"][0] if flow and flow["steps"] else None
    index = next(
        (i for i, b in enumerate((first or {}).get("one_of", [])) if b.get("identification") == "passkey"),
        None,
    )
    if flow is None or first is None or first["type"] != "identify" or index is None:
        raise BadRequest("AuthenticationFlowUnsupported", "the target flow does not accept passkey")
    run.data["effective_type"] = "login"
    run.data["effective_name"] = name
    first.update({"pre_identified": True, "pre_identified_index": index})
    return Done(flow["steps"])


# -- authenticate -----------------------------------------------------------------------------------
def authenticate_option(run: FlowRun, user_id: str) -> dict[str, Any] | None:
    """`primary_passkey` with request options allowing only the user's own passkeys, or None when
    the user has none (Authgear offers it only then)."""
    service = passkeys(run.svc)
    if not service.has_passkey(user_id):
        return None
    return {"authentication": "primary_passkey", "request_options": service.request_options(user_id)}


def authenticate(run: FlowRun, inp: dict[str, Any]) -> None:
    """Checks `{"authentication": "primary_passkey", "assertion_response"}` for the identified user;
    the authenticate step records the success as for its other options."""
    validate(inp, obj({"authentication": STRING, "assertion_response": ASSERTION_RESPONSE}, ["assertion_response"]))
    user_id = run.user_id or ""
    authentication_rate_limits(run, PASSKEY_LIMIT, user_id)
    _check(run, user_id, inp["assertion_response"])


def _check(run: FlowRun, user_id: str, response: dict[str, Any]) -> None:
    """Verifies the assertion; a refusal counts towards the lockout and leaves its audit row."""
    try:
        passkeys(run.svc).authenticate(response, user_id)
    except Unauthorized:
        failed_attempt(run, user_id, "primary_passkey")
        raise


def _verify(run: FlowRun, user_id: str, response: dict[str, Any]) -> None:
    authentication_rate_limits(run, PASSKEY_LIMIT, user_id)
    _check(run, user_id, response)
    run.svc.lockout.reset(user_id, ip=run.ip)
    run.add_amr(*AMR)
    run.data.setdefault("factors", []).append("primary")

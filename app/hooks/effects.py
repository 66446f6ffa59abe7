"""Blocking events raised by the services and the flow engine, with their effects (Authgear's
PerformEffects): the user mutations a handler returned are written in the same transaction as the
operation, through the services' own validation, as the greatest access role would write them;
the authentication events' constraints become steps of the flow (`before_finish`); the token
events' added claims go into the token."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app

from app.context import RequestContext
from app.hooks import blocking, payloads, will_deliver
from app.hooks.errors import InvalidJWTMutations
from app.hooks.sink import BlockingResult, current_sink


def apply_user_mutations(user: Any, result: BlockingResult) -> None:
    if not result.mutated:
        return
    svc = current_app.extensions["gatehouse"]
    mutated = result.payload["user"]
    standard = mutated["standard_attributes"]
    if standard != (user.standard_attributes or {}):
        user.standard_attributes = svc.accounts.validate_standard(standard)
    custom = mutated["custom_attributes"]
    if custom != (user.custom_attributes or {}):
        user.custom_attributes = svc.accounts.validate_custom(custom)
    roles, groups = payloads.user_keys(user.id)
    # Reset, as Authgear's ResetUserRole/ResetUserGroup: unknown keys fail the operation.
    if set(mutated["roles"]) != set(roles):
        svc.roles.remove_user_from_roles(user.id, sorted(set(roles) - set(mutated["roles"])))
        svc.roles.add_user_to_roles(user.id, sorted(set(mutated["roles"]) - set(roles)))
    if set(mutated["groups"]) != set(groups):
        svc.roles.remove_user_from_groups(user.id, sorted(set(groups) - set(mutated["groups"])))
        svc.roles.add_user_to_groups(user.id, sorted(set(mutated["groups"]) - set(groups)))


def user_event(event_type: str, user: Any, ctx: RequestContext | None, identities: bool = False) -> None:
    """user.pre_create (with identities), user.profile.pre_update, user.pre_schedule_deletion and
    user.pre_schedule_anonymization: the user as the operation leaves it, mutations applied."""
    sink = current_sink()
    if sink is None or not sink.will_deliver_blocking(event_type):
        return
    payload: dict[str, Any] = {"user": payloads.user(user, sink.project)}
    if identities:
        payload["identities"] = payloads.identities(user.id)
    apply_user_mutations(user, blocking(event_type, payload, ctx, user.id))


# -- authentication flows ------------------------------------------------------------------------
# The flows that raise the authentication.* events (Authgear: every flow but account recovery).
_AUTHENTICATION_FLOWS = ("login", "signup", "signup_login", "promote", "reauth")
# What each authentication contributes to the flow's AMR (model.AuthenticationFlowAuthentication.AMR).
AUTHENTICATION_AMR = {
    "primary_password": ["pwd", "x_primary_password"],
    "primary_oob_otp_email": ["otp", "x_primary_oob_otp_email"],
    "primary_oob_otp_sms": ["otp", "sms", "x_primary_oob_otp_sms"],
    "primary_passkey": ["x_passkey", "x_primary_passkey"],
    "secondary_password": ["pwd", "x_secondary_password"],
    "secondary_totp": ["otp", "x_secondary_totp"],
    "secondary_oob_otp_email": ["otp", "x_secondary_oob_otp_email"],
    "secondary_oob_otp_sms": ["otp", "sms", "x_secondary_oob_otp_sms"],
    "recovery_code": ["x_recovery_code"],
}
# authentication.secondary_authenticators -> the authentication that uses or creates one.
_SECONDARY = {
    "password": "secondary_password",
    "oob_otp_email": "secondary_oob_otp_email",
    "oob_otp_sms": "secondary_oob_otp_sms",
    "totp": "secondary_totp",
}
# What the flow state keeps of the handlers' answers (Authgear's Milestone*Provider nodes).
_ANSWERS = "hook_answers"


def authentication_context(flow_type: str, flow_name: str, user: Any, amr: list[str]) -> dict[str, Any]:
    sink = current_sink()
    assert sink is not None
    return {
        "authentication_flow": {"type": flow_type, "name": flow_name},
        "user": payloads.user(user, sink.project) if user is not None else None,
        "asserted_identifications": [],
        "asserted_authentications": [],
        "amr": list(amr),
    }


def _flow_user(run: Any) -> Any:
    """The flow's user so far: the signed-in or identified one, or, for a signup, the user it is
    about to create (not written yet: its ID, attributes and no roles)."""
    if run.user_id:
        return run.svc.users.get(run.user_id)
    if run.signing_up and run.state.data.get("pending"):
        from app.db import new_id
        from app.identities.models import User

        now = run.svc.clock()
        pending = run.pending
        return User(
            id=pending.setdefault("user_id", new_id()),
            created_at=now,
            updated_at=now,
            is_disabled=False,
            is_deactivated=False,
            is_anonymized=False,
            standard_attributes=dict(pending.get("attributes") or {}),
            custom_attributes={},
        )
    return None


def _authentication_blocking(run: Any, event_type: str, extra: dict[str, Any] | None = None) -> None:
    """One authentication.* event of a flow; its constraints, bot protection and rate limit
    weights are kept in the flow state, a later answer replacing an earlier one's, as Authgear
    reads the last milestone that has them."""
    if not will_deliver(event_type):
        return
    user = _flow_user(run)
    context = authentication_context(run.flow_type, run.state.name, user, collected_amr(run))
    payload = {**(extra or {}), "authentication_context": context}
    result = blocking(event_type, payload, run.ctx.request, user.id if user is not None else None)
    kept = run.data.setdefault(_ANSWERS, {})
    for key in ("constraints", "bot_protection", "rate_limits"):
        value = getattr(result, key)
        if value is not None:
            kept[key] = value


def pre_initialize(run: Any) -> None:
    """authentication.pre_initialize, as a flow is created (a refusal: the flow is not created)."""
    if run.flow_type in _AUTHENTICATION_FLOWS:
        _authentication_blocking(run, "authentication.pre_initialize")


def step_completed(run: Any) -> None:
    """Called by the engine as a step completes: after an identify step, authentication.post_identified."""
    if run.step.get("type") != "identify" or run.flow_type not in _AUTHENTICATION_FLOWS:
        return
    identified = run.data.get("identified")
    if not identified or not will_deliver("authentication.post_identified"):
        return
    # A signup_login flow identifies once and its target flow's identify step takes that over.
    marks = run.data.setdefault("hook_marks", {})
    if marks.get("post_identified") == identified:
        return
    marks["post_identified"] = dict(identified)
    identification = {
        "identification": identified.get("identification"),
        "identity": _identified_identity(run, identified),
        "id_token": None,
    }
    _authentication_blocking(run, "authentication.post_identified", {"identification": identification})


def _identified_identity(run: Any, identified: dict[str, Any]) -> dict[str, Any] | None:
    """model.Identity of what the identify step found (a signup's is not written yet)."""
    if run.user_id and not run.signing_up:
        for identity in run.svc.users.identities_of(run.user_id):
            if identity.type == "login_id" and identity.login_id == identified.get("value"):
                return payloads.identity(identity)
            if identity.type == "oauth" and identity.provider_alias == identified.get("alias"):
                return payloads.identity(identity)
        return None
    if identified.get("value"):
        return {
            "type": "login_id",
            "claims": {
                identified.get("claim") or identified.get("identification"): identified["value"],
                "https://authgear.com/claims/login_id/key": identified.get("key"),
                "https://authgear.com/claims/login_id/type": identified.get("identification"),
                "https://authgear.com/claims/login_id/value": identified["value"],
            },
        }
    return None


def collected_amr(run: Any) -> list[str]:
    """The flow's AMR as Authgear's CollectAMR: each authentication's values, and `mfa` once two
    authenticators (or one and a recovery code) were used or created."""
    amr = set(run.data.get("amr", []))
    used = [a for a in run.data.get("authentications", []) if a in AUTHENTICATION_AMR]
    if run.signing_up and run.state.data.get("pending"):
        for a in run.pending.get("authenticators", []):
            base = "oob_otp_" + a["channel"] if a.get("channel") else a["type"]
            used.append(f"{a['kind']}_{base}")
    for a in used:
        amr.update(AUTHENTICATION_AMR.get(a, []))
    authenticators = [a for a in used if a != "recovery_code"]
    factors = [f for f in run.data.get("factors", []) if f != "device_token"]
    if (
        len(authenticators) > 1
        or (authenticators and "recovery_code" in used)
        or len(factors) > 1
        or (run.data.get("secondary_created") and used)
    ):
        amr.add("mfa")
    return sorted(amr)


def rate_limit_weights(run: Any) -> dict[str, Any] | None:
    """The `rate_limits` of the last answer that had them (None: no answer said anything; the
    weights stay 1), as Authgear's nodes set them for the rest of the flow."""
    return run.data.get(_ANSWERS, {}).get("rate_limits")


def remaining_amr(run: Any) -> list[str]:
    constraints = (run.data.get(_ANSWERS, {}).get("constraints") or {}).get("amr") or []
    if not constraints:
        return []
    have = set(collected_amr(run))
    return [c for c in constraints if c not in have]


def before_finish(run: Any) -> bool:
    """Called by the engine when a flow has no steps left: authentication.pre_authenticated (once),
    then Authgear's IntentLoginFlowEnforceAMRConstraints: while the AMR constraints of the hooks'
    answers are not met, one more step of second factors that can meet them (authenticate in a
    login or reauth flow, create_authenticator in a signup). True when a step was added."""
    if run.flow_type not in ("login", "signup", "promote", "reauth"):
        return False
    marks = run.data.setdefault("hook_marks", {})
    if not marks.get("pre_authenticated"):
        marks["pre_authenticated"] = True
        _authentication_blocking(run, "authentication.pre_authenticated")
    remaining = remaining_amr(run)
    if not remaining:
        return False
    auth = run.project["authentication"]
    one_of = [_SECONDARY[t] for t in auth.get("secondary_authenticators") or [] if t in _SECONDARY]
    creating = run.signing_up
    if not creating and not (auth.get("recovery_code") or {}).get("disabled"):
        one_of.append("recovery_code")
    if remaining != ["mfa"]:
        # `mfa` is met by any second factor; other values only by options that give one of them.
        one_of = [a for a in one_of if set(AUTHENTICATION_AMR[a]) & set(remaining)]
    step_type = "create_authenticator" if creating else "authenticate"
    run.state.queue.append({"type": step_type, "one_of": [{"authentication": a} for a in one_of]})
    return True


# -- tokens --------------------------------------------------------------------------------------
def token_claims(kind: str, user: Any, claims: dict[str, Any], ctx: RequestContext | None) -> dict[str, Any]:
    """oidc.jwt.pre_create (`kind` "jwt") and oidc.id_token.pre_create ("id_token"): the claims
    with what the handlers added. As Authgear's ApplyMutations, a handler may add claims but not
    remove or change one Gatehouse set (`Invalid/InvalidJWTMutations`). `user`: a User or its ID."""
    event_type = "oidc.jwt.pre_create" if kind == "jwt" else "oidc.id_token.pre_create"
    sink = current_sink()
    if sink is None or not sink.will_deliver_blocking(event_type):
        return claims
    if isinstance(user, str):
        svc = current_app.extensions["gatehouse"]
        user = svc.users.get(user)
    # The claims as JSON has them (tuples become lists), for the comparison after the handlers.
    original = json.loads(json.dumps(claims))
    payload = {
        "user": payloads.user(user, sink.project),
        "identities": payloads.identities(user.id),
        kind: {"payload": json.loads(json.dumps(claims))},
    }
    mutated = blocking(event_type, payload, ctx, user.id).payload[kind]["payload"]
    removed = sorted(k for k in original if k not in mutated)
    changed = sorted(k for k in original if k in mutated and mutated[k] != original[k])
    if removed or changed:
        raise InvalidJWTMutations(removed, changed)
    return {**claims, **{k: v for k, v in mutated.items() if k not in original}}

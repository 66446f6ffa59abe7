"""Blocking events raised by the services, with their effects (Authgear's PerformEffects): the
user mutations a handler returned are written in the same transaction as the operation, through
the services' own validation, as the greatest access role would write them."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.context import RequestContext
from app.hooks import blocking, payloads, will_deliver
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


def pre_authenticated(run: Any) -> BlockingResult | None:
    """authentication.pre_authenticated, as a flow that signs in is about to finish."""
    if not will_deliver("authentication.pre_authenticated"):
        return None
    user = run.svc.users.get(run.user_id)
    context = authentication_context(run.flow_type, run.state.name, user, run.data.get("amr", []))
    return blocking("authentication.pre_authenticated", {"authentication_context": context}, run.ctx.request, user.id)


def token_claims(kind: str, user: Any, claims: dict[str, Any], ctx: RequestContext | None) -> dict[str, Any]:
    """oidc.jwt.pre_create (`kind` "jwt") and oidc.id_token.pre_create ("id_token"): the claims
    after the handlers' mutations, which replace them whole."""
    event_type = "oidc.jwt.pre_create" if kind == "jwt" else "oidc.id_token.pre_create"
    sink = current_sink()
    if sink is None or not sink.will_deliver_blocking(event_type):
        return claims
    payload = {
        "user": payloads.user(user, sink.project),
        "identities": payloads.identities(user.id),
        kind: {"payload": dict(claims)},
    }
    return blocking(event_type, payload, ctx, user.id).payload[kind]["payload"]

"""Bot protection in the authentication flows (Authgear's declarative utils_bot_protection.go).

A branch (`one_of` item) of identify, authenticate or create_authenticator may carry
`bot_protection: {mode: never | always}`; the default flows get it from
`bot_protection.requirements` (app/botprotection/requirements.py). While the flow has not passed a
check, an option of such a branch says so in the action data (`bot_protection: {enabled, provider:
{type}}`) and its input must carry `bot_protection: {type, response}`; the token is verified with
the provider's siteverify API. A flow is checked once: after a verified token no later step asks
again (a signup_login flow that became a login or signup flow included); after a failed one every
later check of that flow fails, as in Authgear. An unavailable provider leaves nothing behind, so
the input may be sent again.

The outcome is kept beside the flow state in the key-value store, not in the state itself, because
an input that fails leaves the state unchanged (the engine rolls it back) and Authgear keeps a
verification that succeeded even when the rest of the input failed (a wrong password).
"""

from __future__ import annotations

from typing import Any

from app.botprotection.errors import BotProtectionVerificationFailed
from app.botprotection.service import BotProtection
from app.flows.inputs import validate
from app.flows.state import FLOW_LIFETIME_SECONDS

VERIFIED = "verified"
FAILED = "failed"


def service(run: Any) -> BotProtection:
    return BotProtection.from_config(run.svc.config)


def _key(run: Any) -> str:
    return f"authflow:bot_protection:{run.state.flow_id}"


def outcome(run: Any) -> str | None:
    raw = run.svc.store.get(_key(run))
    return raw.decode() if isinstance(raw, bytes) else raw


def _record(run: Any, value: str) -> None:
    run.svc.store.set(_key(run), value, ttl=FLOW_LIFETIME_SECONDS)


def branch_requires(run: Any, branch: dict[str, Any] | None) -> bool:
    """Whether the branch asks for a check: its mode is `always` and the project's bot protection is on.
    A blocking hook's `bot_protection` (authentication.pre_initialize / post_identified, the later
    answer kept in the flow state) replaces every branch's mode, as Authgear's GetBotProtectionData
    lets the last milestone override it: `always`, `never`, or `{}` (no mode: no check)."""
    mode = ((branch or {}).get("bot_protection") or {}).get("mode")
    answers = run.data.get("hook_answers") or {}
    if "bot_protection" in answers:
        mode = (answers["bot_protection"] or {}).get("mode")
    return mode == "always" and service(run).enabled


def required(run: Any, branch: dict[str, Any] | None) -> bool:
    """Whether an input taking `branch` must carry a token now (a verified flow needs none)."""
    return branch_requires(run, branch) and outcome(run) != VERIFIED


def option_data(run: Any, branch: dict[str, Any] | None) -> dict[str, Any] | None:
    """The option's `bot_protection` (Authgear's BotProtectionData), or None when not required."""
    if not required(run, branch):
        return None
    return {"enabled": True, "provider": {"type": service(run).provider_type}}


def decorate(run: Any, options: list[dict[str, Any]], declared: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """`options` with `bot_protection` on each whose branch (the declared branch with the same
    `key` value: identification or authentication) requires it."""
    if not service(run).enabled:
        return options
    out = []
    for option in options:
        branch = next((b for b in declared if b.get(key) == option.get(key)), None)
        data = option_data(run, branch)
        out.append({**option, "bot_protection": data} if data else option)
    return out


def input_schema(provider_type: str) -> dict[str, Any]:
    """Authgear's InputSchemaTakeBotProtection: `bot_protection` required, its type the project's."""
    return {
        "type": "object",
        "required": ["bot_protection"],
        "properties": {
            "bot_protection": {
                "type": "object",
                "required": ["type", "response"],
                "properties": {"type": {"const": provider_type}, "response": {"type": "string", "maxLength": 8192}},
            }
        },
    }


def take(run: Any, branch: dict[str, Any] | None, inp: dict[str, Any]) -> dict[str, Any]:
    """Check the input's token when `branch` requires one; returns the input without `bot_protection`
    for the step's own schema. A token sent where none is asked for is ignored."""
    rest = {k: v for k, v in inp.items() if k != "bot_protection"}
    if not required(run, branch):
        return rest
    bp = service(run)
    validate(inp, input_schema(bp.provider_type))
    if outcome(run) == FAILED:
        raise BotProtectionVerificationFailed()
    token = inp["bot_protection"]["response"]
    try:
        bp.verify(token, run.ip)
    except BotProtectionVerificationFailed:
        if token:
            _record(run, FAILED)
        raise
    _record(run, VERIFIED)
    return rest

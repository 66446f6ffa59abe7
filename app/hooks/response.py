"""Blocking hook answers, checked as Authgear checks them (pkg/api/event/hook_response.go and the
per-event schemas in pkg/api/event/blocking): `{"is_allowed": false, "title"?, "reason"?}` or
`{"is_allowed": true, ...}` with only the keys the event supports. Anything else is
`HookInvalidResponse` ("invalid response body") with the schema's causes."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from app.hooks.errors import HookInvalidResponse

# AMR values a handler may require (model.AMR*): `mfa` asks for any second factor.
AMR_CONSTRAINTS = [
    "mfa",
    "otp",
    "pwd",
    "sms",
    "x_primary_oob_otp_email",
    "x_primary_oob_otp_sms",
    "x_primary_password",
    "x_recovery_code",
    "x_secondary_oob_otp_email",
    "x_secondary_oob_otp_sms",
    "x_secondary_password",
    "x_secondary_totp",
]
_PAYLOAD = {"type": "object", "properties": {"payload": {"type": "object"}}}
_WEIGHT = {"type": "object", "additionalProperties": False, "properties": {"weight": {"type": "number", "minimum": 0}}}
_PARTS: dict[str, Any] = {
    "mutations": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "user": {
                "type": "object",
                "properties": {
                    "standard_attributes": {"type": "object"},
                    "custom_attributes": {"type": "object"},
                    # Go decodes these into []string: anything else fails to parse.
                    "roles": {"type": "array", "items": {"type": "string"}},
                    "groups": {"type": "array", "items": {"type": "string"}},
                },
            },
            "jwt": _PAYLOAD,
            "id_token": _PAYLOAD,
        },
    },
    "constraints": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"amr": {"type": "array", "items": {"enum": AMR_CONSTRAINTS}}},
    },
    "bot_protection": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"mode": {"enum": ["never", "always"]}},
    },
    "rate_limits": {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: _WEIGHT for k in ("authentication.general", "authentication.account_enumeration")},
    },
}
_AUTHENTICATION = ("constraints", "bot_protection", "rate_limits")
# What an allowing answer may carry, per event.
ALLOWED_PARTS: dict[str, tuple[str, ...]] = {
    "user.pre_create": ("mutations",),
    "user.profile.pre_update": ("mutations",),
    "user.pre_schedule_deletion": ("mutations",),
    "user.pre_schedule_anonymization": ("mutations",),
    "oidc.jwt.pre_create": ("mutations",),
    "oidc.id_token.pre_create": ("mutations",),
    "authentication.pre_initialize": _AUTHENTICATION,
    "authentication.post_identified": _AUTHENTICATION,
    "authentication.pre_authenticated": ("constraints", "rate_limits"),
}


@functools.cache
def _validator(event_type: str) -> jsonschema.Draft202012Validator:
    allowed = ALLOWED_PARTS[event_type]
    schema = {
        "type": "object",
        "required": ["is_allowed"],
        "properties": {"is_allowed": {"type": "boolean"}},
        "if": {"properties": {"is_allowed": {"const": True}}},
        "then": {
            "additionalProperties": False,
            "properties": {"is_allowed": {"const": True}, **{k: _PARTS[k] for k in allowed}},
        },
        "else": {
            "additionalProperties": False,
            "properties": {"is_allowed": {"const": False}, "title": {"type": "string"}, "reason": {"type": "string"}},
        },
    }
    return jsonschema.Draft202012Validator(schema)


@dataclass
class HookResponse:
    is_allowed: bool
    title: str = ""
    reason: str = ""
    mutations: dict[str, Any] = field(default_factory=dict)
    constraints: dict[str, Any] | None = None
    bot_protection: dict[str, Any] | None = None
    rate_limits: dict[str, Any] | None = None


def parse(event_type: str, body: Any) -> HookResponse:
    from app.flows.inputs import _cause  # the project's one JSON-schema-error-to-cause mapping

    errors = sorted(_validator(event_type).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        raise HookInvalidResponse("invalid response body", {"causes": [_cause(e) for e in errors[:10]]})
    return HookResponse(
        is_allowed=body["is_allowed"],
        title=body.get("title", ""),
        reason=body.get("reason", ""),
        mutations=body.get("mutations") or {},
        constraints=body.get("constraints"),
        bot_protection=body.get("bot_protection"),
        rate_limits=body.get("rate_limits"),
    )

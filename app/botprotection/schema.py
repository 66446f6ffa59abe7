"""The JSON Schemas of `bot_protection` (Authgear's pkg/lib/config/bot_protection.go,
authentication_flow_bot_protection.go and secret_bot_protection.go); app/config.py and the flow
declarations (app/flows/definitions.py) validate with them."""

from __future__ import annotations

from typing import Any

PROVIDER_TYPES = ["cloudflare", "recaptchav2"]
BOT_PROTECTION_MODES = ("never", "always")

_MODE = {"enum": list(BOT_PROTECTION_MODES)}
_REQUIREMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mode"],
    "properties": {"mode": _MODE},
}
# `bot_protection` of authgear.yaml.
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean"},
        "provider": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {"type": {"enum": PROVIDER_TYPES}, "site_key": {"type": "string", "minLength": 1}},
            "allOf": [{"if": {"properties": {"type": {"enum": PROVIDER_TYPES}}}, "then": {"required": ["site_key"]}}],
        },
        "requirements": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                name: _REQUIREMENT
                for name in ("signup_or_login", "account_recovery", "password", "oob_otp_email", "oob_otp_sms")
            },
        },
    },
}
# `bot_protection` on a branch of a declared flow.
FLOW_BRANCH_SCHEMA: dict[str, Any] = _REQUIREMENT
# The `bot_protection.provider` secret's data.
SECRET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"type": {"enum": PROVIDER_TYPES}, "secret_key": {"type": "string", "minLength": 1}},
    "allOf": [{"if": {"properties": {"type": {"enum": PROVIDER_TYPES}}}, "then": {"required": ["secret_key"]}}],
}

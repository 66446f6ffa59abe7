"""Feature config: authgear.features.yaml, next to authgear.yaml (Authgear's FeatureConfig).

Authgear's plans put limits and switches here (rate and usage limits, `identity.oauth.maximum_providers`,
`test_mode`, ...). A project without the file gets Authgear's effective defaults. Gatehouse acts on
`test_mode` (fixed OOB OTP code, suppressed email and SMS), `admin_api.create_session_enabled`,
`identity.oauth`, `oauth.client.app2app_enabled` and `rate_limits.disabled` (every rate limit off);
the other sections are checked, kept with their defaults and reported once at start as not
implemented.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from app.config import USAGE_LIMIT_SCHEMA, ConfigError, deep_merge

FILE_NAME = "authgear.features.yaml"

_BOOL = {"type": "boolean"}
_OBJECT = {"type": "object"}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        out["required"] = required
    return out


# Authgear's TestModeFeatureConfig (pkg/lib/config/feature_test_mode.go).
TEST_MODE_SCHEMA = _closed(
    {
        "fixed_oob_otp": _closed({"enabled": _BOOL, "code": {"type": "string"}}, ["enabled", "code"]),
        "deterministic_link_otp": _closed({"enabled": _BOOL}, ["enabled"]),
        "sms": _closed({"suppressed": _BOOL}),
        "whatsapp": _closed({"suppressed": _BOOL}),
        "email": _closed({"suppressed": _BOOL}),
    }
)


# The top level is closed as in Authgear; sections Gatehouse does not act on are only required to be
# objects, those it reads (and `usage`, whose periods are calendar words) are checked key by key.
SCHEMA: dict[str, Any] = _closed(
    {
        "identity": _OBJECT,
        "authentication": _OBJECT,
        "authenticator": _OBJECT,
        "custom_domain": _OBJECT,
        "ui": _OBJECT,
        "oauth": _OBJECT,
        "hook": _OBJECT,
        "audit_log": _OBJECT,
        "google_tag_manager": _OBJECT,
        # `disabled` (Authgear's RateLimitsFeatureConfig); older files have per-channel keys here too.
        "rate_limits": {"type": "object", "properties": {"disabled": _BOOL}},
        "messaging": _OBJECT,
        # Nullable, as in Authgear; a `type` list keeps the error at the key that is wrong.
        "usage": {
            **_closed(
                {
                    "hooks": {"type": "array", "items": _OBJECT},
                    "limits": {
                        **_closed(
                            {k: USAGE_LIMIT_SCHEMA for k in ("user_export", "user_import", "email", "whatsapp", "sms")}
                        ),
                        "type": ["object", "null"],
                    },
                }
            ),
            "type": ["object", "null"],
        },
        "collaborator": _OBJECT,
        "web3": _OBJECT,
        "admin_api": _OBJECT,
        "test_mode": TEST_MODE_SCHEMA,
        "fraud_protection": _OBJECT,
    }
)

# Authgear's effective defaults (the SetDefaults of pkg/lib/config/feature_*.go) for what a project
# without the file gets: nothing restricted, test mode off.
DEFAULTS: dict[str, Any] = {
    "identity": {"oauth": {"maximum_providers": 99}, "biometric": {"disabled": False}},
    "oauth": {"client": {"maximum": 99, "soft_maximum": 99}},
    "hook": {"blocking_handler": {"maximum": 99}, "non_blocking_handler": {"maximum": 99}},
    "audit_log": {"retrieval_days": -1},
    "admin_api": {"create_session_enabled": False},
    "rate_limits": {"disabled": False},
    "fraud_protection": {"is_modifiable": False},
    "test_mode": {
        "fixed_oob_otp": {"enabled": False, "code": ""},
        "deterministic_link_otp": {"enabled": False},
        "sms": {"suppressed": False},
        "whatsapp": {"suppressed": False},
        "email": {"suppressed": False},
    },
}

# What Gatehouse reads; any other key present in the file is reported as not implemented.
IMPLEMENTED_PATHS = frozenset(
    {
        "test_mode.fixed_oob_otp",
        "test_mode.sms",
        "test_mode.email",
        "admin_api.create_session_enabled",
        # maximum_providers and providers.<type>.disabled (app/sso/config.py)
        "identity.oauth",
        # app2app (app/oidc/app2app.py)
        "oauth.client.app2app_enabled",
        # app/ratelimit.py: every rate limit off, as Authgear's Limiter (not the lockout)
        "rate_limits.disabled",
    }
)
# Sections whose keys are reported one level down (`oauth.client.<key>`): parts are implemented.
_NESTED_SECTIONS = frozenset({"oauth.client"})


def default_features() -> dict[str, Any]:
    return copy.deepcopy(DEFAULTS)


def validate_features(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Validate an authgear.features.yaml document; returns it with defaults and the unimplemented keys."""
    if raw is None:  # an empty file, as Authgear reads it: no restrictions
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{FILE_NAME}: the document must be a mapping")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = "/" + "/".join(str(p) for p in err.absolute_path)
        raise ConfigError(f"{FILE_NAME} {where}: {err.message}")
    features = deep_merge(DEFAULTS, raw)
    unimplemented: list[str] = []
    for key, value in raw.items():
        if key not in ("test_mode", "admin_api", "identity", "oauth"):
            unimplemented.append(key)
            continue
        for k, inner in (value or {}).items():
            path = f"{key}.{k}"
            if path in _NESTED_SECTIONS and isinstance(inner, dict):
                unimplemented += [f"{path}.{n}" for n in inner if f"{path}.{n}" not in IMPLEMENTED_PATHS]
            elif path not in IMPLEMENTED_PATHS:
                unimplemented.append(path)
    return features, sorted(unimplemented)

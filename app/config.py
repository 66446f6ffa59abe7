"""Project configuration: an Authgear project directory (authgear.yaml, authgear.secrets.yaml and
authgear.features.yaml).

Gatehouse reads the files an Authgear user already has. Keys keep Authgear's names and defaults
(contract section 8). Keys and values that Authgear knows but Gatehouse does not implement yet are
accepted and reported once at start; what Authgear itself refuses stops start-up with a message
that names the key and the problem. Nothing outside this module reads the environment.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from app.botprotection.schema import CONFIG_SCHEMA as BOT_PROTECTION_SCHEMA
from app.botprotection.schema import SECRET_SCHEMA as BOT_PROTECTION_SECRET_SCHEMA

log = logging.getLogger("gatehouse")

# Every top-level key of Authgear's authgear.yaml (contract section 8).
AUTHGEAR_TOP_LEVEL_KEYS = frozenset(
    "id http hook ui localization messaging usage search authentication session oauth saml identity "
    "authenticator user_profile account_deletion account_anonymization account_linking forgot_password "
    "welcome_message verification otp web3 google_tag_manager account_migration captcha bot_protection "
    "network_protection fraud_protection test_mode authentication_flow external_jwt".split()
)
IMPLEMENTED_TOP_LEVEL_KEYS = frozenset(
    "id http ui localization messaging authentication session oauth identity authenticator user_profile "
    "account_deletion account_anonymization forgot_password verification authentication_flow test_mode hook "
    "bot_protection account_linking".split()
)
# Valid Authgear values inside implemented sections that Gatehouse does not act on; each one present
# is reported once at start (dotted path and value) and otherwise has no effect.
UNIMPLEMENTED_PATHS = ("test_mode.whatsapp",)

# Every secret key Authgear knows (pkg/lib/config/secret.go); any other key stops its start with
# "unknown secret key". `data` is each key's own shape: a mapping for most, a list for
# `saml.service_providers.signing`.
AUTHGEAR_SECRET_KEYS = frozenset(
    "db audit.db search.db elasticsearch redis analytic.redis admin-api.auth sso.oauth.client "
    "sso.oauth.demo_credentials mail.smtp sms.twilio sms.nexmo sms.custom oauth csrf webhook images "
    "whatsapp.wati oauth.client_secrets captcha.cloudflare bot_protection.provider whatsapp.on-premises "
    "whatsapp.cloud-api ldap saml.idp.signing saml.service_providers.signing".split()
)
IMPLEMENTED_SECRET_KEYS = frozenset(
    "db redis admin-api.auth mail.smtp sms.custom sms.twilio sms.nexmo oauth csrf oauth.client_secrets "
    "sso.oauth.client sso.oauth.demo_credentials webhook bot_protection.provider whatsapp.on-premises "
    "whatsapp.cloud-api".split()
)

DEFAULTS: dict[str, Any] = {
    "http": {"allowed_origins": [], "cookie_prefix": "", "cookie_domain": None},
    "identity": {
        # Whether the settings pages list a user's biometric identities (Authgear's BiometricConfig).
        "biometric": {"list_enabled": False},
        "login_id": {
            "keys": [{"key": "email", "type": "email"}],
            "types": {
                "email": {
                    "case_sensitive": False,
                    "block_plus_sign": False,
                    "ignore_dot_sign": False,
                    "domain_blocklist_enabled": False,
                    "domain_allowlist_enabled": False,
                    "block_free_email_provider_domains": False,
                },
                "username": {
                    "block_reserved_usernames": True,
                    "exclude_keywords_enabled": False,
                    "ascii_only": True,
                    "case_sensitive": False,
                },
                "phone": {},
            },
        },
        "on_conflict": {"promotion": "error"},
    },
    "authentication": {
        "identities": ["oauth", "login_id"],
        "primary_authenticators": ["password"],
        "secondary_authenticators": ["totp"],
        "secondary_authentication_mode": "if_exists",
        "device_token": {"disabled": False, "expire_in_days": 30},
        "recovery_code": {"disabled": False, "count": 16, "list_enabled": False},
        "public_signup_disabled": False,
        "rate_limits": {
            "general": {
                "per_ip": {"enabled": True, "period": "1m", "burst": 60},
                "per_user_per_ip": {"enabled": True, "period": "1m", "burst": 10},
            },
            "signup": {"per_ip": {"enabled": True, "period": "1m", "burst": 10}},
            "account_enumeration": {"per_ip": {"enabled": True, "period": "1m", "burst": 10}},
            # Gatehouse's own (x_): checks of one user's password against a stored hash that costs
            # more than ~100 ms (imported bcrypt >= 11, argon2 m*t >= 5x ours, ...), from any IP.
            "password": {"x_expensive_hash_per_user": {"enabled": True, "period": "1m", "burst": 5}},
        },
        "lockout": {
            "max_attempts": 0,
            "history_duration": "1h",
            "minimum_duration": "1m",
            "maximum_duration": "1h",
            "backoff_factor": 2,
            "lockout_type": "per_user",
        },
    },
    "authenticator": {
        "password": {
            "policy": {
                "min_length": 8,
                "uppercase_required": False,
                "lowercase_required": False,
                "alphabet_required": False,
                "digit_required": False,
                "symbol_required": False,
                "minimum_guessable_level": 0,
                "excluded_keywords": [],
                "history_size": 0,
                "history_days": 0,
            },
            "expiry": {"force_change": {"enabled": False, "duration_since_last_update": "2160h"}},
            "force_change": True,
        },
        "totp": {"maximum": 99},
        "oob_otp": {
            "email": {"maximum": 99, "email_otp_mode": "code", "valid_periods": {"code": "300s", "link": "20m"}},
            "sms": {"maximum": 99, "phone_otp_mode": "sms", "valid_periods": {"code": "300s", "link": "20m"}},
        },
    },
    "verification": {
        "claims": {
            "email": {"enabled": True, "required": True},
            "phone_number": {"enabled": True, "required": True},
        },
        "criteria": "any",
        "code_valid_period": "300s",
        "rate_limits": {
            "email": {
                "trigger_cooldown": "1m",
                "max_failed_attempts_revoke_otp": 5,
                "trigger_per_ip": {"enabled": True, "period": "1m", "burst": 60},
                "validate_per_ip": {"enabled": True, "period": "1m", "burst": 60},
            },
            "sms": {
                "trigger_cooldown": "1m",
                "max_failed_attempts_revoke_otp": 5,
                "trigger_per_ip": {"enabled": True, "period": "1m", "burst": 60},
                "validate_per_ip": {"enabled": True, "period": "1m", "burst": 60},
            },
        },
    },
    "forgot_password": {
        "enabled": True,
        "valid_periods": {"link": "20m", "code": "300s"},
        "rate_limits": {
            "email": {"trigger_cooldown": "1m"},
            "sms": {"trigger_cooldown": "1m"},
        },
    },
    "session": {
        "lifetime_seconds": 31449600,
        "idle_timeout_enabled": True,
        "idle_timeout_seconds": 2592000,
        "use_session_cookie": False,
    },
    "oauth": {"clients": []},
    "user_profile": {"standard_attributes": {"access_control": []}, "custom_attributes": {"attributes": []}},
    "account_deletion": {"scheduled_by_end_user_enabled": False, "grace_period_days": 30},
    "account_anonymization": {"grace_period_days": 30},
    "localization": {"fallback_language": "en", "supported_languages": ["en"]},
    "messaging": {},
    "ui": {
        "implementation": "authflowv2",
        "signup_login_flow_enabled": False,
        "authentication_flow": {"groups": []},
    },
    "authentication_flow": {"rate_limits": {"per_ip": {"enabled": True, "period": "1m", "burst": 1200}}},
    "hook": {
        "sync_hook_timeout_seconds": 5,
        "sync_hook_total_timeout_seconds": 10,
        "blocking_handlers": [],
        "non_blocking_handlers": [],
    },
}

CLIENT_DEFAULTS: dict[str, Any] = {
    "x_application_type": "spa",
    "redirect_uris": [],
    "post_logout_redirect_uris": [],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "access_token_lifetime_seconds": 1800,
    "refresh_token_lifetime_seconds": 31449600,
    "refresh_token_idle_timeout_enabled": True,
    "refresh_token_idle_timeout_seconds": 2592000,
    "refresh_token_rotation_enabled": False,
    "issue_jwt_access_token": False,
    "x_max_concurrent_session": 0,
}

_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$"}
_RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"  # an RFC 3339 date-time
_BOOL = {"type": "boolean"}
_RATE = {
    "type": "object",
    "properties": {"enabled": _BOOL, "period": _DURATION, "burst": {"type": "integer", "minimum": 1}},
}
_STR_LIST = {"type": "array", "items": {"type": "string"}}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object as Authgear declares it: only the listed keys (`additionalProperties: false`)."""
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        out["required"] = required
    return out


def _test_mode_rules(rule: dict[str, Any]) -> dict[str, Any]:
    return _closed({"enabled": _BOOL, "rules": {"type": "array", "items": _closed(rule, ["regex"])}})


# Authgear's TestModeConfig (pkg/lib/config/test_mode.go): per-target rules matched by regex, in order.
TEST_MODE_SCHEMA = _closed(
    {
        "oob_otp": _test_mode_rules({"regex": {"type": "string"}, "fixed_code": {"type": "string"}}),
        "sms": _test_mode_rules({"regex": {"type": "string"}, "suppressed": _BOOL}),
        "whatsapp": _test_mode_rules({"regex": {"type": "string"}, "suppressed": _BOOL}),
        "email": _test_mode_rules({"regex": {"type": "string"}, "suppressed": _BOOL}),
    }
)

# Authgear's usage limits (pkg/lib/config/usage.go): calendar periods, not durations. Gatehouse does
# not meter usage; the section is checked so that what Authgear refuses is refused here too.
_USAGE_MATCH = {"enum": ["*", "user_export", "user_import", "email", "whatsapp", "sms"]}
USAGE_LIMIT_SCHEMA = {
    "type": "array",
    "items": _closed(
        {
            "quota": {"type": "integer", "minimum": 0},
            "period": {"enum": ["day", "month"]},
            "action": {"enum": ["alert", "block"]},
        },
        ["quota", "period", "action"],
    ),
}
USAGE_SCHEMA = _closed(
    {
        "alerts": {
            "type": "array",
            "items": _closed(
                {"type": {"enum": ["email"]}, "email": {"type": "string"}, "match": _USAGE_MATCH}, ["type", "match"]
            ),
        },
        "limits": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {k: USAGE_LIMIT_SCHEMA for k in ("user_export", "user_import", "email", "whatsapp", "sms")},
        },
    }
)


# Authgear's HookConfig (pkg/lib/config/hook.go); the event lists are app/hooks/events.py's. A URL
# is http(s), or `authgeardeno:///<path>` (no host: a script of the project directory).
def _hook_schema() -> dict[str, Any]:
    from app.hooks.events import BLOCKING_EVENTS, NON_BLOCKING_EVENTS

    url = {"type": "string", "pattern": r"^(https?://[^/?#\s]+[^\s]*|authgeardeno:///[^\s]*)$"}
    seconds = {"type": "integer", "minimum": 0}
    return _closed(
        {
            "sync_hook_timeout_seconds": seconds,
            "sync_hook_total_timeout_seconds": seconds,
            "blocking_handlers": {
                "type": "array",
                "items": _closed({"event": {"enum": list(BLOCKING_EVENTS)}, "url": url}, ["event", "url"]),
            },
            "non_blocking_handlers": {
                "type": "array",
                "items": _closed(
                    {"events": {"type": "array", "items": {"enum": ["*", *NON_BLOCKING_EVENTS]}}, "url": url},
                    ["events", "url"],
                ),
            },
        }
    )


# JSON Schema of the subset Gatehouse implements. Objects are open (Authgear has many more keys);
# every key listed here is type-checked.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "http"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "http": {
            "type": "object",
            "required": ["public_origin"],
            "properties": {
                "public_origin": {"type": "string", "pattern": r"^https?://[^/?#]+$"},
                "allowed_origins": _STR_LIST,
                "cookie_prefix": {"type": "string"},
                "cookie_domain": {"type": ["string", "null"]},
            },
        },
        "identity": {
            "type": "object",
            "properties": {
                "biometric": {"type": "object", "additionalProperties": False, "properties": {"list_enabled": _BOOL}},
                "login_id": {
                    "type": "object",
                    "properties": {
                        "keys": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["type"],
                                "properties": {
                                    "key": {"type": "string"},
                                    "type": {"enum": ["email", "phone", "username"]},
                                    "max_length": {"type": "integer", "minimum": 1, "maximum": 400},
                                    "modify_disabled": _BOOL,
                                    "create_disabled": _BOOL,
                                    "update_disabled": _BOOL,
                                    "delete_disabled": _BOOL,
                                },
                            },
                        },
                        "types": {"type": "object"},
                    },
                },
            },
        },
        "authentication": {
            "type": "object",
            "properties": {
                "identities": {
                    "type": "array",
                    "items": {"enum": ["login_id", "oauth", "anonymous", "biometric", "passkey", "siwe", "ldap"]},
                },
                "primary_authenticators": {
                    "type": "array",
                    "items": {"enum": ["password", "passkey", "oob_otp_email", "oob_otp_sms"]},
                },
                "secondary_authenticators": {
                    "type": "array",
                    "items": {"enum": ["password", "oob_otp_email", "oob_otp_sms", "totp"]},
                },
                "secondary_authentication_mode": {"enum": ["disabled", "if_exists", "required"]},
                # Authgear's: users without a second factor may enrol at login until `end_at`.
                "secondary_authentication_grace_period": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"enabled": _BOOL, "end_at": {"type": "string", "pattern": _RFC3339}},
                },
                "device_token": {
                    "type": "object",
                    "properties": {"disabled": _BOOL, "expire_in_days": {"type": "integer", "minimum": 1}},
                },
                "recovery_code": {
                    "type": "object",
                    "properties": {
                        "disabled": _BOOL,
                        "count": {"type": "integer", "minimum": 1, "maximum": 24},
                        "list_enabled": _BOOL,
                    },
                },
                "public_signup_disabled": _BOOL,
                "lockout": {
                    "type": "object",
                    "properties": {
                        "max_attempts": {"type": "integer", "minimum": 0},
                        "history_duration": _DURATION,
                        "minimum_duration": _DURATION,
                        "maximum_duration": _DURATION,
                        "backoff_factor": {"type": "number", "minimum": 1},
                        "lockout_type": {"enum": ["per_user", "per_user_per_ip"]},
                    },
                },
            },
        },
        "authenticator": {
            "type": "object",
            "properties": {
                "password": {
                    "type": "object",
                    "properties": {
                        "policy": {
                            "type": "object",
                            "properties": {
                                "min_length": {"type": "integer", "minimum": 1},
                                "uppercase_required": _BOOL,
                                "lowercase_required": _BOOL,
                                "alphabet_required": _BOOL,
                                "digit_required": _BOOL,
                                "symbol_required": _BOOL,
                                "minimum_guessable_level": {"type": "integer", "minimum": 0, "maximum": 5},
                                "excluded_keywords": _STR_LIST,
                                "history_size": {"type": "integer", "minimum": 0},
                                "history_days": {"type": "integer", "minimum": 0},
                            },
                        },
                        "force_change": _BOOL,
                    },
                },
            },
        },
        "verification": {
            "type": "object",
            "properties": {
                "criteria": {"enum": ["any", "all"]},
                "code_valid_period": _DURATION,
            },
        },
        "session": {
            "type": "object",
            "properties": {
                "lifetime_seconds": {"type": "integer", "minimum": 60},
                "idle_timeout_enabled": _BOOL,
                "idle_timeout_seconds": {"type": "integer", "minimum": 60},
                "use_session_cookie": _BOOL,
            },
        },
        "oauth": {
            "type": "object",
            "properties": {
                "clients": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["client_id", "name"],
                        "properties": {
                            "client_id": {"type": "string", "minLength": 1},
                            "name": {"type": "string"},
                            "client_name": {"type": "string"},
                            "x_application_type": {
                                "enum": [
                                    "spa",
                                    "traditional_webapp",
                                    "native",
                                    "confidential",
                                    "third_party_app",
                                    "m2m",
                                ]
                            },
                            "redirect_uris": _STR_LIST,
                            "post_logout_redirect_uris": _STR_LIST,
                            "grant_types": _STR_LIST,
                            "response_types": _STR_LIST,
                            "access_token_lifetime_seconds": {"type": "integer", "minimum": 300},
                            "refresh_token_lifetime_seconds": {"type": "integer", "minimum": 300},
                            "refresh_token_idle_timeout_enabled": _BOOL,
                            "refresh_token_idle_timeout_seconds": {"type": "integer", "minimum": 300},
                            "refresh_token_rotation_enabled": _BOOL,
                            "issue_jwt_access_token": _BOOL,
                            "x_max_concurrent_session": {"enum": [0, 1]},
                            "x_custom_ui_uri": {"type": "string"},
                            # Authgear's app2app and pre-authenticated URL keys (app/oidc/app2app.py,
                            # app/oidc/pre_authenticated_urls.py)
                            "x_app2app_enabled": _BOOL,
                            "x_app2app_insecure_device_key_binding_enabled": _BOOL,
                            "x_pre_authenticated_url_enabled": _BOOL,
                            "x_pre_authenticated_url_allowed_origins": _STR_LIST,
                        },
                    },
                },
            },
        },
        "localization": {
            "type": "object",
            "properties": {"fallback_language": {"type": "string"}, "supported_languages": _STR_LIST},
        },
        "ui": {"type": "object"},
        # Authgear's MessagingConfig keys that choose the SMS gateway (app/messaging/sms.py).
        "messaging": {
            "type": "object",
            "properties": {
                "sms_provider": {"enum": ["nexmo", "twilio", "custom"]},
                # Authgear's WhatsappConfig (app/messaging/whatsapp.py)
                "whatsapp": _closed(
                    {"api_type": {"enum": ["on-premises", "cloud-api"]}, "message_sent_callback_timeout": _DURATION}
                ),
                "sms_gateway": {
                    **_closed(
                        {
                            "use_config_from": {"enum": ["environment_variable", "authgear.secrets.yaml"]},
                            "provider": {"enum": ["nexmo", "twilio", "custom"]},
                        },
                        ["use_config_from"],
                    ),
                    "if": {"properties": {"use_config_from": {"const": "authgear.secrets.yaml"}}},
                    "then": {"required": ["provider"]},
                    "type": ["object", "null"],
                },
            },
        },
        "test_mode": TEST_MODE_SCHEMA,
        "bot_protection": BOT_PROTECTION_SCHEMA,  # app/botprotection/schema.py
        "hook": _hook_schema(),
        "usage": {**USAGE_SCHEMA, "type": ["object", "null"]},  # Authgear: nullable
        "authentication_flow": {
            "type": "object",
            "properties": {"rate_limits": {"type": "object", "properties": {"per_ip": _RATE}}},
        },
    },
}


class ConfigError(Exception):
    """The project configuration cannot be used; the message names the key and the problem."""


@dataclass
class AppConfig:
    """Everything the app reads from files and the environment, validated once at start."""

    project: dict[str, Any]
    secrets: dict[str, Any] = field(default_factory=dict)
    database_url: str = "sqlite:///gatehouse.sqlite"
    redis_url: str | None = None
    config_dir: Path | None = None
    secret_key: str = ""
    unimplemented_keys: list[str] = field(default_factory=list)
    # authgear.features.yaml with Authgear's defaults (app/features.py); the defaults without the file.
    features: dict[str, Any] = field(default_factory=lambda: _default_features())
    # Secret keys and feature config keys Gatehouse accepts but does not act on, reported at start.
    unimplemented_secrets: list[str] = field(default_factory=list)
    unimplemented_features: list[str] = field(default_factory=list)
    testing: bool = False
    # Prepended to the RQ queue names (GATEHOUSE_QUEUE_PREFIX) so deployments sharing one Redis keep their jobs apart.
    queue_prefix: str = ""
    # Prepended to every key of the Redis store (GATEHOUSE_REDIS_PREFIX), for the same reason.
    store_prefix: str = "gatehouse:"
    # TRUST_PROXY (Authgear's name): take the client's address, scheme and host from the reverse
    # proxy's X-Forwarded-* / X-Real-IP headers. Off by default: without a proxy that sets them,
    # any client could pick its own address and escape the per-IP rate limits.
    trust_proxy: bool = False
    # How long a request waits for PostgreSQL and Redis, so that an outage answers 503 within a
    # bound (app/dbtimeouts.py, README "Production"). Seconds; 0 turns one off.
    # GATEHOUSE_DB_STATEMENT_TIMEOUT: PostgreSQL's statement_timeout (the server cancels the statement).
    db_statement_timeout: float = 10.0
    # GATEHOUSE_DB_IO_TIMEOUT: the longest wait for any answer of the server (client side: a hung
    # server or a black-holed network); longer than the statement timeout so that one ends first.
    db_io_timeout: float = 15.0
    # GATEHOUSE_REDIS_TIMEOUT: connecting to Redis and each command's answer (socket timeouts).
    redis_timeout: float = 2.0
    # Outgoing requests to social and enterprise login providers (app/sso/http.py). Authgear's
    # E2E_HTTP_PROXY sends them all through one proxy and E2E_TLS_CA_CERT_FILE trusts one more CA
    # (both for end-to-end tests with stand-in providers); GATEHOUSE_SSO_HTTP_TIMEOUT bounds each one.
    sso_http_proxy: str | None = None
    sso_tls_ca_cert_file: str | None = None
    sso_http_timeout: float = 10.0
    # Bot protection (app/botprotection): Authgear's E2E_BOT_PROTECTION_CLOUDFLARE_ENDPOINT and
    # E2E_BOT_PROTECTION_RECAPTCHAV2_ENDPOINT point siteverify elsewhere (a stand-in in tests);
    # GATEHOUSE_BOT_PROTECTION_SCRIPT_URL serves the widget's script from elsewhere (Gatehouse's:
    # Authgear has none), and GATEHOUSE_BOT_PROTECTION_TIMEOUT bounds each siteverify call.
    bot_protection_cloudflare_endpoint: str | None = None
    bot_protection_recaptchav2_endpoint: str | None = None
    bot_protection_script_url: str | None = None
    bot_protection_timeout: float = 10.0

    @property
    def public_origin(self) -> str:
        return self.project["http"]["public_origin"]

    @property
    def cookie_prefix(self) -> str:
        return self.project["http"]["cookie_prefix"]

    @property
    def secure_cookies(self) -> bool:
        return self.public_origin.startswith("https://")

    def section(self, dotted: str) -> Any:
        """The value at a dotted path, e.g. `authentication.rate_limits`."""
        node: Any = self.project
        for part in dotted.split("."):
            node = node[part]
        return node

    def client(self, client_id: str) -> dict[str, Any] | None:
        for c in self.project["oauth"]["clients"]:
            if c["client_id"] == client_id:
                return c
        return None

    def client_secret_keys(self, client_id: str) -> list[dict[str, Any]]:
        for item in self.secrets.get("oauth.client_secrets", {}).get("items", []):
            if item.get("client_id") == client_id:
                return list(item.get("keys", []))
        return []


def _default_features() -> dict[str, Any]:
    from app.features import default_features  # app.features builds on this module

    return default_features()


def unimplemented_report(config: AppConfig) -> list[str]:
    """One line per accepted-but-not-implemented key of the three files, for the start-up log."""
    lines = [
        f"authgear.yaml: {k!r} is accepted but not implemented yet; it has no effect" for k in config.unimplemented_keys
    ]
    lines += [
        f"authgear.secrets.yaml: {k!r} is accepted but not implemented yet; it has no effect"
        for k in config.unimplemented_secrets
    ]
    lines += [
        f"authgear.features.yaml: {k!r} is accepted but not implemented yet; it has no effect"
        for k in config.unimplemented_features
    ]
    return lines


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `override` merged in; lists and scalars replace, dicts merge."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: str | int | float) -> float:
    """Seconds in a Go-style duration string such as `5m`, `1h30m`, `300s`."""
    if isinstance(value, int | float):
        return float(value)
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ConfigError(f"invalid duration {value!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(p) for p in path) if path else "/"


def validate_project(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Validate an authgear.yaml document; returns it with defaults and the unimplemented keys."""
    if not isinstance(raw, dict):
        raise ConfigError("authgear.yaml: the document must be a mapping")
    unknown = sorted(k for k in raw if k not in AUTHGEAR_TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"authgear.yaml: unknown top-level key {unknown[0]!r}")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        raise ConfigError(f"authgear.yaml {_pointer(err.absolute_path)}: {err.message}")
    project = deep_merge(DEFAULTS, raw)
    project["oauth"]["clients"] = [deep_merge(CLIENT_DEFAULTS, c) for c in project["oauth"]["clients"]]
    _check_clients(project["oauth"]["clients"])
    for i, key in enumerate(project["identity"]["login_id"]["keys"]):
        key.setdefault("key", key["type"])
        key.setdefault("max_length", 320 if key["type"] == "email" else 40)
        if not isinstance(key["key"], str) or not key["key"]:
            raise ConfigError(f"authgear.yaml /identity/login_id/keys/{i}/key: must be a non-empty string")
    loc = project["localization"]
    if loc["fallback_language"] not in loc["supported_languages"]:
        raise ConfigError("authgear.yaml /localization/fallback_language: must be one of supported_languages")
    # Only sections Gatehouse reads hold durations it parses; elsewhere a `period` may be Authgear's
    # calendar period (`usage.limits.*.period: day`), already checked by the schema.
    _check_durations({k: v for k, v in project.items() if k in IMPLEMENTED_TOP_LEVEL_KEYS}, [])
    _check_test_mode_regexes(project.get("test_mode") or {})
    from app.sso.config import validate_providers  # app.sso.config builds on this module

    validate_providers(project)
    unimplemented = sorted(k for k in raw if k not in IMPLEMENTED_TOP_LEVEL_KEYS)
    unimplemented += [p for p in UNIMPLEMENTED_PATHS if _has_path(raw, p)]
    return project, unimplemented


def _has_path(raw: dict[str, Any], dotted: str) -> bool:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _check_test_mode_regexes(test_mode: dict[str, Any]) -> None:
    """A rule's regex is compiled at start (Authgear's `x_re2_regex` format), not at the first send."""
    for section, conf in test_mode.items():
        for i, rule in enumerate(conf.get("rules") or []):
            try:
                re.compile(rule["regex"])
            except re.error as exc:
                raise ConfigError(
                    f"authgear.yaml /test_mode/{section}/rules/{i}/regex: invalid regular expression ({exc})"
                ) from None


def _is_duration_key(key: str, parent: str) -> bool:
    return (
        parent == "valid_periods"
        or key.endswith(("period", "_duration", "cooldown"))
        or key in ("duration_since_last_update",)
    )


def _check_durations(node: Any, path: list[str]) -> None:
    """Every duration string (defaults included) parses at start, not at the first request that reads it."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_durations(item, [*path, str(i)])
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if isinstance(value, dict | list):
            _check_durations(value, [*path, key])
        elif isinstance(value, str) and _is_duration_key(key, path[-1] if path else ""):
            try:
                parse_duration(value)
            except ConfigError as exc:
                raise ConfigError(f"authgear.yaml {_pointer([*path, key])}: {exc}") from None


def _check_clients(clients: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for i, c in enumerate(clients):
        where = f"authgear.yaml /oauth/clients/{i}"
        if c["client_id"] in seen:
            raise ConfigError(f"{where}/client_id: duplicated client_id {c['client_id']!r}")
        seen.add(c["client_id"])
        if c["x_application_type"] != "m2m" and not c["redirect_uris"]:
            raise ConfigError(f"{where}/redirect_uris: required for {c['x_application_type']} clients")
        if c["x_application_type"] == "traditional_webapp" and not c["post_logout_redirect_uris"]:
            raise ConfigError(f"{where}/post_logout_redirect_uris: required for traditional_webapp clients")
        if c["x_application_type"] in ("confidential", "third_party_app") and not c.get("client_name"):
            raise ConfigError(f"{where}/client_name: required for {c['x_application_type']} clients")


def parse_secrets(raw: Any) -> dict[str, Any]:
    """authgear.secrets.yaml is `secrets: [{key, data}]`; returns {key: data}.

    Every key Authgear knows is accepted with its data as it is (a list for
    `saml.service_providers.signing`); the keys Gatehouse reads must hold a mapping."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("secrets", []), list):
        raise ConfigError("authgear.secrets.yaml /secrets: must be a list of {key, data}")
    extra = sorted(k for k in raw if k != "secrets")
    if extra:
        raise ConfigError(f"authgear.secrets.yaml /{extra[0]}: additional property not allowed")
    out: dict[str, Any] = {}
    for i, item in enumerate(raw.get("secrets", [])):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or "data" not in item:
            raise ConfigError(f"authgear.secrets.yaml /secrets/{i}: must have a string key and data")
        if item["key"] not in AUTHGEAR_SECRET_KEYS:
            raise ConfigError(f"authgear.secrets.yaml /secrets/{i}/key: unknown secret key {item['key']!r}")
        if item["key"] in IMPLEMENTED_SECRET_KEYS and not isinstance(item["data"], dict):
            raise ConfigError(f"authgear.secrets.yaml /secrets/{i}/data: must be a mapping")
        out[item["key"]] = item["data"]
    return out


def unimplemented_secrets(secrets: dict[str, Any]) -> list[str]:
    return sorted(k for k in secrets if k not in IMPLEMENTED_SECRET_KEYS)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML ({exc.__class__.__name__})") from None


def load_config(env: dict[str, str] | None = None) -> AppConfig:
    """Read the project directory named by GATEHOUSE_CONFIG_DIR (default `instance/`, created when missing)."""
    env = dict(os.environ if env is None else env)
    config_dir = Path(env.get("GATEHOUSE_CONFIG_DIR", "instance")).resolve()
    project_file = config_dir / "authgear.yaml"
    secrets_file = config_dir / "authgear.secrets.yaml"
    if "GATEHOUSE_CONFIG_DIR" not in env or not project_file.exists():
        # The embedded default, and a named directory without a project yet (`gatehouse init` builds
        # the app before it runs, so the project must exist by then): write a project with a demo
        # client and fresh keys, and say so.
        from app.project_files import ensure_project_dir

        for written in ensure_project_dir(config_dir):
            log.warning("wrote %s", written)
    project, unimplemented = validate_project(_read_yaml(project_file))
    secrets = parse_secrets(_read_yaml(secrets_file)) if secrets_file.exists() else {}
    from app.features import FILE_NAME, default_features, validate_features

    features_file = config_dir / FILE_NAME
    features, unimplemented_features = (
        validate_features(_read_yaml(features_file)) if features_file.exists() else (default_features(), [])
    )
    from app.sso.config import check_against_features_and_secrets

    check_against_features_and_secrets(project, features, secrets)
    _check_bot_protection_secret(project, secrets)
    database_url = (
        env.get("DATABASE_URL")
        or secrets.get("db", {}).get("database_url")
        or f"sqlite:///{config_dir / 'gatehouse.sqlite'}"
    )
    redis_url = env.get("REDIS_URL") or secrets.get("redis", {}).get("redis_url") or None
    csrf_keys = secrets.get("csrf", {}).get("keys") or [{}]
    secret_key = csrf_keys[0].get("k", "") if isinstance(csrf_keys, list) and isinstance(csrf_keys[0], dict) else ""
    return AppConfig(
        project=project,
        secrets=secrets,
        database_url=normalize_database_url(database_url),
        redis_url=redis_url,
        config_dir=config_dir,
        secret_key=secret_key,
        unimplemented_keys=unimplemented,
        features=features,
        unimplemented_secrets=unimplemented_secrets(secrets),
        unimplemented_features=unimplemented_features,
        queue_prefix=env.get("GATEHOUSE_QUEUE_PREFIX", ""),
        store_prefix=env.get("GATEHOUSE_REDIS_PREFIX") or "gatehouse:",
        trust_proxy=_env_bool(env, "TRUST_PROXY"),
        db_statement_timeout=_env_seconds(env, "GATEHOUSE_DB_STATEMENT_TIMEOUT", 10.0),
        db_io_timeout=_env_seconds(env, "GATEHOUSE_DB_IO_TIMEOUT", 15.0),
        redis_timeout=_env_seconds(env, "GATEHOUSE_REDIS_TIMEOUT", 2.0),
        sso_http_proxy=env.get("E2E_HTTP_PROXY") or None,
        sso_tls_ca_cert_file=env.get("E2E_TLS_CA_CERT_FILE") or None,
        sso_http_timeout=_env_seconds(env, "GATEHOUSE_SSO_HTTP_TIMEOUT", 10.0) or 10.0,
        bot_protection_cloudflare_endpoint=env.get("E2E_BOT_PROTECTION_CLOUDFLARE_ENDPOINT") or None,
        bot_protection_recaptchav2_endpoint=env.get("E2E_BOT_PROTECTION_RECAPTCHAV2_ENDPOINT") or None,
        bot_protection_script_url=env.get("GATEHOUSE_BOT_PROTECTION_SCRIPT_URL") or None,
        bot_protection_timeout=_env_seconds(env, "GATEHOUSE_BOT_PROTECTION_TIMEOUT", 10.0) or 10.0,
    )


def _check_bot_protection_secret(project: dict[str, Any], secrets: dict[str, Any]) -> None:
    """Authgear's secret validation: enabled bot protection with a provider needs that provider's
    `bot_protection.provider` secret."""
    data = secrets.get("bot_protection.provider")
    if data is not None:
        errors = sorted(jsonschema.Draft202012Validator(BOT_PROTECTION_SECRET_SCHEMA).iter_errors(data), key=str)
        if errors:
            where = _pointer(errors[0].absolute_path)
            raise ConfigError(f"authgear.secrets.yaml bot_protection.provider {where}: {errors[0].message}")
    section = project.get("bot_protection") or {}
    provider = section.get("provider")
    if not section.get("enabled") or not provider:
        return
    if data is None:
        raise ConfigError("authgear.secrets.yaml: bot protection key materials (bot_protection.provider) is required")
    if data.get("type") != provider.get("type"):
        raise ConfigError(
            f"authgear.secrets.yaml: bot protection provider credentials for '{provider.get('type')}' is required"
        )


def _env_seconds(env: dict[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:  # also rejects nan
        raise ConfigError(f"environment {name}: {value!r} is not a number of seconds (0 to 3600, 0: no limit)")
    return seconds


# The spellings Go's strconv.ParseBool accepts, which Authgear's environment variables go through.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"", "0", "f", "F", "FALSE", "false", "False"})


def _env_bool(env: dict[str, str], name: str) -> bool:
    value = env.get(name, "")
    if value not in _TRUE | _FALSE:
        raise ConfigError(f"environment {name}: {value!r} is not a boolean (true or false)")
    return value in _TRUE


def normalize_database_url(url: str) -> str:
    """Authgear's `postgres://` URLs name the psycopg 3 driver for SQLAlchemy."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url

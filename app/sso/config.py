"""`identity.oauth.providers[]` and the `sso.oauth.client` secrets, as Authgear reads them
(pkg/lib/config/identity.go, secret.go and each provider's JSON schema in pkg/lib/oauthrelyingparty).

A provider is a mapping with `alias` and `type` plus its type's own keys. Defaults are filled once at
start: `create_disabled`/`delete_disabled` from the deprecated `modify_disabled` (which is then
dropped, as Authgear does), and `claims.email` per type (assumed verified and required, except WeChat
whose email is never required). The secrets pair each alias with its client secret; Apple's secret
is the PEM of the .p8 key that signs the client-secret JWT.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from app.config import ConfigError

# Authgear's types, then the generic OpenID Provider (Gatehouse's extension; its alias is any name).
AUTHGEAR_TYPES = ("google", "facebook", "github", "linkedin", "azureadv2", "azureadb2c", "adfs", "apple", "wechat")
TYPES = (*AUTHGEAR_TYPES, "oidc")

_BOOL = {"type": "boolean"}
_STR = {"type": "string"}
# An absolute http(s) URL (jsonschema's "uri" format needs a package Gatehouse does not install).
_URL = {"type": "string", "pattern": r"^https?://[^\s/?#]+[^\s]*$"}
_EMAIL_CLAIM = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "email": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"assume_verified": _BOOL, "required": _BOOL},
        }
    },
}
COMMON = {
    "alias": {"type": "string", "minLength": 1},
    "type": {"enum": list(TYPES)},
    "client_id": {"type": "string", "minLength": 1},
    "claims": _EMAIL_CLAIM,
    "modify_disabled": _BOOL,
    "create_disabled": _BOOL,
    "delete_disabled": _BOOL,
    "do_not_store_identity_attributes": _BOOL,
    "include_identity_attributes_in_id_token": _BOOL,
    "credentials_behavior": {"enum": ["use_project_credentials", "use_demo_credentials"]},
}
# Each type's own keys and what it requires (besides alias, type and client_id).
TYPE_KEYS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "google": ({}, []),
    "facebook": ({}, []),
    "github": ({}, []),
    "linkedin": ({}, []),
    "azureadv2": ({"tenant": _STR}, ["tenant"]),
    "azureadb2c": (
        {"tenant": _STR, "policy": _STR, "domain_hint": {"type": "string", "minLength": 1}},
        ["tenant", "policy"],
    ),
    "adfs": ({"discovery_document_endpoint": _URL}, ["discovery_document_endpoint"]),
    "apple": ({"key_id": _STR, "team_id": _STR}, ["key_id", "team_id"]),
    "wechat": (
        {
            "app_type": {"enum": ["mobile", "web"]},
            "account_id": {"type": "string", "pattern": "^gh_"},
            "is_sandbox_account": _BOOL,
            "wechat_redirect_uris": {"type": "array", "items": _URL},
        },
        ["app_type", "account_id"],
    ),
    # Any OpenID Provider by its discovery document; `scopes` beyond `openid` (default profile, email).
    "oidc": (
        {
            "discovery_document_endpoint": _URL,
            "scopes": {"type": "array", "items": {"type": "string", "minLength": 1}},
        },
        ["discovery_document_endpoint"],
    ),
}


def _schema(provider_type: str) -> dict[str, Any]:
    extra, required = TYPE_KEYS[provider_type]
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {**COMMON, **extra},
        "required": ["alias", "type", "client_id", *required],
    }


def email_claim_defaults(provider_type: str) -> dict[str, bool]:
    return {"assume_verified": True, "required": provider_type != "wechat"}


def validate_providers(project: dict[str, Any], features: dict[str, Any] | None = None) -> None:
    """Check and complete `identity.oauth.providers` in place; ConfigError names the key."""
    oauth = project.setdefault("identity", {}).setdefault("oauth", {})
    if not isinstance(oauth, dict):
        raise ConfigError("authgear.yaml /identity/oauth: must be an object")
    providers = oauth.setdefault("providers", [])
    if not isinstance(providers, list):
        raise ConfigError("authgear.yaml /identity/oauth/providers: must be an array")
    seen: set[str] = set()
    for i, p in enumerate(providers):
        where = f"authgear.yaml /identity/oauth/providers/{i}"
        if not isinstance(p, dict):
            raise ConfigError(f"{where}: must be an object")
        if p.get("type") not in TYPES:
            raise ConfigError(f"{where}/type: must be one of {', '.join(TYPES)}")
        schema = _schema(p["type"])
        if p.get("credentials_behavior") == "use_demo_credentials":
            # Authgear: with demo credentials only the common keys are checked (no client_id needed).
            schema = {**schema, "required": ["alias", "type"], "additionalProperties": True}
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(p),
            key=lambda e: list(e.path),
        )
        if errors:
            err = errors[0]
            path = "/".join(str(x) for x in err.absolute_path)
            raise ConfigError(f"{where}{'/' + path if path else ''}: {err.message}")
        if p["alias"] in seen:
            raise ConfigError(f"{where}/alias: duplicated OAuth provider alias {p['alias']!r}")
        seen.add(p["alias"])
        _set_defaults(p)
    maximum = ((features or {}).get("identity") or {}).get("oauth", {}).get("maximum_providers")
    if isinstance(maximum, int) and len(providers) > maximum:
        raise ConfigError(
            "authgear.yaml /identity/oauth/providers: exceed the maximum number of sso providers, "
            f"actual: {len(providers)}, expected: {maximum}"
        )


def _set_defaults(p: dict[str, Any]) -> None:
    modify_disabled = bool(p.pop("modify_disabled", False))
    p.setdefault("create_disabled", modify_disabled)
    p.setdefault("delete_disabled", modify_disabled)
    email = p.setdefault("claims", {}).setdefault("email", {})
    for key, value in email_claim_defaults(p["type"]).items():
        email.setdefault(key, value)


def validate_credentials(project: dict[str, Any], secrets: dict[str, Any]) -> None:
    """Authgear's secret check: every provider has an `sso.oauth.client` item, with a client secret
    unless it uses the demo credentials."""
    providers = ((project.get("identity") or {}).get("oauth") or {}).get("providers") or []
    if not providers:
        return
    data = secrets.get("sso.oauth.client")
    if not isinstance(data, dict):
        raise ConfigError(
            "authgear.secrets.yaml: OAuth SSO provider client credentials (secret 'sso.oauth.client') is required"
        )
    items = data.get("items") or []
    for p in providers:
        item = next((x for x in items if isinstance(x, dict) and x.get("alias") == p["alias"]), None)
        if item is None:
            raise ConfigError(
                f"authgear.secrets.yaml: OAuth SSO provider client credentials for '{p['alias']}' is required"
            )
        behavior = p.get("credentials_behavior", "use_project_credentials")
        if not item.get("client_secret") and behavior == "use_project_credentials":
            raise ConfigError(f"authgear.secrets.yaml sso.oauth.client alias {p['alias']!r}: client_secret is required")


def providers_of(project: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((project.get("identity") or {}).get("oauth") or {}).get("providers") or [])


def provider_config(project: dict[str, Any], alias: str) -> dict[str, Any] | None:
    for p in providers_of(project):
        if p.get("alias") == alias:
            return p
    return None


def client_secret(secrets: dict[str, Any], alias: str) -> str | None:
    for item in (secrets.get("sso.oauth.client") or {}).get("items") or []:
        if isinstance(item, dict) and item.get("alias") == alias:
            return str(item.get("client_secret") or "")
    return None


def demo_credentials(secrets: dict[str, Any], provider_type: str) -> tuple[dict[str, Any], str] | None:
    """The demo item for a type (`sso.oauth.demo_credentials`): its provider config and secret."""
    data = secrets.get("sso.oauth.demo_credentials")
    if not isinstance(data, dict):
        return None
    for item in data.get("items") or []:
        conf = item.get("provider_config") if isinstance(item, dict) else None
        if isinstance(conf, dict) and conf.get("type") == provider_type:
            merged = copy.deepcopy(conf)
            merged.setdefault("claims", {}).setdefault("email", email_claim_defaults(provider_type))
            return merged, str(item.get("client_secret") or "")
    return None


def provider_status(provider: dict[str, Any], secrets: dict[str, Any]) -> str:
    """Authgear's ComputeProviderStatus."""
    if provider.get("credentials_behavior", "use_project_credentials") == "use_project_credentials":
        return "active"
    if demo_credentials(secrets, provider["type"]) is None:
        return "missing_credentials"
    return "using_demo_credentials"


def type_disabled(provider_type: str, features: dict[str, Any]) -> bool:
    """`identity.oauth.providers.<type>.disabled` of authgear.features.yaml hides the provider."""
    conf = (((features.get("identity") or {}).get("oauth") or {}).get("providers") or {}).get(provider_type) or {}
    return bool(conf.get("disabled"))


def check_against_features_and_secrets(
    project: dict[str, Any], features: dict[str, Any], secrets: dict[str, Any]
) -> None:
    """What load_config checks once the feature config and secrets are read (Authgear checks both
    when it loads a project): the plan's `maximum_providers`, and a credential per provider."""
    validate_providers(project, features)
    validate_credentials(project, secrets)

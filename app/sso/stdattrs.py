"""OIDC standard claims from a provider's profile, as Authgear's stdattrs.Extract takes them: non-empty
strings and booleans of the standard names only; `email` may be required by the provider's config."""

from __future__ import annotations

from typing import Any

from app.sso.errors import StandardAttributesEmailRequired

STRINGS = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
)
BOOLS = ("email_verified", "phone_number_verified")
ADDRESS = ("formatted", "street_address", "locality", "region", "postal_code", "country")


def extract(claims: dict[str, Any], email_required: bool = False, provider_type: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in STRINGS:
        value = claims.get(key)
        if isinstance(value, str) and value:
            out[key] = value
    for key in BOOLS:
        if isinstance(claims.get(key), bool):
            out[key] = claims[key]
    address = claims.get("address")
    if isinstance(address, dict):
        parts = {k: address[k] for k in ADDRESS if isinstance(address.get(k), str) and address[k]}
        if parts:
            out["address"] = parts
    if email_required and not out.get("email"):
        raise StandardAttributesEmailRequired(provider_type)
    return out


def with_name_copied_to_given_name(attrs: dict[str, Any]) -> dict[str, Any]:
    """Authgear's WithNameCopiedToGivenName: a provider that gives only a name fills given_name."""
    out = {k: v for k, v in attrs.items() if v not in ("", None)}
    if out.get("name") and not out.get("given_name"):
        out["given_name"] = out["name"]
    return out


def normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    """The standard attributes normalizer's part that matters for matching: an email's domain is
    case-insensitive, so it is lowercased (the local part is kept)."""
    email = attrs.get("email")
    if isinstance(email, str) and "@" in email:
        local, _, domain = email.rpartition("@")
        attrs = {**attrs, "email": f"{local}@{domain.lower()}"}
    return attrs

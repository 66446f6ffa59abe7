"""The profile edit pages (contract 7.2 `/settings/profile/:variant/edit`): which attributes each
variant shows, the form fields for them, and the submitted form turned into attribute changes.

Form field names: `std_<attribute>` for standard attributes, `address_<part>` for the parts of
`address`, `gender_other` for a gender not in the list, `custom_<attribute>` for custom attributes.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from app.errors import ValidationFailed
from app.identities.account import ADDRESS_FIELDS
from app.identities.models import User
from app.identities.normalize import normalize_email, normalize_phone
from app.web.forms import ATTRIBUTE_LABELS
from app.web.settings.selfservice import AccessControlViolated, CustomAttribute, SelfService

VARIANTS: dict[str, tuple[str, ...]] = {
    "name": ("name", "given_name", "family_name", "middle_name", "nickname"),
    "gender": ("gender",),
    "birthdate": ("birthdate",),
    "address": ("address",),
    "zoneinfo": ("zoneinfo",),
    "locale": ("locale",),
    "custom_attributes": (),
}
VARIANT_TITLES = {
    "name": _l("Name"),
    "gender": _l("Gender"),
    "birthdate": _l("Birthday"),
    "address": _l("Address"),
    "zoneinfo": _l("Time zone"),
    "locale": _l("Language"),
    "custom_attributes": _l("More about you"),
}
ADDRESS_LABELS = {
    "street_address": _l("Street address"),
    "locality": _l("City"),
    "region": _l("State or region"),
    "postal_code": _l("Postal code"),
    "country": _l("Country"),
    "formatted": _l("Full address"),
}
ADDRESS_ORDER = ("street_address", "locality", "region", "postal_code", "country", "formatted")
GENDERS = ("female", "male")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_PREFIXES = ("std_", "address_", "custom_", "gender_")


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


@dataclass
class Attribute:
    """One attribute on a page: its pointer name, label, access level and form fields."""

    name: str
    label: Any
    access: str
    fields: list[dict[str, Any]]
    custom: bool = False

    @property
    def editable(self) -> bool:
        return self.access == "readwrite"


def gender_label(value: str) -> str:
    return str({"female": _l("Female"), "male": _l("Male")}.get(value, value))


def attributes_of(
    account: SelfService, user: User, variant: str, languages: list[tuple[str, str]]
) -> list[Attribute]:
    """The attributes of `variant` the end user may see, with their fields and current values."""
    std = user.standard_attributes or {}
    out: list[Attribute] = []
    if variant == "custom_attributes":
        for spec in account.custom_attributes():
            if spec.access != "hidden":
                out.append(_custom_attribute(spec, (user.custom_attributes or {}).get(spec.name)))
        return out
    for name in VARIANTS[variant]:
        access = account.standard_access(name)
        if access == "hidden":
            continue
        label = ATTRIBUTE_LABELS.get(name, _l("Address") if name == "address" else name)
        value = std.get(name) or ""
        if name == "address":
            address = value if isinstance(value, dict) else {}
            fields = [
                {"name": f"address_{p}", "label": ADDRESS_LABELS[p], "kind": "text", "value": address.get(p, "")}
                for p in ADDRESS_ORDER
            ]
        elif name == "gender":
            current = value if isinstance(value, str) else ""
            choice = current if current in GENDERS or not current else "other"
            choices = [("", _l("Not specified")), ("female", _l("Female")), ("male", _l("Male"))]
            choices.append(("other", _l("Other")))
            fields = [
                {"name": "std_gender", "label": label, "kind": "select", "choices": choices, "value": choice},
                {
                    "name": "gender_other",
                    "label": _l("Gender, in your words"),
                    "kind": "text",
                    "value": current if choice == "other" else "",
                },
            ]
        elif name == "birthdate":
            fields = [{"name": "std_birthdate", "label": label, "kind": "date", "value": value or ""}]
        elif name == "zoneinfo":
            zones = time_zones()
            choices = [("", _l("Not specified"))] + [(z, z.replace("_", " ")) for z in zones]
            if value and value not in zones:
                choices.append((value, value))
            kind = "select" if zones else "text"
            fields = [{"name": "std_zoneinfo", "label": label, "kind": kind, "choices": choices, "value": value or ""}]
        elif name == "locale":
            choices = [("", _l("Not specified"))] + list(languages)
            if value and value not in dict(languages):
                choices.append((value, value))
            fields = [{"name": "std_locale", "label": label, "kind": "select", "choices": choices, "value": value}]
        else:
            fields = [{"name": f"std_{name}", "label": label, "kind": "text", "value": value or ""}]
        out.append(Attribute(name, label, access, fields))
    return out


_CUSTOM_KIND = {"email": "email", "url": "url", "phone_number": "tel", "number": "number", "integer": "number"}


def _custom_attribute(spec: CustomAttribute, value: Any) -> Attribute:
    field: dict[str, Any] = {"name": f"custom_{spec.name}", "label": spec.name, "kind": "text"}
    if spec.type == "enum":
        options = [str(v) for v in spec.spec.get("enum") or []]
        field.update(kind="select", choices=[("", _l("Not specified"))] + [(o, o) for o in options])
    else:
        field["kind"] = _CUSTOM_KIND.get(spec.type, "text")
    field["value"] = "" if value is None else _number_text(value) if spec.type in ("number", "integer") else str(value)
    return Attribute(spec.name, spec.name, spec.access, [field], custom=True)


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _invalid(name: str, kind: str = "format") -> ValidationFailed:
    return ValidationFailed([{"location": f"/{name}", "kind": kind, "details": {}}], f"invalid {name}")


def changes_from(
    form: dict[str, str], attributes: list[Attribute], languages: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(standard, custom) changes from the submitted fields: a value, or None to remove it.

    Every submitted attribute field must belong to an attribute of this page that the end user
    may write; anything else is `Forbidden/AccessControlViolated` (a readonly field is disabled
    in the page, so only a hand-made request sends one)."""
    owner: dict[str, Attribute] = {f["name"]: a for a in attributes for f in a.fields}
    posted = [k for k in form if k.startswith(_PREFIXES)]
    for key in posted:
        attr = owner.get(key)
        if attr is None:
            raise AccessControlViolated("/" + key.split("_", 1)[1])
        if not attr.editable:
            raise AccessControlViolated("/" + attr.name)
    touched = {owner[k].name: owner[k] for k in posted}
    standard: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, attr in touched.items():
        if attr.custom:
            custom[name] = _custom_value(attr, form.get(f"custom_{name}", ""))
        elif name == "address":
            parts = {p: form.get(f"address_{p}", "").strip() for p in ADDRESS_FIELDS}
            address = {p: v for p, v in parts.items() if v}
            standard[name] = address or None
        elif name == "gender":
            choice = form.get("std_gender", "").strip()
            if choice == "other":
                other = form.get("gender_other", "").strip()
                standard[name] = other or None
            elif choice in GENDERS or not choice:
                standard[name] = choice or None
            else:
                raise _invalid("gender", "enum")
        else:
            value = form.get(f"std_{name}", "").strip()
            if value and name == "birthdate" and not _DATE.match(value):
                raise _invalid(name)
            if value and name == "zoneinfo" and time_zones() and value not in time_zones():
                raise _invalid(name, "enum")
            if value and name == "locale" and value not in languages:
                raise _invalid(name, "enum")
            standard[name] = value or None
    return standard, custom


def _custom_value(attr: Attribute, raw: str) -> Any:
    spec_type = attr.fields[0]["kind"]
    value = raw.strip()
    if not value:
        return None
    name = attr.name
    choices = attr.fields[0].get("choices")
    if choices is not None:
        if value not in [c[0] for c in choices if c[0]]:
            raise _invalid(name, "enum")
        return value
    if spec_type == "number":
        try:
            number = float(value)
        except ValueError:
            raise _invalid(name, "type") from None
        if not math.isfinite(number):
            raise _invalid(name, "type")
        return int(number) if number.is_integer() else number
    if spec_type == "email":
        try:
            return normalize_email(value, {"case_sensitive": True}).value
        except ValidationFailed:
            raise _invalid(name) from None
    if spec_type == "tel":
        try:
            return normalize_phone(value).value
        except ValidationFailed:
            raise _invalid(name) from None
    if spec_type == "url":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _invalid(name)
    return value


def check_custom_types(account: SelfService, custom: dict[str, Any]) -> None:
    """What the form kinds cannot say: integers, country codes and the numeric range."""
    specs = {a.name: a for a in account.custom_attributes()}
    for name, value in custom.items():
        spec = specs.get(name)
        if spec is None or value is None:
            continue
        if spec.type == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
            raise _invalid(name, "type")
        if spec.type == "country_code" and not _COUNTRY.match(str(value).upper()):
            raise _invalid(name)
        if spec.type == "country_code":
            custom[name] = str(value).upper()

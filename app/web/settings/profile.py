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
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from babel.core import get_global
from babel.dates import format_skeleton, get_timezone, get_timezone_location
from flask_babel import format_date, get_locale
from flask_babel import lazy_gettext as _l

from app.errors import ValidationFailed
from app.identities.account import ADDRESS_FIELDS
from app.identities.models import User
from app.identities.normalize import normalize_email, normalize_phone
from app.services import services
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


# -- time zones, grouped by region with their offset now (issue 21) ---------------------------------
# The list shows tzdata's canonical zones (not CLDR's aliases such as Asia/Calcutta, nor US/..., Etc/...),
# grouped by the region of their ID, named by CLDR's city in the page's language; any zone of
# `time_zones()` is still accepted, and a user's alias is shown as it is.
_REGION_TERRITORY = {
    "Africa": "002",
    "America": "019",
    "Antarctica": "AQ",
    "Asia": "142",
    "Australia": "AU",
    "Europe": "150",
    "Arctic": "150",
    "Pacific": "009",
}
_OCEANS = {"Atlantic": _l("Atlantic Ocean"), "Indian": _l("Indian Ocean")}
_REGION_ORDER = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@lru_cache(maxsize=1)
def listed_zones() -> tuple[str, ...]:
    aliases = get_global("zone_aliases")
    regions = set(_REGION_ORDER) | {"Arctic"}
    return tuple(z for z in time_zones() if z.split("/")[0] in regions and z not in aliases)


@lru_cache(maxsize=32)
def _cities(locale: str) -> dict[str, str]:
    return {z: get_timezone_location(get_timezone(z), locale=locale, return_city=True) for z in listed_zones()}


def _locale() -> str:
    return str(get_locale() or "en")


def utc_offset(zone: str, now: datetime) -> tuple[int, str]:
    """(minutes, "UTC+08:00") of `zone` at `now` (an aware datetime)."""
    offset = now.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "\u2212"
    return minutes, f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _offset_words(minutes: int) -> str:
    """What one may type for an offset: "utc+08:00 utc+8" ("utc+5:45" for 5 h 45)."""
    sign, hours, rest = "-" if minutes < 0 else "+", abs(minutes) // 60, abs(minutes) % 60
    short = f"utc{sign}{hours}" + (f":{rest:02d}" if rest else "")
    return f"utc{sign}{hours:02d}:{rest:02d} {short}"


def zone_label(zone: str, now: datetime) -> str:
    """ "(UTC+08:00) Hong Kong": the zone's offset now and its city in the page's language (its ID when
    CLDR names no city); the offset is isolated so that it reads left to right in Arabic and Hebrew."""
    city = _cities(_locale()).get(zone) or zone.rsplit("/", 1)[-1].replace("_", " ")
    return f"(\u2066{utc_offset(zone, now)[1]}\u2069) {city}"


def _region_label(region: str) -> str:
    if region in _OCEANS:
        return str(_OCEANS[region])
    return Locale.parse(_locale().replace("-", "_")).territories.get(_REGION_TERRITORY[region], region)


def zone_groups(now: datetime) -> list[dict[str, Any]]:
    """[{label, options: [{value, label, search}]}]: the listed zones by region, each region's zones
    by their offset now, then by city."""
    cities = _cities(_locale())
    groups: dict[str, list[tuple[int, str, dict[str, str]]]] = {}
    for zone in listed_zones():
        region = "Europe" if zone.startswith("Arctic/") else zone.split("/")[0]
        minutes, offset = utc_offset(zone, now)
        city = cities.get(zone) or zone.rsplit("/", 1)[-1].replace("_", " ")
        search = " ".join((zone.replace("_", " ").replace("/", " "), city, _offset_words(minutes))).lower()
        groups.setdefault(region, []).append(
            (minutes, city, {"value": zone, "label": f"(\u2066{offset}\u2069) {city}", "search": search})
        )
    return [
        {"label": _region_label(r), "options": [o for _, _, o in sorted(groups[r], key=lambda t: (t[0], t[1]))]}
        for r in _REGION_ORDER
        if r in groups
    ]


# -- birthdays ---------------------------------------------------------------------------------------
def latest_birthdate(now: datetime) -> date:
    """The last date a birthday may be: today somewhere on Earth (UTC+14)."""
    return (now + timedelta(hours=14)).date()


def birthdate_text(value: str) -> str:
    """A birthdate as the page's language writes it: "3 February 1990"; "3 February" for Authgear's
    partial dates ("0000-02-03", "--02-03"); a year, or anything else, as it is."""
    try:
        if _DATE.match(value) and not value.startswith("0000-"):
            return str(format_date(date.fromisoformat(value), "long"))
        match = re.match(r"^(?:0000|-)-(\d{2})-(\d{2})$", value)
        if match:
            day = date(2000, int(match.group(1)), int(match.group(2)))
            return format_skeleton("MMMMd", day, locale=_locale().replace("-", "_"))
    except ValueError:
        pass
    return value


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


def attributes_of(account: SelfService, user: User, variant: str, languages: list[tuple[str, str]]) -> list[Attribute]:
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
            # A full date in a date picker, latest today; Authgear's partial dates ("--02-03", "1990")
            # stay text, which a date picker would empty.
            full = not value or (_DATE.match(str(value)) and not str(value).startswith("0000-"))
            field = {"name": "std_birthdate", "label": label, "kind": "date" if full else "text", "value": value or ""}
            fields = [{**field, "max": latest_birthdate(services().clock()).isoformat()}]
        elif name == "zoneinfo":
            now = services().clock()
            zones = time_zones()
            groups = zone_groups(now) if zones else []
            extra = [z for z in ("UTC", value) if z and z not in listed_zones()]
            top = [{"value": z, "label": zone_label(z, now) if z in zones else z, "search": z.lower()} for z in extra]
            choices = [("", _l("Not specified"))] + [(o["value"], o["label"]) for o in top]
            choices += [(o["value"], o["label"]) for g in groups for o in g["options"]]
            kind = "zone" if zones else "text"
            fields = [
                {
                    "name": "std_zoneinfo",
                    "label": label,
                    "kind": kind,
                    "choices": choices,
                    "top": top,
                    "groups": groups,
                    "value": value or "",
                }
            ]
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
            if value and name == "birthdate":
                _check_birthdate(value)
            if value and name == "zoneinfo" and time_zones() and value not in time_zones():
                raise _invalid(name, "enum")
            if value and name == "locale" and value not in languages:
                raise _invalid(name, "enum")
            standard[name] = value or None
    return standard, custom


def _check_birthdate(value: str) -> None:
    """A date (YYYY-MM-DD) that is not in the future (Authgear accepts future dates; its own settings
    page's date picker does not offer them)."""
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise _invalid("birthdate") from None
    latest = latest_birthdate(services().clock())
    if day > latest:
        raise ValidationFailed(
            [{"location": "/birthdate", "kind": "maximum", "details": {"maximum": latest.isoformat()}}],
            "birthdate is in the future",
        )


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

"""Login ID normalization (contract section 8, `identity.login_id.types`).

`normalize` returns the stored form and the unique key that the uniqueness guarantee uses:
- email: NFKC, domain lower-cased, local part lower-cased unless `case_sensitive`, `+` refused with
  `block_plus_sign`, dots ignored in the unique key with `ignore_dot_sign`. As in Authgear, an address
  that its checks refuse is `ValidationFailed` (kind `format`, `{"format": "email"}`): a leading,
  trailing or double dot in either part (Go's net/mail: `a@example.com.`), and invisible characters
  (zero-width space/joiners U+200B-U+200D, U+2060, U+FEFF and every other format or default-ignorable
  code point), which Authgear's PRECIS case folding refuses. So `a\u200b@example.com` and
  `a@example.com.` can neither sign up beside `a@example.com` nor sign in as someone else;
- phone: E.164 (`+` and country code required), checked as Authgear's `ui.phone_input` says:
  `validation.libphonenumber.validation_method` `isValidNumber` (the default) or `isPossibleNumber`
  (a number of a possible length, which needs not be assigned), and `allowlist` (country codes, ISO
  3166 alpha-2: a number none of whose regions is listed is refused, kind `blocked`,
  `{"reason": "PhoneNumberCountryCodeAllowlist"}`). Refusals say "invalid login ID" as Authgear's
  login ID checker does. `pinned_list` and `preselect_by_ip_disabled` only order and preselect
  the country picker of Authgear's phone field; Gatehouse's pages take a typed `+` number;
- username: NFKC, case-folded unless `case_sensitive`, ASCII letters, digits, `_-.` with `ascii_only`,
  reserved names refused with `block_reserved_usernames`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import phonenumbers

from app.errors import ValidationFailed

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
# Default-ignorable code points outside the C* categories (Unicode DerivedCoreProperties): combining
# grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian variation selectors, variation
# selectors. Category Cf covers the zero-width space, joiners, word joiner and BOM.
_DEFAULT_IGNORABLE = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0000, 0xE0FFF),
)
_PHONE_CHARS = re.compile(r"^\+[0-9 ()\-.]+$")
_USERNAME_ASCII = re.compile(r"^[a-zA-Z0-9_.\-]+$")
RESERVED_USERNAMES = frozenset(
    "admin administrator root system sysadmin support help info security webmaster postmaster "
    "hostmaster abuse noreply no-reply null undefined api www mail auth login logout signup settings "
    "oauth oauth2 account accounts user users me self staff moderator".split()
)


@dataclass(frozen=True)
class NormalizedLoginID:
    type: str
    value: str  # what is stored and shown
    unique_key: str  # what must be unique per login ID key


def _invalid(fmt: str, message: str = "invalid login ID", location: str = "/login_id") -> ValidationFailed:
    return ValidationFailed([{"location": location, "kind": "format", "details": {"format": fmt}}], message)


def _blocked(reason: str) -> ValidationFailed:
    """Authgear's login ID checker: a value its rules block, `kind: blocked` with the rule's reason."""
    cause = {"location": "/login_id", "kind": "blocked", "details": {"reason": reason}}
    return ValidationFailed([cause], "invalid login ID")


def _invisible(c: str) -> bool:
    """A control, format (Cf: U+200B-U+200F, U+2060-U+2064, U+FEFF, bidi controls, ...), surrogate,
    private-use or unassigned code point, or another default-ignorable one: PRECIS disallows them."""
    return unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") or any(
        low <= ord(c) <= high for low, high in _DEFAULT_IGNORABLE
    )


def _bad_dots(part: str) -> bool:
    """RFC 5322 dot-atom, as Go's net/mail (which Authgear's email format uses) reads it."""
    return part.startswith(".") or part.endswith(".") or ".." in part


def normalize_email(raw: str, rules: dict[str, Any]) -> NormalizedLoginID:
    value = unicodedata.normalize("NFKC", raw).strip()
    # Printable ASCII holds no invisible character: the per-character check is for the rest only.
    visible = value.isascii() and value.isprintable()
    if not _EMAIL.match(value) or (not visible and any(_invisible(c) for c in value)):
        raise _invalid("email")
    local, domain = value.rsplit("@", 1)
    if _bad_dots(local) or _bad_dots(domain):
        raise _invalid("email")
    domain = domain.lower()
    if not rules.get("case_sensitive", False):
        local = local.lower()
    if rules.get("block_plus_sign", False) and "+" in local:
        raise _blocked("BlockPlusSign")
    try:
        # The unique key uses the ASCII (IDNA) domain so a Unicode domain and its punycode collide.
        ascii_domain = domain.encode("idna").decode()
    except UnicodeError:  # an empty or over-long (> 63 characters) label
        raise _invalid("email") from None
    stored = f"{local}@{domain}"
    unique_local = local.replace(".", "") if rules.get("ignore_dot_sign", False) else local
    return NormalizedLoginID("email", stored, f"{unique_local}@{ascii_domain}")


def phone_validation_method(phone_input: dict[str, Any] | None) -> str:
    """`ui.phone_input.validation.libphonenumber.validation_method`, Authgear's default when unset."""
    validation = (phone_input or {}).get("validation") or {}
    return (validation.get("libphonenumber") or {}).get("validation_method") or "isValidNumber"


def normalize_phone(raw: str, rules: dict[str, Any] | None = None) -> NormalizedLoginID:
    """`rules` is `ui.phone_input` (validation method and country allowlist); none: the strictest check."""
    value = raw.strip()
    if not value.startswith("+"):
        raise _invalid("phone")
    if not _PHONE_CHARS.match(value):
        # libphonenumber would drop letters and extensions ("x123") silently; refuse them instead.
        raise _invalid("phone")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise _invalid("phone") from None
    if not phonenumbers.is_possible_number(number):
        raise _invalid("phone")
    if phone_validation_method(rules) == "isValidNumber" and not phonenumbers.is_valid_number(number):
        raise _invalid("phone")
    allowlist = (rules or {}).get("allowlist")
    if allowlist and not set(_regions(number)) & set(allowlist):
        raise ValidationFailed(
            [
                {
                    "location": "/login_id",
                    "kind": "blocked",
                    "details": {"reason": "PhoneNumberCountryCodeAllowlist"},
                }
            ],
            "invalid login ID",
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return NormalizedLoginID("phone", e164, e164)


def _regions(number: phonenumbers.PhoneNumber) -> list[str]:
    """The number's region, or, for a number no region claims (possible but not valid), every
    region of its country calling code: +1 is the US, Canada and the Caribbean (as Authgear)."""
    region = phonenumbers.region_code_for_number(number)
    if region:
        return [region]
    return list(phonenumbers.region_codes_for_country_code(number.country_code))


def normalize_username(raw: str, rules: dict[str, Any]) -> NormalizedLoginID:
    value = unicodedata.normalize("NFKC", raw).strip()
    if not value:
        raise _invalid("username")
    folded = value.casefold()
    # In Authgear's order: reserved names, excluded keywords, then the ASCII rule.
    if rules.get("block_reserved_usernames", True) and folded in RESERVED_USERNAMES:
        raise _blocked("UsernameReserved")
    if rules.get("exclude_keywords_enabled", False):
        for keyword in rules.get("excluded_keywords", []):
            if keyword.casefold() in folded:
                raise _blocked("UsernameExcludedKeywords")
    if rules.get("ascii_only", True) and not _USERNAME_ASCII.match(value):
        raise _invalid("username")
    stored = value if rules.get("case_sensitive", False) else folded
    return NormalizedLoginID("username", stored, stored)


_NORMALIZERS = {"email": normalize_email, "phone": normalize_phone, "username": normalize_username}


def normalize(login_id_type: str, raw: Any, rules: dict[str, Any], max_length: int) -> NormalizedLoginID:
    if not isinstance(raw, str):
        raise ValidationFailed(
            [{"location": "/login_id", "kind": "type", "details": {"expected": ["string"]}}],
            "invalid login ID",
        )
    if len(raw) > max_length:
        raise ValidationFailed(
            [{"location": "/login_id", "kind": "maxLength", "details": {"expected": max_length, "actual": len(raw)}}],
            "invalid login ID",
        )
    return _NORMALIZERS[login_id_type](raw, rules)

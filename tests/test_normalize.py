"""Login ID normalization (contract section 8, `identity.login_id.types`)."""

from __future__ import annotations

import pytest

from app.config import DEFAULTS, deep_merge
from app.errors import ValidationFailed
from app.identities.normalize import normalize

TYPES = DEFAULTS["identity"]["login_id"]["types"]


def email(raw, max_length=320, **rules):
    return normalize("email", raw, deep_merge(TYPES["email"], rules), max_length)


def phone(raw, max_length=40):
    return normalize("phone", raw, TYPES["phone"], max_length)


def username(raw, max_length=40, **rules):
    return normalize("username", raw, deep_merge(TYPES["username"], rules), max_length)


def rejected(fn, raw, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as info:
        fn(raw, **kwargs)
    err = info.value
    assert err.name == "Invalid" and err.reason == "ValidationFailed" and err.status == 400
    assert err.message == "invalid login ID"  # Authgear's login ID checker, whatever the rule
    (cause,) = err.info["causes"]
    assert cause["location"] == "/login_id"
    return cause


# -- email ----------------------------------------------------------------------------------------


def test_surrounding_whitespace_is_trimmed():
    assert email("\tjohn@example.com\n").value == "john@example.com"


def test_email_domain_and_local_part_are_case_folded_by_default():
    n = email("  John.Doe@Example.COM ")
    assert n.type == "email"
    assert n.value == "john.doe@example.com"
    assert n.unique_key == "john.doe@example.com"
    assert email("JOHN.DOE@example.com").unique_key == n.unique_key


def test_case_sensitive_keeps_the_local_part_but_folds_the_domain():
    n = email("John.Doe@Example.COM", case_sensitive=True)
    assert n.value == "John.Doe@example.com"
    assert n.unique_key == "John.Doe@example.com"
    assert email("john.doe@example.com", case_sensitive=True).unique_key != n.unique_key


def test_fullwidth_characters_are_nfkc_normalized():
    assert email("ｊｏｈｎ@ｅｘａｍｐｌｅ.ｃｏｍ").value == "john@example.com"


def test_plus_sign_allowed_by_default_and_blocked_on_request():
    assert email("a+tag@example.com").value == "a+tag@example.com"
    cause = rejected(email, "a+tag@example.com", block_plus_sign=True)
    assert cause["kind"] == "blocked" and cause["details"] == {"reason": "BlockPlusSign"}  # Authgear's


def test_ignore_dot_sign_changes_only_the_unique_key():
    n = email("J.o.h.n@Example.com", ignore_dot_sign=True)
    assert n.value == "j.o.h.n@example.com"
    assert n.unique_key == "john@example.com"
    assert email("john@example.com", ignore_dot_sign=True).unique_key == n.unique_key
    assert email("J.o.h.n@Example.com").unique_key == "j.o.h.n@example.com"  # default: dots count


def test_ignore_dot_sign_keeps_dots_in_the_domain():
    assert email("a.b@mail.example.com", ignore_dot_sign=True).unique_key == "ab@mail.example.com"


def test_unicode_domain_and_its_punycode_share_a_unique_key():
    assert email("a@Bücher.de").unique_key == email("a@xn--bcher-kva.de").unique_key


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "@example.com",
        "john@",
        "john@example",
        "john@@example.com",
        "john doe@example.com",
        "john@exa mple.com",
        "<john@example.com>",
        "john@example..com",
        "john@" + "a" * 64 + ".com",
        "a,b@example.com",
    ],
)
def test_malformed_emails_are_rejected(raw):
    cause = rejected(email, raw)
    assert cause["kind"] in {"format", "maxLength"}


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u202e", "\u034f"])
@pytest.mark.parametrize("where", ["local end", "local middle", "start", "domain"])
def test_emails_with_invisible_characters_are_refused_as_authgear_does(char, where):
    raw = {
        "local end": f"john{char}@example.com",
        "local middle": f"jo{char}hn@example.com",
        "start": f"{char}john@example.com",
        "domain": f"john@exam{char}ple.com",
    }[where]
    assert rejected(email, raw) == {"location": "/login_id", "kind": "format", "details": {"format": "email"}}
    # case_sensitive keeps the local part as typed: still refused.
    assert rejected(email, raw, case_sensitive=True)["kind"] == "format"


@pytest.mark.parametrize(
    "raw", ["john@example.com.", "john@.example.com", "john.@example.com", ".john@example.com", "jo..hn@example.com"]
)
def test_leading_trailing_and_double_dots_are_refused_as_go_net_mail_does(raw):
    assert rejected(email, raw) == {"location": "/login_id", "kind": "format", "details": {"format": "email"}}


def test_dots_inside_the_parts_and_non_ascii_letters_stay_valid():
    assert email("john.q.doe@mail.example.com").value == "john.q.doe@mail.example.com"
    assert email("joão@bücher.de").unique_key == "joão@xn--bcher-kva.de"


def test_email_longer_than_max_length_is_rejected():
    cause = rejected(email, "a" * 40 + "@example.com", max_length=40)
    assert cause["kind"] == "maxLength"
    assert cause["details"] == {"expected": 40, "actual": 52}


# -- phone ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+85298765432", "+85298765432"),
        ("+852 9876 5432", "+85298765432"),
        ("+852-9876-5432", "+85298765432"),
        ("+1 (650) 253-0000", "+16502530000"),
        (" +44 20 7946 0958 ", "+442079460958"),
    ],
)
def test_phone_numbers_become_e164(raw, e164):
    n = phone(raw)
    assert n.type == "phone"
    assert n.value == e164 and n.unique_key == e164


@pytest.mark.parametrize("raw", ["98765432", "85298765432", "0044 20 7946 0958", "(650) 253-0000"])
def test_phone_without_plus_and_country_code_is_rejected(raw):
    cause = rejected(phone, raw)
    assert cause["details"] == {"format": "phone"}


@pytest.mark.parametrize(
    "raw",
    [
        "+",
        "+852",
        "+852 1234",
        "+999 12345678",
        "+1 000 000 0000",
        "+abc",
        "+85298765432x",
        "+852 9876 5432 ext. 12",
        "+852٩٨٧٦٥٤٣٢",
    ],
)
def test_invalid_phone_numbers_are_rejected(raw):
    cause = rejected(phone, raw)
    assert cause["kind"] == "format"


# -- username -------------------------------------------------------------------------------------


def test_username_is_case_folded_by_default():
    n = username("John_Doe-1.0")
    assert n.type == "username"
    assert n.value == "john_doe-1.0" and n.unique_key == "john_doe-1.0"


def test_case_sensitive_username_is_kept():
    n = username("John_Doe", case_sensitive=True)
    assert n.value == "John_Doe" and n.unique_key == "John_Doe"


@pytest.mark.parametrize("raw", ["jöhn", "john doe", "john@home", "名前", "john!", "a/b"])
def test_ascii_only_refuses_other_characters(raw):
    rejected(username, raw)


def test_unicode_username_allowed_when_not_ascii_only():
    assert username("Jöhn", ascii_only=False).value == "jöhn"


@pytest.mark.parametrize("raw", ["admin", "Admin", "ROOT", "postmaster", "noreply"])
def test_reserved_usernames_are_refused(raw):
    cause = rejected(username, raw)
    # Authgear's login ID checker: kind blocked, reason UsernameReserved.
    assert (cause["kind"], cause["details"]) == ("blocked", {"reason": "UsernameReserved"})


def test_reserved_usernames_allowed_when_not_blocked():
    assert username("admin", block_reserved_usernames=False).value == "admin"


def test_excluded_keywords():
    cause = rejected(username, "SuperBadWord99", exclude_keywords_enabled=True, excluded_keywords=["badword"])
    assert (cause["kind"], cause["details"]) == ("blocked", {"reason": "UsernameExcludedKeywords"})
    assert username("SuperBadWord99").value == "superbadword99"


def test_username_max_length():
    assert username("a" * 40).value == "a" * 40
    cause = rejected(username, "a" * 41)
    assert cause["kind"] == "maxLength"
    assert cause["details"]["expected"] == 40


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_username_is_rejected(raw):
    rejected(username, raw)


# -- input that is not a string --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["email", "phone", "username"])
@pytest.mark.parametrize("raw", [None, 42, 4.2, True, ["a@example.com"], {"email": "a@example.com"}, b"a@x.io"])
def test_non_string_input_is_validation_failed(kind, raw):
    with pytest.raises(ValidationFailed) as info:
        normalize(kind, raw, TYPES[kind], 40)
    assert info.value.to_dict()["info"]["causes"] == [
        {"location": "/login_id", "kind": "type", "details": {"expected": ["string"]}}
    ]


# -- ui.phone_input: validation method and country allowlist (Authgear's PhoneChecker) -------------


def phone_with(raw, **phone_input):
    return normalize("phone", raw, phone_input, 40)


def _possible_only(method):
    return {"validation": {"implementation": "libphonenumber", "libphonenumber": {"validation_method": method}}}


def test_is_possible_number_accepts_a_number_of_a_possible_length():
    # +852 1111 1111 is not assigned (isValidNumber refuses it) but has Hong Kong's length.
    assert phone_with("+85211111111", **_possible_only("isPossibleNumber")).value == "+85211111111"
    cause = rejected(phone_with, "+85211111111", **_possible_only("isValidNumber"))
    assert cause == {"location": "/login_id", "kind": "format", "details": {"format": "phone"}}
    assert rejected(phone_with, "+85211111111")["kind"] == "format"  # isValidNumber is the default


def test_an_impossible_number_is_refused_by_either_method():
    for method in ("isPossibleNumber", "isValidNumber"):
        with pytest.raises(ValidationFailed) as info:
            phone_with("+852111111111111111", **_possible_only(method))
        assert info.value.message == "invalid login ID"
        assert info.value.info == {
            "causes": [{"location": "/login_id", "kind": "format", "details": {"format": "phone"}}]
        }


def test_the_allowlist_refuses_other_countries():
    assert phone_with("+85298765432", allowlist=["HK", "SG"]).value == "+85298765432"
    with pytest.raises(ValidationFailed) as info:
        phone_with("+442079460958", allowlist=["HK", "SG"])
    assert info.value.message == "invalid login ID"
    assert info.value.info == {
        "causes": [
            {"location": "/login_id", "kind": "blocked", "details": {"reason": "PhoneNumberCountryCodeAllowlist"}}
        ]
    }
    # An empty or absent allowlist allows every country (Authgear's default lists them all).
    assert phone_with("+442079460958", allowlist=[]).value == "+442079460958"


def test_a_possible_number_no_region_claims_matches_any_region_of_its_calling_code():
    # +1 555 0100 000 is possible but unassigned: the regions of +1 (US, CA, ...) are its candidates.
    rules = {**_possible_only("isPossibleNumber"), "allowlist": ["CA"]}
    assert phone_with("+15550100000", **rules).value == "+15550100000"
    assert rejected(phone_with, "+15550100000", **{**rules, "allowlist": ["GB"]})["kind"] == "blocked"

"""The profile pages: what the end user sees and may change under `user_profile` access control."""

from __future__ import annotations

import pytest

from app.extensions import db
from tests.settings.conftest import audit_types, sign_in, text_of


def _user(acc):
    with acc.app.app_context():
        user = acc.svc.users.get(acc.user_id)
        return dict(user.standard_attributes or {}), dict(user.custom_attributes or {})


def _set(acc, standard=None, custom=None):
    with acc.app.app_context():
        user = acc.svc.users.get(acc.user_id)
        if standard:
            user.standard_attributes = {**(user.standard_attributes or {}), **standard}
        if custom:
            user.custom_attributes = {**(user.custom_attributes or {}), **custom}
        db.session.commit()


@pytest.mark.embedded
def test_profile_shows_visible_attributes_only(account):
    _set(
        account,
        {"given_name": "Ada", "nickname": "ada-l", "middle_name": "Secret"},
        {"plan": "pro", "internal_score": 9},
    )
    html = text_of(account.get("/settings/profile"))
    assert "Ada" in html and "ada-l" in html and "pro" in html
    # Hidden for the end user: a standard attribute and a custom attribute without access control.
    assert "Secret" not in html and "internal_score" not in html
    edit = text_of(account.get("/settings/profile/name/edit"))
    assert 'name="std_given_name"' in edit and 'name="std_middle_name"' not in edit
    assert (
        'id="std_nickname"' in edit
        and "disabled"
        in edit.split('id="std_nickname"')[0].rsplit("<input", 1)[1] + edit.split('id="std_nickname"')[1].split(">")[0]
    )


def test_name_edit_saves_and_writes_the_audit_log(account):
    resp = account.post(
        "/settings/profile/name/edit", {"std_name": "Ada Lovelace", "std_given_name": "Ada", "std_family_name": ""}
    )
    assert resp.status_code == 303 and resp.headers["Location"] == "/settings/profile"
    standard, _ = _user(account)
    assert standard["name"] == "Ada Lovelace" and standard["given_name"] == "Ada" and "family_name" not in standard
    assert standard["email"] == account.email  # other attributes are kept
    assert "user.profile.updated" in audit_types(account.app, account.user_id)
    assert "Your profile has been updated." in text_of(account.get("/settings/profile"))


def test_a_readonly_attribute_posted_anyway_is_refused(account):
    _set(account, {"nickname": "original"})
    resp = account.post("/settings/profile/name/edit", {"std_name": "New", "std_nickname": "changed"})
    assert resp.status_code == 403
    assert "You can't change this information here." in text_of(resp)
    standard, _ = _user(account)
    assert standard["nickname"] == "original" and "name" not in standard
    assert "user.profile.updated" not in audit_types(account.app, account.user_id)


@pytest.mark.parametrize(
    "data",
    [
        {"std_middle_name": "sneaky"},  # hidden
        {"std_email": "other@example.com"},  # not on this page
        {"custom_plan": "pro"},  # readonly custom attribute
        {"custom_internal_score": "1"},  # hidden custom attribute
    ],
)
def test_attributes_that_are_not_on_the_page_or_not_writable_are_refused(account, data):
    page = (
        "/settings/profile/custom_attributes/edit"
        if any(k.startswith("custom_") for k in data)
        else "/settings/profile/name/edit"
    )
    resp = account.post(page, data)
    assert resp.status_code == 403
    standard, custom = _user(account)
    assert "middle_name" not in standard and standard["email"] == account.email and not custom


def test_gender_birthdate_address_zoneinfo_locale(account):
    assert (
        account.post("/settings/profile/gender/edit", {"std_gender": "other", "gender_other": "non-binary"}).status_code
        == 303
    )
    assert account.post("/settings/profile/birthdate/edit", {"std_birthdate": "1990-02-03"}).status_code == 303
    address = {"address_street_address": "1 Main St", "address_locality": "Springfield", "address_country": "US"}
    assert account.post("/settings/profile/address/edit", address).status_code == 303
    assert account.post("/settings/profile/zoneinfo/edit", {"std_zoneinfo": "Asia/Hong_Kong"}).status_code == 303
    assert account.post("/settings/profile/locale/edit", {"std_locale": "ja"}).status_code == 303
    standard, _ = _user(account)
    assert standard["gender"] == "non-binary" and standard["birthdate"] == "1990-02-03"
    assert standard["address"] == {"street_address": "1 Main St", "locality": "Springfield", "country": "US"}
    assert standard["zoneinfo"] == "Asia/Hong_Kong" and standard["locale"] == "ja"
    html = text_of(account.get("/settings/profile"))
    assert "non-binary" in html and "1 Main St, Springfield" in html and "日本語" in html
    # Choosing from the list replaces the free text; empty removes.
    assert account.post("/settings/profile/gender/edit", {"std_gender": "female"}).status_code == 303
    assert account.post("/settings/profile/zoneinfo/edit", {"std_zoneinfo": ""}).status_code == 303
    standard, _ = _user(account)
    assert standard["gender"] == "female" and "zoneinfo" not in standard


@pytest.mark.parametrize(
    ("page", "data"),
    [
        ("birthdate", {"std_birthdate": "03/02/1990"}),
        ("zoneinfo", {"std_zoneinfo": "Mars/Olympus"}),
        ("locale", {"std_locale": "tlh"}),
        ("gender", {"std_gender": "robot"}),
        ("custom_attributes", {"custom_member_no": "abc"}),
        ("custom_attributes", {"custom_member_no": "0"}),
        ("custom_attributes", {"custom_member_no": "3.5"}),
    ],
)
def test_invalid_values_are_refused_with_the_field_marked(account, page, data):
    resp = account.post(f"/settings/profile/{page}/edit", data)
    assert resp.status_code == 400
    html = text_of(resp)
    assert 'aria-invalid="true"' in html or 'role="alert"' in html
    standard, custom = _user(account)
    assert "birthdate" not in standard and not custom


def test_custom_attributes_are_typed(account):
    assert account.post("/settings/profile/custom_attributes/edit", {"custom_member_no": "42"}).status_code == 303
    _, custom = _user(account)
    assert custom == {"member_no": 42}


def test_a_variant_with_nothing_visible_is_not_found(settings_app):
    hidden = {
        "user_profile": {
            "standard_attributes": {
                "access_control": [{"pointer": "/gender", "access_control": {"end_user": "hidden"}}]
            }
        }
    }
    acc = sign_in(settings_app(hidden))
    assert acc.get("/settings/profile/gender/edit").status_code == 404
    assert acc.get("/settings/profile/picture/edit").status_code == 404

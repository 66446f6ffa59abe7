"""The README's screenshots: the main hosted pages in light and dark, on a desktop and a 390 px phone,
written to docs/screenshots/<page>-<scheme>-<device>.png (viewport only, to keep the files small).

Not part of the test run (the name does not start with `test_`); run it when the pages change:

    .venv/bin/pytest tests/web/screenshots.py

Each page is axe-checked on the way (shots.visit), as in the browser tests.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from tests.web.test_browser_flows import make_user, submit
from tests.web.test_browser_oidc_pages import client_app  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("_catalogs")

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DEVICES = {"desktop": {"width": 960, "height": 820}, "phone": {"width": 390, "height": 844}}
PASSWORD = "correct-Horse-battery-7"
PROJECT = {
    "ui": {"theme": {"app_name": "Acme"}},
    "localization": {"fallback_language": "en", "supported_languages": ["en", "ja", "zh-HK", "fr", "de", "ar"]},
    "user_profile": {
        "standard_attributes": {
            "access_control": [
                {"pointer": f"/{name}", "access_control": {"end_user": "readwrite"}}
                for name in ("name", "given_name", "family_name", "birthdate", "zoneinfo", "locale")
            ]
        }
    },
}


def _client(client_app):  # noqa: F811
    return {
        "client_id": "demo",
        "name": "Demo app",
        "client_name": "Demo app",
        "client_uri": "https://demo.example.com",
        "x_application_type": "third_party_app",
        "redirect_uris": [f"{client_app.origin}/callback"],
    }


def _authorize(server, client_app):  # noqa: F811
    query = {
        "client_id": "demo",
        "redirect_uri": f"{client_app.origin}/callback",
        "response_type": "code",
        "scope": "openid email profile offline_access",
        "state": "s",
        "code_challenge": "a" * 43,
        "code_challenge_method": "S256",
    }
    return server.url("/oauth2/authorize?" + urlencode(query))


def _shot(page, shots, name: str, scheme: str, device: str) -> None:
    shots.visit(page, f"{name}-{scheme}-{device}")
    page.screenshot(path=str(OUT / f"{name}-{scheme}-{device}.png"), animations="disabled", caret="hide")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", list(DEVICES))
def test_readme_screenshots(scheme, device, web, context_factory, shots, in_app, client_app):  # noqa: F811
    OUT.mkdir(parents=True, exist_ok=True)
    server = web({**PROJECT, "oauth": {"clients": [_client(client_app)]}})
    email = "bob@example.com"
    make_user(in_app, server, email, PASSWORD)
    with in_app(server) as svc:
        user = svc.users.get(svc.users.find_identity("email", email).user_id)
        user.standard_attributes = {
            **(user.standard_attributes or {}),
            "name": "Bob Lee",
            "given_name": "Bob",
            "birthdate": "1990-04-12",
            "zoneinfo": "Asia/Hong_Kong",
        }
    page = context_factory(viewport=DEVICES[device], color_scheme=scheme).new_page()

    page.goto(server.url("/signup"))
    _shot(page, shots, "signup", scheme, device)
    page.get_by_label("Email, phone number or username").fill("alice@example.com")
    submit(page)
    _shot(page, shots, "enter_oob_otp", scheme, device)

    page.goto(_authorize(server, client_app))
    assert urlsplit(page.url).path == "/login"
    _shot(page, shots, "login", scheme, device)
    page.get_by_label("Email, phone number or username").fill(email)
    submit(page)
    _shot(page, shots, "enter_password", scheme, device)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    submit(page)
    page.wait_for_url(server.url("/oauth2/consent") + "?*")
    _shot(page, shots, "consent", scheme, device)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{client_app.origin}/callback?*")

    page.goto(_authorize(server, client_app))
    assert urlsplit(page.url).path == "/authflow/v2/select_account"
    _shot(page, shots, "select_account", scheme, device)

    page.goto(server.url("/settings"))
    _shot(page, shots, "settings", scheme, device)
    page.goto(server.url("/settings/profile"))
    _shot(page, shots, "profile", scheme, device)

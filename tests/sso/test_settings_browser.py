"""Linked providers in the settings, in Chromium against node oidc-provider: sign up with one provider,
connect a second one in the settings, disconnect it, and be refused disconnecting the last one."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity
from tests.sso.conftest import UPSTREAM_SECRET
from tests.sso.test_pages import _at_provider_sign_in
from tests.web.conftest import (  # noqa: F401 (fixtures)
    LiveServer,
    _catalogs,
    browser,
    context_factory,
    screenshot_dir,
    shots,
)


def _types(app) -> list[str]:
    with app.app_context():
        rows = db.session.scalars(select(Identity.provider_type).where(Identity.type == "oauth"))
        return sorted(str(t) for t in rows)


def _provider_step(page, login: str) -> None:
    """At the provider: sign in, or only consent when its session is there already."""
    page.wait_for_url(re.compile(r"/interaction/|/settings/identity/oauth"), wait_until="commit")
    if "/interaction/" not in page.url:
        return
    if page.locator('input[name="login"]').count():
        _at_provider_sign_in(page, login)
        return
    consent = page.locator('button:has-text("Continue")')
    consent.click(no_wait_after=True)


def test_browser_connect_and_disconnect_a_second_provider(sso_app, upstream, context_factory, shots):  # noqa: F811
    server = LiveServer()
    try:
        upstream.start([server.url("/sso/oauth2/callback/corp"), server.url("/sso/oauth2/callback/adfs")])
        providers = [
            {
                "alias": "corp",
                "type": "oidc",
                "client_id": "gatehouse",
                "discovery_document_endpoint": upstream.discovery,
            },
            {
                "alias": "adfs",
                "type": "adfs",
                "client_id": "gatehouse",
                "discovery_document_endpoint": upstream.discovery,
            },
        ]
        server.app = sso_app(
            providers,
            {"corp": UPSTREAM_SECRET, "adfs": UPSTREAM_SECRET},
            overrides={"http": {"public_origin": server.origin}},
            sso_http_proxy=None,
            sso_tls_ca_cert_file=None,
        )
        page = context_factory().new_page()
        page.goto(server.url("/signup"))
        page.click('button[data-provider="oidc"]')
        _at_provider_sign_in(page, "bob")
        page.wait_for_url(re.compile(r"/authflow/v2/finish"))
        assert _types(server.app) == ["oidc"]

        # The finish page moves on to the settings page by itself (a second navigation would race it).
        page.wait_for_url(re.compile(r"/settings$"))
        page.wait_for_load_state("load")
        page.click('a[href="/settings/identity/oauth"]')
        page.wait_for_url(re.compile(r"/settings/identity/oauth$"))
        shots.visit(page, "settings-oauth-list")
        page.click('button[data-provider="adfs"]')
        _provider_step(page, "bob")
        page.wait_for_url(re.compile(r"/settings/identity/oauth$"))
        assert "The account has been connected" in page.locator(".notice").first.inner_text()
        shots.visit(page, "settings-oauth-connected")
        assert _types(server.app) == ["adfs", "oidc"]

        page.locator('li[data-provider-alias="adfs"] button:has-text("Disconnect")').click()
        page.wait_for_url(re.compile(r"/settings/identity/oauth$"))
        assert "The account has been disconnected." in page.locator(".notice").first.inner_text()
        assert _types(server.app) == ["oidc"]

        # The provider the account signed up with is its only way to sign in.
        page.locator('li[data-provider-alias="corp"] button:has-text("Disconnect")').click()
        alert = page.locator(".alert")
        alert.wait_for()
        assert "only way to sign in" in alert.inner_text()
        shots.visit(page, "settings-oauth-last-way")
        assert _types(server.app) == ["oidc"]
    finally:
        server.stop()

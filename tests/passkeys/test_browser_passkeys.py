"""Passkeys on the hosted pages and in the settings, in Chromium with a virtual WebAuthn
authenticator (Chrome DevTools Protocol): the prompt after a signup and after a password login
(create, skip, "don't ask again"), the login page's button and its autofill (conditional UI), the
use_passkey page in a reauth, and the settings list (add, remove, the last-way-to-sign-in refusal).

WebAuthn refuses an IP address as the relying party ID, so these servers are reached at `localhost`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from app.authenticators.models import Authenticator
from app.config import deep_merge
from app.extensions import db
from app.identities.models import Identity, User
from app.sessions.models import IdPSession
from tests.factories import random_password
from tests.passkeys.conftest import PASSKEY_PROJECT
from tests.web import conftest as web_fixtures
from tests.web.conftest import LiveServer
from tests.web.test_browser_flows import _email, assert_finished, make_user, session_cookie, submit

# The browser fixtures of tests/web, for this folder too.
_catalogs = web_fixtures._catalogs
browser = web_fixtures.browser
context_factory = web_fixtures.context_factory
in_app = web_fixtures.in_app
page = web_fixtures.page
screenshot_dir = web_fixtures.screenshot_dir
shots = web_fixtures.shots

pytestmark = pytest.mark.usefixtures("_catalogs")

AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}
# Marks when the page has a conditional (autofill) request pending.
CONDITIONAL_PROBE = """(() => { const get = navigator.credentials.get.bind(navigator.credentials);
navigator.credentials.get = (o) => {
  if (o.mediation === 'conditional') window.__passkeyConditional = true;
  const p = get(o);
  if (!o.mediation) p.then(() => sessionStorage.setItem('modal', 'resolved'), () => {});
  return p; }; })();"""
# Hides conditional mediation from the page, so that only the button can start a ceremony.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);"


@pytest.fixture
def pk_web(make_app: Callable[..., Flask], make_config: Any, smtp_server: Any) -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def build(overrides: dict[str, Any] | None = None) -> LiveServer:
        server = LiveServer()
        servers.append(server)
        server.origin = server.origin.replace("127.0.0.1", "localhost")
        secrets_ = smtp_server.secrets(dict(make_config().secrets))
        project = deep_merge(deep_merge(PASSKEY_PROJECT, {"http": {"public_origin": server.origin}}), overrides or {})
        server.app = make_app(project, secrets=secrets_)
        return server

    yield build
    for server in servers:
        server.stop()


class Virtual:
    """A virtual authenticator attached to one page (tab)."""

    def __init__(self, page: Any) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable")
        self.id = self.add()

    def add(self) -> str:
        return self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]

    def replace(self) -> None:
        """Another device: a new authenticator in place of this one (its passkeys go with it)."""
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})
        self.id = self.add()

    def presence(self, automatic: bool) -> None:
        """Whether the authenticator answers by itself (a user touching it) or keeps a request waiting."""
        self.cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": self.id, "enabled": automatic})

    def credentials(self) -> list[dict[str, Any]]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]


def _user_id(in_app: Any, server: LiveServer, login_id: str) -> str:
    with in_app(server):
        return db.session.scalar(select(Identity).where(Identity.login_id == login_id)).user_id


def _passkeys(in_app: Any, server: LiveServer, user_id: str) -> list[Identity]:
    with in_app(server):
        stmt = select(Identity).where(Identity.user_id == user_id, Identity.type == "passkey")
        return list(db.session.scalars(stmt.order_by(Identity.created_at)))


def _path(page: Any) -> str:
    return urlsplit(page.url).path


def _sign_in_with_password(page: Any, server: LiveServer, login_id: str, password: str) -> None:
    page.goto(server.url("/login"))
    page.get_by_label("Email, phone number or username").fill(login_id)
    submit(page)
    page.get_by_label("Password").fill(password)
    submit(page)


def _create_at_prompt(page: Any, shots: Any) -> None:
    assert _path(page) == "/authflow/v2/prompt_create_passkey", page.url
    shots.visit(page, "prompt_create_passkey")
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_url("**/authflow/v2/finish?**")
    assert_finished(page)


# -- the hosted pages -------------------------------------------------------------------------------
def test_sign_up_create_the_passkey_at_the_prompt_then_sign_in_with_the_button(pk_web, page, shots, in_app):
    server = pk_web()
    page.add_init_script(CONDITIONAL_PROBE)
    key = Virtual(page)
    username, password = "pk" + secrets.token_hex(4), random_password()
    page.goto(server.url("/signup"))
    page.get_by_label("Email, phone number or username").fill(username)
    submit(page)
    page.get_by_label("New password").fill(password)
    page.get_by_label("Confirm password").fill(password)
    submit(page)
    _create_at_prompt(page, shots)

    user_id = _user_id(in_app, server, username)
    [credential] = key.credentials()
    [identity] = _passkeys(in_app, server, user_id)
    assert identity.claims["display_name"] == username
    assert identity.dedup_key == "passkey:" + credential["credentialId"].replace("+", "-").replace("/", "_").rstrip("=")

    page.context.clear_cookies()
    # The autofill request waits (no user picks from the list) while the button is pressed: the
    # page ends it and asks with a modal request.
    key.presence(False)
    page.goto(server.url("/login"))
    shots.visit(page, "login_with_passkey")
    field = page.get_by_label("Email, phone number or username")
    assert field.get_attribute("autocomplete") == "username webauthn"
    page.wait_for_function("window.__passkeyConditional === true")
    key.presence(True)
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/authflow/v2/finish?**")
    assert_finished(page)
    assert page.evaluate("sessionStorage.getItem('modal')") == "resolved"  # the button's request signed in
    with in_app(server):
        session = db.session.scalar(
            select(IdPSession).where(IdPSession.user_id == user_id).order_by(IdPSession.created_at.desc())
        )
        assert session.amr == ["x_passkey"]
    assert session_cookie(page, server) is not None
    assert key.credentials()[0]["signCount"] >= 1


def test_sign_in_by_autofill(pk_web, page, in_app):
    """The login page asks with mediation "conditional"; the passkey picked in the login ID field's
    autofill list signs in with no button pressed."""
    server = pk_web()
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    key = Virtual(page)
    _sign_in_with_password(page, server, email, password)
    _create_at_prompt(page, _NoShots())
    assert len(key.credentials()) == 1

    page.context.clear_cookies()
    # Record each credentials.get the page makes, and what the page posts.
    mediations: list[str] = []
    page.expose_function("__recordMediation", lambda m: mediations.append(m))
    page.add_init_script(
        """(() => { const get = navigator.credentials.get.bind(navigator.credentials);
        navigator.credentials.get = (o) => {
          window.__recordMediation(o.mediation || 'modal'); return get(o); }; })();"""
    )
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.post_data or "") if r.method == "POST" else None)
    # The virtual authenticator answers the autofill list at once, as a user picking the passkey.
    page.goto(server.url("/login"))
    page.wait_for_url("**/authflow/v2/finish?**")
    assert_finished(page)
    assert mediations == ["conditional"]
    assert len(posted) == 1 and "x_action=passkey" in posted[0] and "x_assertion_response=" in posted[0]
    user_id = _user_id(in_app, server, email)
    with in_app(server):
        amrs = [s.amr for s in db.session.scalars(select(IdPSession).where(IdPSession.user_id == user_id))]
    assert ["x_passkey"] in amrs


class _NoShots:
    def visit(self, page: Any, name: str, axe: bool = True) -> None:
        page.wait_for_load_state("load")


def test_upsell_after_a_password_login_skip_and_dont_ask_again(pk_web, page, shots, in_app):
    server = pk_web({"ui": {"passkey_upselling_opt_out_enabled": True}})
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    Virtual(page)
    _sign_in_with_password(page, server, email, password)
    assert _path(page) == "/authflow/v2/prompt_create_passkey"
    shots.visit(page, "prompt_create_passkey_opt_out")
    page.get_by_role("button", name="Not now").click()
    assert_finished(page)
    user_id = _user_id(in_app, server, email)
    assert _passkeys(in_app, server, user_id) == []

    # Asked again at the next login, until "don't ask me again".
    page.context.clear_cookies()
    _sign_in_with_password(page, server, email, password)
    page.get_by_role("button", name="Don't ask me again").click()
    assert_finished(page)
    with in_app(server):
        assert db.session.get(User, user_id).opt_out_passkey_upsell is True
    page.context.clear_cookies()
    _sign_in_with_password(page, server, email, password)
    assert_finished(page)


def test_upsell_after_a_password_login_creates_the_passkey(pk_web, page, in_app):
    server = pk_web()
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    key = Virtual(page)
    _sign_in_with_password(page, server, email, password)
    assert page.get_by_role("button", name="Don't ask me again").count() == 0  # the opt-out is off
    _create_at_prompt(page, _NoShots())
    assert len(key.credentials()) == 1
    user_id = _user_id(in_app, server, email)
    assert len(_passkeys(in_app, server, user_id)) == 1
    # Not asked again once the user has a passkey (who signs in with the password here, not the autofill).
    page.context.clear_cookies()
    page.add_init_script(NO_AUTOFILL)
    _sign_in_with_password(page, server, email, password)
    assert_finished(page)


# -- settings ---------------------------------------------------------------------------------------
def _age_session(in_app: Any, server: LiveServer, user_id: str) -> None:
    with in_app(server):
        for s in db.session.scalars(select(IdPSession).where(IdPSession.user_id == user_id)):
            s.authenticated_at = s.authenticated_at - timedelta(hours=1)


def test_settings_add_a_second_passkey_and_remove_one(pk_web, page, shots, in_app):
    server = pk_web()
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    key = Virtual(page)
    _sign_in_with_password(page, server, email, password)
    _create_at_prompt(page, _NoShots())
    user_id = _user_id(in_app, server, email)

    page.goto(server.url("/settings"))
    page.get_by_role("link", name="Passkeys").click()
    assert _path(page) == "/settings/passkey"
    shots.visit(page, "settings_passkeys")
    assert page.locator(".row").count() == 1
    assert email in page.locator(".rows").inner_text()
    assert "Last used" not in page.locator(".rows").inner_text()  # created, never used to sign in

    # A second passkey from another device (this one's passkey is excluded by the options).
    key.replace()
    page.get_by_role("link", name="Add a passkey").click()
    assert _path(page) == "/settings/passkey/add"
    shots.visit(page, "settings_passkey_add")
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_url("**/settings/passkey")
    assert "Your passkey has been added." in page.locator("main").inner_text()
    assert page.locator(".row").count() == 2
    assert len(key.credentials()) == 1
    first, second = _passkeys(in_app, server, user_id)

    page.get_by_role("button", name=f"Remove {email}").first.click()
    page.wait_for_load_state("load")
    assert "It has been removed." in page.locator("main").inner_text()
    assert page.locator(".row").count() == 1
    assert [p.id for p in _passkeys(in_app, server, user_id)] == [second.id]


def test_settings_refuse_to_remove_the_last_way_to_sign_in(pk_web, page, shots, in_app):
    server = pk_web()
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    Virtual(page)
    _sign_in_with_password(page, server, email, password)
    _create_at_prompt(page, _NoShots())
    user_id = _user_id(in_app, server, email)
    with in_app(server):
        # The password goes (an admin removed it): the passkey is the only primary authenticator left.
        for auth in db.session.scalars(select(Authenticator).where(Authenticator.user_id == user_id)):
            if auth.type == "password":
                db.session.delete(auth)
    page.goto(server.url("/settings/passkey"))
    page.get_by_role("button", name=f"Remove {email}").click()
    page.wait_for_load_state("load")
    shots.visit(page, "settings_passkeys_error")
    assert "you would have no way left to sign in" in page.get_by_role("alert").inner_text()
    assert len(_passkeys(in_app, server, user_id)) == 1


def test_settings_changes_need_a_fresh_sign_in_which_a_passkey_gives(pk_web, page, shots, in_app):
    """An old session first runs the reauth flow; its use_passkey page signs in again with the
    passkey, and the flow comes back to the page that asked."""
    server = pk_web()
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    Virtual(page)
    _sign_in_with_password(page, server, email, password)
    _create_at_prompt(page, _NoShots())
    user_id = _user_id(in_app, server, email)
    _age_session(in_app, server, user_id)

    page.goto(server.url("/settings/passkey/add"))
    assert _path(page) in ("/authflow/v2/enter_password", "/authflow/v2/use_passkey"), page.url
    if _path(page) == "/authflow/v2/enter_password":
        page.get_by_role("link", name="Use a passkey").click()
    assert _path(page) == "/authflow/v2/use_passkey"
    shots.visit(page, "use_passkey")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/settings/passkey/add")
    assert page.get_by_role("button", name="Create a passkey").is_visible()

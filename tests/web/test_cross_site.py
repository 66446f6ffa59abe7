"""Login CSRF in Chromium: a page on another origin auto-submits a `<form enctype="text/plain">` whose
body is a Flow API `create` with a `batch_input` that signs in as the attacker. The victim's browser
must end without the IdP session. A custom UI on an allowed origin still signs in with `fetch`."""

from __future__ import annotations

import html
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.factories import random_password

pytestmark = pytest.mark.usefixtures("_catalogs")

FLOWS = "/api/v1/authentication_flows"


@pytest.fixture
def other_origin() -> Iterator[Callable[[str], str]]:
    """Serves one HTML page (inline script allowed) from another port on loopback; returns its URL
    under the given host name: `localhost` is another site than `127.0.0.1`, a port another origin."""
    servers: list[Any] = []

    def serve(page: str) -> Callable[[str], str]:
        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page.encode()]

        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return lambda host: f"http://{host}:{server.server_port}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _attacker(in_app: Any, server: Any) -> dict[str, Any]:
    """The attacker's own account, and the `create` body that signs it in. The password holds the
    one `=` of the body, where a text/plain form puts it between a field's name and value."""
    email, password = f"attacker-{secrets.token_hex(4)}@example.com", random_password() + "=x"
    with in_app(server) as svc:
        user = svc.users.create_user([("email", email)])
        svc.passwords.create(user.id, password, check_policy=False)
        svc.users.mark_verified(user.id, "email", email)
    return {
        "type": "login",
        "name": "default",
        "batch_input": [
            {"identification": "email", "login_id": email},
            {"authentication": "primary_password", "password": password},
        ],
    }


def _text_plain_form(action: str, body: dict[str, Any]) -> str:
    """JSON in a form: text/plain sends `name=value` unescaped, so the field's name carries the JSON
    up to its first `=` and the value the rest; the server receives the JSON document itself."""
    name, _, value = json.dumps(body).partition("=")
    return (
        "<!doctype html><html><body>"
        f'<form method="post" enctype="text/plain" action="{html.escape(action)}">'
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}"></form>'
        "<script>document.forms[0].submit()</script></body></html>"
    )


def _session_cookie(page: Any, server: Any) -> Any:
    return next((c for c in page.context.cookies(server.origin) if c["name"] == "session"), None)


@pytest.mark.parametrize("attacker_host", ["localhost", "127.0.0.1"], ids=["cross-site", "same-site-other-port"])
def test_auto_submitted_text_plain_form_does_not_sign_the_browser_in(web, page, in_app, other_origin, attacker_host):
    server = web()
    body = _attacker(in_app, server)
    evil = other_origin(_text_plain_form(server.url(FLOWS), body))(attacker_host)

    with page.expect_navigation(url=server.url(FLOWS)) as nav:
        page.goto(evil)
    response = nav.value
    assert response is not None
    assert response.status in (400, 403), response.text()
    assert "error" in response.json()

    assert _session_cookie(page, server) is None
    page.goto(server.url("/settings"))
    assert urlsplit(page.url).path != "/settings", "the browser is signed in as the attacker"


def test_custom_ui_on_an_allowed_origin_signs_in_with_fetch(web, page, in_app, other_origin):
    """The supported cross-origin use: a custom login UI on an allowed origin, CORS with credentials."""
    serve = other_origin(
        """<!doctype html><html><body><script>
        window.signIn = async (url, body) => {
          const resp = await fetch(url, {method: "POST", credentials: "include",
            headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
          return {status: resp.status, json: await resp.json()};
        };
        </script></body></html>"""
    )
    # The UI is on another port of the same host: another origin but the same site, as
    # auth-ui.example.com is to auth.example.com, so the SameSite=Lax cookie is kept.
    probe = serve("127.0.0.1")
    ui_origin = probe.rstrip("/")
    server = web({"http": {"allowed_origins": [ui_origin]}})
    body = _attacker(in_app, server)

    page.goto(probe)
    result = page.evaluate("([url, body]) => window.signIn(url, body)", [server.url(FLOWS), body])
    assert result["status"] == 200, result
    assert result["json"]["result"]["action"]["type"] == "finished"
    assert _session_cookie(page, server) is not None
    page.goto(server.url("/settings"))
    assert urlsplit(page.url).path == "/settings"


def test_a_hosted_page_form_posted_from_another_site_is_refused(web, page, shots, other_origin):
    """The hosted pages' own forms need no token when the browser says they are same-origin (as on
    Authgear's pages), so a form on another site must be refused whatever it carries."""
    server = web()
    page.goto(server.url("/login"))
    token = page.locator("input[name=csrf_token]").get_attribute("value")
    action = page.evaluate("document.querySelector('main form').action")
    form = (
        "<!doctype html><html><body>"
        f'<form method="post" action="{html.escape(action)}">'
        f'<input type="hidden" name="csrf_token" value="{html.escape(token)}">'
        '<input type="hidden" name="x_login_id" value="victim@example.com"></form>'
        "<script>document.forms[0].submit()</script></body></html>"
    )
    evil = other_origin(form)("localhost")
    with page.expect_navigation(url=action) as nav:
        page.goto(evil)
    assert nav.value is not None and nav.value.status == 400
    assert "This form has expired" in page.locator("main").inner_text()
    shots.visit(page, "error-csrf")

"""Authgear's oauth_provider_demo_credential page: a provider on the demo credentials
(`credentials_behavior: use_demo_credentials`, `sso.oauth.demo_credentials`) is confirmed on a page
before the browser leaves for it; Return goes back to the page the user came from."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.sso.conftest import google_provider
from tests.sso.test_pages import ALICE, SAME_ORIGIN, _callback, _choose, _entry, _finished, _identities, _leave

DEMO = {
    "items": [{"provider_config": {"type": "google", "client_id": "google-client"}, "client_secret": "google-secret"}]
}


def test_a_provider_on_demo_credentials_is_confirmed_first(sso_app, standins):
    provider = google_provider(credentials_behavior="use_demo_credentials")
    app = sso_app([provider], {}, extra_secrets={"sso.oauth.demo_credentials": DEMO})
    client = app.test_client()
    signup = _entry(client, "signup")
    resp = _choose(client, signup, "google")
    assert resp.status_code == 303
    demo = resp.headers["Location"]
    assert urlsplit(demo).path == "/authflow/v2/oauth_provider_demo_credential"
    body = client.get(demo).get_data(as_text=True)
    assert "Google OAuth Demo" in body and "Continue with Google (Demo)" in body
    assert "development keys" in body and f'href="{urlsplit(signup).path}?{urlsplit(signup).query}"' in body

    standins.next_user["google"] = {**ALICE, "sub": "108000000000000000901", "email": "demo@gmail.com"}
    confirmed = client.post(demo, headers=SAME_ORIGIN)
    _finished(client.get(_callback(standins, _leave(client, confirmed))))
    assert _identities(app) == 1

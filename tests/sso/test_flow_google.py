"""`identification: oauth` through the Authentication Flow API with Google (its stand-in reached at
accounts.google.com through E2E_HTTP_PROXY and E2E_TLS_CA_CERT_FILE), as Authgear's e2e/tests/oauth."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity, User, VerifiedClaim
from tests.sso.conftest import google_provider
from tests.sso.flowapi import (
    REDIRECT_URI,
    callback_query,
    choose_provider,
    create,
    error,
    follow,
    ok,
    send,
    sign_in_with,
)

ALICE = {
    "sub": "108000000000000000001",
    "email": "Alice@Gmail.COM",
    "email_verified": True,
    "name": "Alice Liddell",
    "given_name": "Alice",
    "family_name": "Liddell",
    "picture": "https://lh3.googleusercontent.com/a/alice",
    "locale": "en",
}


def _app(sso_app, **fields):
    return sso_app([google_provider()], {"google": "google-secret"}, **fields)


def test_identification_options_and_oauth_data_are_authgears(sso_app, standins):
    client = _app(sso_app).test_client()
    start = create(client, "signup")
    options = start["action"]["data"]["options"]
    assert options[0] == {
        "identification": "oauth",
        "provider_type": "google",
        "oauth_provider_type": "google",
        "alias": "google",
        "oauth_provider_alias": "google",
        "provider_status": "active",
    }
    assert [o["identification"] for o in options[1:]] == ["email", "phone", "username"]

    result = choose_provider(client, start["state_token"], "google")
    action = result["action"]
    assert action["type"] == "identify" and action["identification"] == "oauth"
    data = action["data"]
    url = data.pop("oauth_authorization_url")
    assert data == {
        "type": "oauth_data",
        "alias": "google",
        "oauth_provider_alias": "google",
        "oauth_provider_type": "google",
        "provider_status": "active",
    }
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "accounts.google.com", "/o/oauth2/v2/auth")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q["client_id"] == "google-client" and q["redirect_uri"] == REDIRECT_URI
    assert q["scope"] == "openid profile email" and q["response_type"] == "code" and q["prompt"] == "select_account"
    # Beyond Authgear: a nonce and a PKCE challenge, kept in the flow's server-side state.
    assert len(q["nonce"]) >= 32 and q["code_challenge_method"] == "S256" and q["code_challenge"]
    assert "state" not in q  # the caller's own (the hosted pages add theirs)
    # The discovery document came through the E2E proxy, as a CONNECT to the real host.
    assert "accounts.google.com:443" in standins.proxy.seen


def test_signup_then_login_with_google(sso_app, standins):
    app = _app(sso_app)
    client = app.test_client()
    standins.next_user["google"] = ALICE
    finished = sign_in_with(client, standins, "signup", "google")
    assert finished["action"]["type"] == "finished"
    with app.app_context():
        identity = db.session.scalar(select(Identity).where(Identity.type == "oauth"))
        assert identity.provider_type == "google" and identity.provider_alias == "google"
        assert identity.provider_subject_id == ALICE["sub"]
        assert identity.claims["email"] == "Alice@gmail.com"  # the domain is case-insensitive
        assert identity.provider_profile["iss"] == "https://accounts.google.com"
        user = db.session.get(User, identity.user_id)
        assert user.standard_attributes["given_name"] == "Alice"
        assert user.standard_attributes["picture"] == ALICE["picture"]
        verified = db.session.scalars(select(VerifiedClaim.value).where(VerifiedClaim.user_id == user.id)).all()
        assert verified == ["Alice@gmail.com"]

    again = sign_in_with(app.test_client(), standins, "login", "google")
    assert again["action"]["type"] == "finished"
    # The same provider account cannot sign up twice.
    dup = create(client, "signup")
    data = choose_provider(client, dup["state_token"], "google")
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    err = error(send(client, data["state_token"], {"query": query}))
    assert (err["name"], err["reason"], err["info"]["cause"]) == (
        "Invalid",
        "InvariantViolated",
        {"kind": "DuplicatedIdentity"},
    )
    assert err["info"]["IdentityTypeIncoming"] == "oauth" and err["info"]["OAuthProviderTypeExisting"] == "google"


def test_signup_login_switches_to_signup_then_login(sso_app, standins):
    app = _app(sso_app)
    standins.next_user["google"] = {**ALICE, "sub": "108000000000000000002", "email": "carol@gmail.com"}
    first = sign_in_with(app.test_client(), standins, "signup_login", "google")
    assert (first["type"], first["action"]["type"]) == ("signup", "finished")
    second = sign_in_with(app.test_client(), standins, "signup_login", "google")
    assert (second["type"], second["action"]["type"]) == ("login", "finished")


def test_login_with_an_unknown_account_is_user_not_found(sso_app, standins):
    client = _app(sso_app).test_client()
    standins.next_user["google"] = {**ALICE, "sub": "nobody", "email": "nobody@gmail.com"}
    start = create(client, "login")
    data = choose_provider(client, start["state_token"], "google")
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    err = error(send(client, data["state_token"], {"query": query}))
    assert (err["name"], err["reason"]) == ("NotFound", "UserNotFound")
    assert err["info"]["IdentityTypeIncoming"] == "oauth" and err["info"]["OAuthProviderTypeIncoming"] == "google"


def test_cancel_at_the_provider_is_oauth_error_and_the_state_stays_usable(sso_app, standins):
    client = _app(sso_app).test_client()
    standins.deny.add("google")
    try:
        start = create(client, "signup")
        data = choose_provider(client, start["state_token"], "google")
        query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    finally:
        standins.deny.discard("google")
    err = error(send(client, data["state_token"], {"query": query}))
    assert (err["name"], err["reason"], err["code"]) == ("BadRequest", "OAuthError", 400)
    assert err["info"]["error"] == "access_denied" and err["info"]["provider_type"] == "google"
    assert err["info"]["error_category"] == "cancelled"
    # The older input shape, as Authgear's earlier flow API took it, gives the same answer.
    legacy = error(send(client, data["state_token"], {"error": "access_denied"}))
    assert legacy["reason"] == "OAuthError"


def test_a_replayed_or_forged_code_is_refused(sso_app, standins):
    client = _app(sso_app).test_client()
    standins.next_user["google"] = {**ALICE, "sub": "108000000000000000003"}
    start = create(client, "signup")
    data = choose_provider(client, start["state_token"], "google")
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    forged = error(send(client, data["state_token"], {"query": "code=forged"}))
    assert (forged["reason"], forged["info"]["error"]) == ("OAuthError", "invalid_grant")
    ok(send(client, data["state_token"], {"query": query}))
    # The flow finished with it: its states are gone, and the code is spent at the provider.
    replayed = error(send(client, data["state_token"], {"query": query}))
    assert replayed["reason"] == "AuthenticationFlowNotFound"


def test_a_code_from_another_flow_fails_its_pkce_and_nonce(sso_app, standins):
    """The code answers the first flow's challenge; a second flow holds another verifier."""
    client = _app(sso_app).test_client()
    standins.next_user["google"] = {**ALICE, "sub": "108000000000000000004"}
    one = choose_provider(client, create(client, "signup")["state_token"], "google")
    two = choose_provider(client, create(client, "signup")["state_token"], "google")
    query = callback_query(standins, one["action"]["data"]["oauth_authorization_url"])
    err = error(send(client, two["state_token"], {"query": query}))
    assert err["reason"] == "OAuthError" and err["info"]["error"] == "invalid_grant"


def test_unknown_alias_and_bad_input_are_refused(sso_app):
    client = _app(sso_app).test_client()
    token = create(client, "signup")["state_token"]
    bad = error(send(client, token, {"identification": "oauth", "alias": "nope", "redirect_uri": REDIRECT_URI}))
    assert bad["reason"] == "ValidationFailed" and bad["info"]["causes"][0]["location"] == "/alias"
    missing = error(send(client, token, {"identification": "oauth", "alias": "google"}))
    assert missing["reason"] == "ValidationFailed"
    data = choose_provider(client, token, "google")
    wrong = error(send(client, data["state_token"], {"identification": "email", "login_id": "a@example.com"}))
    assert wrong["reason"] == "ValidationFailed"


def test_missing_credentials_and_demo_credentials(sso_app, standins):
    provider = google_provider(credentials_behavior="use_demo_credentials")
    client = sso_app([provider], {"google": ""}).test_client()
    start = create(client, "login")
    assert start["action"]["data"]["options"][0]["provider_status"] == "missing_credentials"
    err = error(
        send(
            client, start["state_token"], {"identification": "oauth", "alias": "google", "redirect_uri": "http://mock"}
        )
    )
    assert err == {
        "name": "Invalid",
        "reason": "OAuthProviderMissingCredentials",
        "message": "oauth provider is missing credentials",
        "code": 400,
        "info": {"OAuthProviderAlias": "google", "OAuthProviderType": "google", "FlowType": "login"},
    }
    demo = {
        "items": [
            {"provider_config": {"type": "google", "client_id": "google-client"}, "client_secret": "google-secret"}
        ]
    }
    client = sso_app([provider], {"google": ""}, extra_secrets={"sso.oauth.demo_credentials": demo}).test_client()
    start = create(client, "login")
    assert start["action"]["data"]["options"][0]["provider_status"] == "using_demo_credentials"
    data = choose_provider(client, start["state_token"], "google")
    assert data["action"]["data"]["provider_status"] == "using_demo_credentials"
    assert "client_id=google-client" in data["action"]["data"]["oauth_authorization_url"]


def test_a_provider_that_does_not_answer_is_an_error_not_a_hang(sso_app, standins):
    client = _app(sso_app, sso_http_timeout=1.0).test_client()
    start = create(client, "signup")
    standins.delay["google"] = 2.5
    try:
        err = error(
            send(
                client,
                start["state_token"],
                {"identification": "oauth", "alias": "google", "redirect_uri": REDIRECT_URI},
            )
        )
    finally:
        standins.delay.pop("google")
    assert (err["name"], err["reason"], err["info"]["error"]) == ("BadRequest", "OAuthError", "temporarily_unavailable")


def test_oauth_is_a_browser_free_round_trip_only_over_https_to_the_provider(standins):
    """The stand-in refuses a client it does not know, as Google does."""
    resp = follow(standins, "https://accounts.google.com/o/oauth2/v2/auth?client_id=other&redirect_uri=x")
    assert resp.status_code == 400

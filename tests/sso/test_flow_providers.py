"""Each provider type through the Flow API against a real upstream: Apple (form_post, ES256 client
secret), GitHub (user + verified emails), Facebook (appsecret_proof), Microsoft Entra ID (oid),
LinkedIn (UserInfo), Azure AD B2C (`emails`), the generic `oidc` type and AD FS against node
oidc-provider. Each maps its profile as Authgear does."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity, User
from tests.sso.conftest import UPSTREAM_SECRET
from tests.sso.flowapi import REDIRECT_URI, callback_query, choose_provider, create, error, follow, ok, send


def _identity(app):
    with app.app_context():
        identity = db.session.scalar(select(Identity).where(Identity.type == "oauth"))
        user = db.session.get(User, identity.user_id)
        return identity, dict(user.standard_attributes)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action, self.fields = "", {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a["action"]
        if tag == "input":
            self.fields[a["name"]] = a["value"]


def test_apple_form_post_with_the_first_time_name(sso_app, standins):
    conf = standins.clients["apple"]
    provider = {
        "alias": "apple",
        "type": "apple",
        "client_id": conf["client_id"],
        "team_id": conf["team_id"],
        "key_id": conf["key_id"],
    }
    app = sso_app([provider], {"apple": conf["client_secret"]})
    client = app.test_client()
    standins.next_user["apple"] = {
        "sub": "001234.abcdef.1234",
        "email": "x7y8z9@privaterelay.appleid.com",
        "email_verified": "true",
        "is_private_email": "true",
        "first_time_name": {"firstName": "Ada", "lastName": "Lovelace"},
    }
    start = create(client, "signup")
    data = choose_provider(client, start["state_token"], "apple", response_mode="form_post")
    url = data["action"]["data"]["oauth_authorization_url"]
    q = parse_qs(urlsplit(url).query)
    assert q["response_mode"] == ["form_post"] and q["scope"] == ["name email"] and "prompt" not in q
    page = follow(standins, url)
    form = _Form()
    form.feed(page.text)
    assert form.action == REDIRECT_URI and "user" in form.fields
    ok(send(client, data["state_token"], {"query": urlencode(form.fields)}))
    identity, attrs = _identity(app)
    assert identity.provider_subject_id == "001234.abcdef.1234"
    assert (attrs["given_name"], attrs["family_name"]) == ("Ada", "Lovelace")
    assert identity.dedup_key.startswith('oauth:apple:{"team_id":"TEAM123456"}:')

    # Later authorizations carry no name: the stored one stays.
    standins.next_user["apple"] = {k: v for k, v in standins.next_user["apple"].items() if k != "first_time_name"}
    login = choose_provider(client, create(client, "login")["state_token"], "apple", response_mode="form_post")
    form = _Form()
    form.feed(follow(standins, login["action"]["data"]["oauth_authorization_url"]).text)
    ok(send(client, login["state_token"], {"query": urlencode(form.fields)}))
    identity, _ = _identity(app)
    assert identity.claims["given_name"] == "Ada"


def test_apple_with_a_wrong_key_is_refused_as_invalid_client(sso_app, standins):
    from tests.sso.standins import apple_p8_key

    conf = standins.clients["apple"]
    provider = {
        "alias": "apple",
        "type": "apple",
        "client_id": conf["client_id"],
        "team_id": conf["team_id"],
        "key_id": conf["key_id"],
    }
    client = sso_app([provider], {"apple": apple_p8_key()[0]}).test_client()
    standins.next_user["apple"] = {"sub": "001", "email": "a@b.example"}
    data = choose_provider(client, create(client, "signup")["state_token"], "apple", response_mode="form_post")
    form = _Form()
    form.feed(follow(standins, data["action"]["data"]["oauth_authorization_url"]).text)
    err = error(send(client, data["state_token"], {"query": urlencode(form.fields)}))
    assert (err["reason"], err["info"]["error"], err["info"]["provider_type"]) == (
        "OAuthError",
        "invalid_client",
        "apple",
    )


def test_github_takes_the_primary_verified_email_when_the_profile_hides_it(sso_app, standins):
    app = sso_app([{"alias": "github", "type": "github", "client_id": "github-client"}], {"github": "github-secret"})
    client = app.test_client()
    standins.next_user["github"] = {
        "id": 583231,
        "login": "octocat",
        "email": None,
        "avatar_url": "https://avatars.githubusercontent.com/u/583231",
        "html_url": "https://github.com/octocat",
        "emails": [
            {"email": "unverified@example.com", "primary": False, "verified": False},
            {"email": "octo@example.com", "primary": True, "verified": True},
        ],
    }
    start = create(client, "signup")
    data = choose_provider(client, start["state_token"], "github")
    q = parse_qs(urlsplit(data["action"]["data"]["oauth_authorization_url"]).query)
    assert q["scope"] == ["read:user user:email"] and "nonce" not in q
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    ok(send(client, data["state_token"], {"query": query}))
    identity, attrs = _identity(app)
    assert identity.provider_subject_id == "583231"
    assert attrs["email"] == "octo@example.com" and attrs["given_name"] == "octocat"
    assert attrs["profile"] == "https://github.com/octocat"

    bad = choose_provider(client, create(client, "login")["state_token"], "github")
    err = error(send(client, bad["state_token"], {"query": "code=stale"}))
    assert (err["reason"], err["info"]["error"]) == ("OAuthError", "bad_verification_code")


def test_github_without_a_verified_email_is_email_required(sso_app, standins):
    client = sso_app(
        [{"alias": "github", "type": "github", "client_id": "github-client"}], {"github": "github-secret"}
    ).test_client()
    standins.next_user["github"] = {
        "id": 9,
        "login": "ghost",
        "email": None,
        "emails": [{"email": "g@x.example", "primary": True, "verified": False}],
    }
    data = choose_provider(client, create(client, "signup")["state_token"], "github")
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    err = error(send(client, data["state_token"], {"query": query}))
    assert (err["name"], err["reason"], err["info"]["ProviderType"]) == (
        "BadRequest",
        "StandardAttributesEmailRequired",
        "github",
    )


def test_facebook_with_appsecret_proof(sso_app, standins):
    app = sso_app(
        [{"alias": "facebook", "type": "facebook", "client_id": "1234567890"}], {"facebook": "facebook-secret"}
    )
    client = app.test_client()
    standins.next_user["facebook"] = {
        "id": "10158000000000001",
        "email": "fb@example.com",
        "first_name": "Mark",
        "last_name": "Z",
        "name": "Mark Z",
        "short_name": "Mark",
        "picture": {"data": {"url": "https://platform-lookaside.fbsbx.com/p.jpg", "is_silhouette": False}},
    }
    data = choose_provider(client, create(client, "signup")["state_token"], "facebook")
    assert data["action"]["data"]["oauth_authorization_url"].startswith("https://www.facebook.com/v11.0/dialog/oauth?")
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    ok(send(client, data["state_token"], {"query": query}))
    identity, attrs = _identity(app)
    assert identity.dedup_key.startswith('oauth:facebook:{"client_id":"1234567890"}:')
    assert (attrs["nickname"], attrs["picture"]) == ("Mark", "https://platform-lookaside.fbsbx.com/p.jpg")


def test_microsoft_entra_id_names_the_user_by_oid(sso_app, standins):
    provider = {
        "alias": "microsoft",
        "type": "azureadv2",
        "client_id": "entra-client",
        "tenant": "contoso.onmicrosoft.com",
    }
    app = sso_app([provider], {"microsoft": "entra-secret"})
    client = app.test_client()
    standins.next_user["azureadv2"] = {
        "sub": "pairwise-sub",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "tid": "tenant-guid-1",
        "email": "adele@contoso.example",
        "name": "Adele Vance",
        "preferred_username": "adele@contoso.example",
    }
    data = choose_provider(client, create(client, "signup")["state_token"], "microsoft")
    url = data["action"]["data"]["oauth_authorization_url"]
    assert url.startswith("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize?")
    query = callback_query(standins, url)
    ok(send(client, data["state_token"], {"query": query}))
    identity, attrs = _identity(app)
    assert identity.provider_subject_id == "00000000-0000-0000-66f3-3332eca7ea81"
    assert identity.dedup_key.startswith('oauth:azureadv2:{"tenant":"contoso.onmicrosoft.com"}:')
    assert attrs["email"] == "adele@contoso.example"


def test_linkedin_takes_the_profile_from_userinfo(sso_app, standins):
    provider = {"alias": "linkedin", "type": "linkedin", "client_id": "86linkedin"}
    app = sso_app([provider], {"linkedin": "linkedin-secret"})
    client = app.test_client()
    standins.next_user["linkedin"] = {
        "sub": "782bbtaQ",
        "name": "John Doe",
        "given_name": "John",
        "family_name": "Doe",
        "picture": "https://media.licdn.com/dms/image/john.jpg",
        "locale": "en-US",
        "email": "doe@example.com",
        "email_verified": True,
    }
    data = choose_provider(client, create(client, "signup")["state_token"], "linkedin")
    url = data["action"]["data"]["oauth_authorization_url"]
    assert url.startswith("https://www.linkedin.com/oauth/v2/authorization?")
    query = callback_query(standins, url)
    ok(send(client, data["state_token"], {"query": query}))
    identity, attrs = _identity(app)
    assert identity.provider_subject_id == "782bbtaQ"
    assert identity.dedup_key.startswith('oauth:linkedin:{"client_id":"86linkedin"}:')
    assert (attrs["email"], attrs["given_name"], attrs["family_name"]) == ("doe@example.com", "John", "Doe")
    # The profile came from UserInfo, asked with the access token the token endpoint gave.
    assert ("api.linkedin.com", "GET", "/v2/userinfo") in standins.requests


def test_azure_ad_b2c_takes_the_last_of_the_emails(sso_app, standins):
    provider = {
        "alias": "b2c",
        "type": "azureadb2c",
        "client_id": "b2c-client",
        "tenant": "contosob2c",
        "policy": "B2C_1_signupsignin",
    }
    app = sso_app([provider], {"b2c": "b2c-secret"})
    client = app.test_client()
    standins.next_user["azureadb2c"] = {
        "sub": "a5e8b6c4-0f4e-4c44-9c1b-7e0d6d3f2a11",
        "name": "Megan Bowen",
        "given_name": "Megan",
        "family_name": "Bowen",
        "emails": ["old@contoso.example", "megan@contoso.example"],
    }
    data = choose_provider(client, create(client, "signup")["state_token"], "b2c")
    url = data["action"]["data"]["oauth_authorization_url"]
    assert url.startswith(
        "https://contosob2c.b2clogin.com/contosob2c.onmicrosoft.com/B2C_1_signupsignin/oauth2/v2.0/authorize?"
    )
    query = callback_query(standins, url)
    ok(send(client, data["state_token"], {"query": query}))
    identity, attrs = _identity(app)
    assert identity.provider_subject_id == "a5e8b6c4-0f4e-4c44-9c1b-7e0d6d3f2a11"
    assert identity.dedup_key.startswith('oauth:azureadb2c:{"tenant":"contosob2c"}:')
    assert (attrs["email"], attrs["name"]) == ("megan@contoso.example", "Megan Bowen")


def _upstream_app(sso_app, upstream, provider_type):
    upstream.start([REDIRECT_URI])
    provider = {
        "alias": "corp",
        "type": provider_type,
        "client_id": "gatehouse",
        "discovery_document_endpoint": upstream.discovery,
    }
    # The upstream runs on loopback: no proxy (standard NO_PROXY rules apply without E2E_HTTP_PROXY).
    return sso_app([provider], {"corp": UPSTREAM_SECRET}, sso_http_proxy=None, sso_tls_ca_cert_file=None)


def test_generic_oidc_against_node_oidc_provider(sso_app, upstream):
    app = _upstream_app(sso_app, upstream, "oidc")
    client = app.test_client()
    data = choose_provider(client, create(client, "signup")["state_token"], "corp")
    url = data["action"]["data"]["oauth_authorization_url"]
    q = parse_qs(urlsplit(url).query)
    assert q["code_challenge_method"] == ["S256"] and q["nonce"] and q["scope"] == ["openid profile email"]
    query = urlsplit(upstream.sign_in(url, "alice")).query
    ok(send(client, data["state_token"], {"query": query}))
    identity, attrs = _identity(app)
    assert identity.provider_type == "oidc" and identity.provider_subject_id == "alice"
    assert attrs["email"] == "alice@example.com" and attrs["name"] == "Alice Liddell"

    login = choose_provider(client, create(client, "login")["state_token"], "corp")
    done = ok(
        send(
            client,
            login["state_token"],
            {"query": urlsplit(upstream.sign_in(login["action"]["data"]["oauth_authorization_url"], "alice")).query},
        )
    )
    assert done["action"]["type"] == "finished"


def test_adfs_takes_upn_against_node_oidc_provider(sso_app, upstream):
    app = _upstream_app(sso_app, upstream, "adfs")
    client = app.test_client()
    data = choose_provider(client, create(client, "signup")["state_token"], "corp")
    query = urlsplit(upstream.sign_in(data["action"]["data"]["oauth_authorization_url"], "bob")).query
    ok(send(client, data["state_token"], {"query": query}))
    identity, attrs = _identity(app)
    assert identity.provider_type == "adfs" and identity.provider_subject_id == "bob"
    assert attrs["preferred_username"] == "bob@corp.example.org" and attrs["email"] == "bob@example.org"


def test_an_id_token_for_another_client_is_refused(sso_app, upstream):
    """The ID token's audience must be our client ID (OIDC Core 3.1.3.7 step 3)."""
    upstream.start([REDIRECT_URI])
    provider = {
        "alias": "corp",
        "type": "oidc",
        "client_id": "gatehouse",
        "discovery_document_endpoint": upstream.discovery,
    }
    app = sso_app([provider], {"corp": "wrong-secret"}, sso_http_proxy=None, sso_tls_ca_cert_file=None)
    client = app.test_client()
    data = choose_provider(client, create(client, "signup")["state_token"], "corp")
    query = urlsplit(upstream.sign_in(data["action"]["data"]["oauth_authorization_url"], "alice")).query
    err = error(send(client, data["state_token"], {"query": query}))
    assert (err["reason"], err["info"]["error"]) == ("OAuthError", "invalid_client")

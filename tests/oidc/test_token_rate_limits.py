"""The token endpoint's rate limits, Authgear's fixed ones: 120 requests per minute per IP, 60 user
grants per minute per user, client_credentials 5 per minute per client and 20 for the project;
refused as 429 `x_rate_limited`; all off with `rate_limits.disabled` in authgear.features.yaml."""

from __future__ import annotations

import pytest

from app.config import deep_merge
from app.features import default_features
from tests.oidc.helpers import M2M, SPA, basic, client_secret, oidc_overrides, oidc_secrets, register_resource

API = "https://api.example.com"
RATE_LIMITED = {"error": "x_rate_limited", "error_description": "rate limit exceeded, please try again later."}


def _cc(client, app, client_id=M2M):
    data = {"grant_type": "client_credentials", "resource": API}
    return client.post("/oauth2/token", data=data, headers=basic(client_id, client_secret(app, client_id)))


@pytest.fixture
def two_m2m_clients():
    second = {"client_id": "m2m-two", "x_application_type": "m2m", "name": "Second", "redirect_uris": []}
    return deep_merge(oidc_overrides(), {"oauth": {"clients": [*oidc_overrides()["oauth"]["clients"], second]}})


def test_client_credentials_five_per_client_then_x_rate_limited(make_app, secrets_items, two_m2m_clients):
    items = [*secrets_items]
    for item in items:
        if item["key"] == "oauth.client_secrets":
            m2m = next(i for i in item["data"]["items"] if i["client_id"] == M2M)
            item["data"]["items"].append({"client_id": "m2m-two", "keys": m2m["keys"]})
    app = make_app(two_m2m_clients, secrets=oidc_secrets(items))
    register_resource(app, API, [M2M, "m2m-two"], ["read"])
    client = app.test_client()
    assert [_cc(client, app).status_code for _ in range(5)] == [200] * 5
    refused = _cc(client, app)
    assert (refused.status_code, refused.get_json()) == (429, RATE_LIMITED)
    # Another client has five of its own, within the project's twenty.
    assert _cc(client, app, "m2m-two").status_code == 200


def test_client_credentials_twenty_per_project(make_app, secrets_items):
    clients = [{"client_id": f"m2m-{i}", "x_application_type": "m2m", "name": f"M{i}"} for i in range(5)]
    overrides = deep_merge(oidc_overrides(), {"oauth": {"clients": [*oidc_overrides()["oauth"]["clients"], *clients]}})
    items = [*secrets_items]
    for item in items:
        if item["key"] == "oauth.client_secrets":
            keys = next(i for i in item["data"]["items"] if i["client_id"] == M2M)["keys"]
            item["data"]["items"] += [{"client_id": c["client_id"], "keys": keys} for c in clients]
    app = make_app(overrides, secrets=oidc_secrets(items))
    register_resource(app, API, [c["client_id"] for c in clients], ["read"])
    client = app.test_client()
    answers = [_cc(client, app, c["client_id"]).status_code for c in clients for _ in range(4)]
    assert answers == [200] * 20
    assert _cc(client, app, "m2m-0").get_json() == RATE_LIMITED


def test_every_token_request_counts_per_ip(oidc_app):
    client = oidc_app.test_client()
    answers = [client.post("/oauth2/token", data={"grant_type": "password"}).status_code for _ in range(120)]
    assert set(answers) == {400}  # unsupported grant type, counted all the same
    refused = client.post("/oauth2/token", data={"grant_type": "password"})
    assert (refused.status_code, refused.get_json()) == (429, RATE_LIMITED)
    # Another address has its own count.
    other = client.post("/oauth2/token", data={"grant_type": "password"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 400


def test_sixty_refreshes_per_user_per_minute(oidc_app):
    from app.context import RequestContext
    from app.extensions import db
    from tests.oidc.helpers import new_session

    with oidc_app.app_context():
        provider = oidc_app.extensions["gatehouse_oidc"]
        user, _ = new_session(oidc_app.extensions["gatehouse"])
        client_config = provider.clients.get(SPA)
        tokens = []
        for _ in range(2):
            _, token = provider.offline_grants.create(
                client=client_config,
                user_id=user.id,
                scopes=["openid", "offline_access"],
                idp_session_id=None,
                auth_time=provider.clock(),
                amr=["pwd"],
                ctx=RequestContext(),
            )
            tokens.append(token)
        db.session.commit()
    client = oidc_app.test_client()

    def refresh(token, ip):
        data = {"grant_type": "refresh_token", "client_id": SPA, "refresh_token": token}
        return client.post("/oauth2/token", data=data, environ_base={"REMOTE_ADDR": ip})

    # Spread over addresses (each has 120): the user's sixty are what runs out, whichever grant.
    answers = [refresh(tokens[i % 2], f"10.0.0.{i % 3}").status_code for i in range(60)]
    assert answers == [200] * 60
    refused = refresh(tokens[0], "10.0.0.9")
    assert (refused.status_code, refused.get_json()) == (429, RATE_LIMITED)


def test_rate_limits_disabled_in_the_feature_config(make_app, secrets_items):
    features = deep_merge(default_features(), {"rate_limits": {"disabled": True}})
    app = make_app(oidc_overrides(), secrets=oidc_secrets(secrets_items), features=features)
    register_resource(app, API, [M2M], ["read"])
    client = app.test_client()
    assert [_cc(client, app).status_code for _ in range(8)] == [200] * 8

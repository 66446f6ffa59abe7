"""`identity.oauth.providers`, `sso.oauth.client` and the feature config, as Authgear checks them at
start; the E2E_HTTP_PROXY / E2E_TLS_CA_CERT_FILE / GATEHOUSE_SSO_HTTP_TIMEOUT environment."""

from __future__ import annotations

import pytest
import yaml

from app.config import ConfigError, load_config, validate_project

BASE = {"id": "p", "http": {"public_origin": "http://localhost:3000"}}


def _project(*providers):
    return {**BASE, "identity": {"oauth": {"providers": list(providers)}}}


def test_defaults_follow_authgear():
    project, _ = validate_project(
        _project(
            {"alias": "g", "type": "google", "client_id": "c", "modify_disabled": True},
            {"alias": "w", "type": "wechat", "client_id": "c", "app_type": "web", "account_id": "gh_1"},
        )
    )
    google, wechat = project["identity"]["oauth"]["providers"]
    assert "modify_disabled" not in google  # deprecated: folded into create/delete_disabled
    assert (google["create_disabled"], google["delete_disabled"]) == (True, True)
    assert google["claims"] == {"email": {"assume_verified": True, "required": True}}
    assert wechat["claims"] == {"email": {"assume_verified": True, "required": False}}
    assert (wechat["create_disabled"], wechat["delete_disabled"]) == (False, False)


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ({"alias": "a", "type": "myspace", "client_id": "c"}, "/identity/oauth/providers/0/type"),
        ({"alias": "a", "type": "apple", "client_id": "c", "team_id": "t"}, "'key_id' is a required property"),
        ({"alias": "a", "type": "azureadv2", "client_id": "c"}, "'tenant' is a required property"),
        ({"alias": "a", "type": "azureadb2c", "client_id": "c", "tenant": "t"}, "'policy' is a required property"),
        ({"alias": "a", "type": "adfs", "client_id": "c"}, "'discovery_document_endpoint' is a required property"),
        (
            {"alias": "a", "type": "oidc", "client_id": "c", "discovery_document_endpoint": "not a url"},
            "does not match",
        ),
        ({"alias": "", "type": "google", "client_id": "c"}, "/identity/oauth/providers/0/alias"),
        ({"alias": "a", "type": "google"}, "'client_id' is a required property"),
        ({"alias": "a", "type": "google", "client_id": "c", "x": 1}, "Additional properties"),
        ({"alias": "a", "type": "wechat", "client_id": "c", "app_type": "tv", "account_id": "gh_1"}, "app_type"),
    ],
)
def test_invalid_providers_stop_the_start(provider, expected):
    with pytest.raises(ConfigError) as exc:
        validate_project(_project(provider))
    assert expected in str(exc.value)


def test_demo_credentials_need_no_client_id_and_aliases_are_unique():
    validate_project(_project({"alias": "f", "type": "facebook", "credentials_behavior": "use_demo_credentials"}))
    with pytest.raises(ConfigError, match="duplicated OAuth provider alias"):
        validate_project(
            _project(
                {"alias": "g", "type": "google", "client_id": "a"}, {"alias": "g", "type": "github", "client_id": "b"}
            )
        )


def _write(folder, project, secrets, features=None):
    (folder / "authgear.yaml").write_text(yaml.safe_dump(project))
    (folder / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": secrets}))
    if features is not None:
        (folder / "authgear.features.yaml").write_text(yaml.safe_dump(features))


def test_load_config_checks_secrets_features_and_reads_the_e2e_environment(tmp_path):
    google = {"alias": "google", "type": "google", "client_id": "c"}
    _write(tmp_path, _project(google), [])
    env = {"GATEHOUSE_CONFIG_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="OAuth SSO provider client credentials"):
        load_config(env=env)
    _write(tmp_path, _project(google), [{"key": "sso.oauth.client", "data": {"items": [{"alias": "google"}]}}])
    with pytest.raises(ConfigError, match="client_secret is required"):
        load_config(env=env)
    secrets = [{"key": "sso.oauth.client", "data": {"items": [{"alias": "google", "client_secret": "s"}]}}]
    _write(
        tmp_path,
        _project(google, {**google, "alias": "g2"}),
        secrets,
        {"identity": {"oauth": {"maximum_providers": 1}}},
    )
    with pytest.raises(ConfigError, match="exceed the maximum number of sso providers, actual: 2, expected: 1"):
        load_config(env=env)
    _write(tmp_path, _project(google), secrets, {"identity": {"oauth": {"providers": {"google": {"disabled": True}}}}})
    cfg = load_config(
        env={
            **env,
            "E2E_HTTP_PROXY": "http://proxy:8080",
            "E2E_TLS_CA_CERT_FILE": "/ca.pem",
            "GATEHOUSE_SSO_HTTP_TIMEOUT": "3",
        }
    )
    assert (cfg.sso_http_proxy, cfg.sso_tls_ca_cert_file, cfg.sso_http_timeout) == ("http://proxy:8080", "/ca.pem", 3.0)
    assert "sso.oauth.client" not in cfg.unimplemented_secrets
    assert not cfg.unimplemented_features


def test_a_type_the_plan_turns_off_is_not_offered(sso_app):
    from tests.sso.conftest import google_provider
    from tests.sso.flowapi import create

    features = {"identity": {"oauth": {"maximum_providers": 99, "providers": {"google": {"disabled": True}}}}}
    app = sso_app([google_provider()], {"google": "google-secret"}, features=features)
    options = create(app.test_client(), "signup")["action"]["data"]["options"]
    assert [o["identification"] for o in options] == ["email", "phone", "username"]

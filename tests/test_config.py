"""authgear.yaml / authgear.secrets.yaml / environment: defaults, validation at start, overrides."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import create_app
from app.config import ConfigError, load_config, normalize_database_url, parse_duration, validate_project
from tests.factories import TEST_PROJECT

MINIMAL = {"id": "myapp", "http": {"public_origin": "https://accounts.example.com"}}


def with_(**changes: Any) -> dict[str, Any]:
    doc = dict(MINIMAL)
    doc.update(changes)
    return doc


def config_error(raw: Any) -> str:
    with pytest.raises(ConfigError) as info:
        validate_project(raw)
    return str(info.value)


def write_project(directory: Path, project: Any = None, secrets: Any = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = project if isinstance(project, str) else yaml.safe_dump(project or MINIMAL)
    (directory / "authgear.yaml").write_text(text)
    if secrets is not None:
        (directory / "authgear.secrets.yaml").write_text(
            secrets if isinstance(secrets, str) else yaml.safe_dump(secrets)
        )
    return directory


# -- defaults (contract section 8) ------------------------------------------------------------


def test_authgear_defaults_are_applied():
    project, unimplemented = validate_project(MINIMAL)
    assert unimplemented == []
    assert project["http"]["cookie_prefix"] == ""
    assert project["http"]["allowed_origins"] == []
    assert project["identity"]["login_id"]["keys"] == [{"key": "email", "type": "email", "max_length": 320}]
    email = project["identity"]["login_id"]["types"]["email"]
    assert email["case_sensitive"] is False and email["block_plus_sign"] is False and email["ignore_dot_sign"] is False
    username = project["identity"]["login_id"]["types"]["username"]
    assert username["block_reserved_usernames"] is True and username["ascii_only"] is True
    auth = project["authentication"]
    assert auth["identities"] == ["oauth", "login_id"]
    assert auth["primary_authenticators"] == ["password"]
    assert auth["secondary_authenticators"] == ["totp"]
    assert auth["secondary_authentication_mode"] == "if_exists"
    assert auth["device_token"] == {"disabled": False, "expire_in_days": 30}
    assert auth["recovery_code"] == {"disabled": False, "count": 16, "list_enabled": False}
    assert auth["public_signup_disabled"] is False
    password = project["authenticator"]["password"]
    assert password["policy"]["min_length"] == 8
    assert password["force_change"] is True
    assert password["expiry"]["force_change"]["enabled"] is False
    assert project["authenticator"]["totp"]["maximum"] == 99
    assert project["verification"]["claims"]["email"] == {"enabled": True, "required": True}
    assert project["verification"]["criteria"] == "any"
    assert parse_duration(project["verification"]["code_valid_period"]) == 300
    assert project["forgot_password"]["enabled"] is True
    assert parse_duration(project["forgot_password"]["valid_periods"]["link"]) == 20 * 60
    assert parse_duration(project["forgot_password"]["valid_periods"]["code"]) == 300
    assert project["session"] == {
        "lifetime_seconds": 31449600,
        "idle_timeout_enabled": True,
        "idle_timeout_seconds": 2592000,
        "use_session_cookie": False,
    }
    assert project["account_deletion"] == {"scheduled_by_end_user_enabled": False, "grace_period_days": 30}
    assert project["localization"] == {"fallback_language": "en", "supported_languages": ["en"]}
    assert project["ui"]["implementation"] == "authflowv2"
    assert project["oauth"]["clients"] == []


def test_client_defaults_and_login_id_max_length():
    project, _ = validate_project(
        with_(
            oauth={"clients": [{"client_id": "a", "name": "A", "redirect_uris": ["https://app/cb"]}]},
            identity={"login_id": {"keys": [{"type": "username"}, {"key": "work_email", "type": "email"}]}},
        )
    )
    client = project["oauth"]["clients"][0]
    assert client["x_application_type"] == "spa"
    assert client["grant_types"] == ["authorization_code", "refresh_token"]
    assert client["response_types"] == ["code"]
    assert client["access_token_lifetime_seconds"] == 1800
    assert client["refresh_token_lifetime_seconds"] == 31449600
    assert client["refresh_token_idle_timeout_enabled"] is True
    assert client["refresh_token_idle_timeout_seconds"] == 2592000
    assert client["refresh_token_rotation_enabled"] is False
    assert client["issue_jwt_access_token"] is False
    assert client["x_max_concurrent_session"] == 0
    keys = project["identity"]["login_id"]["keys"]
    assert keys[0] == {"key": "username", "type": "username", "max_length": 40}
    assert keys[1]["key"] == "work_email" and keys[1]["max_length"] == 320


def test_partial_sections_keep_the_other_defaults():
    project, _ = validate_project(with_(session={"lifetime_seconds": 3600}))
    assert project["session"]["lifetime_seconds"] == 3600
    assert project["session"]["idle_timeout_seconds"] == 2592000
    assert project["session"]["idle_timeout_enabled"] is True


def test_validate_does_not_change_its_input():
    raw = with_(session={"lifetime_seconds": 3600})
    before = yaml.safe_dump(raw)
    validate_project(raw)
    assert yaml.safe_dump(raw) == before


# -- invalid configs stop the start, naming key and problem -----------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"http": {"public_origin": "https://a.example"}}, ["'id' is a required property"]),
        ({"id": "x", "http": {}}, ["/http", "'public_origin' is a required property"]),
        ({"id": "x"}, ["'http' is a required property"]),
        (with_(id=""), ["/id"]),
        (with_(id=5), ["/id", "5 is not of type 'string'"]),
        (with_(http={"public_origin": "accounts.example.com"}), ["/http/public_origin", "does not match"]),
        (with_(http={"public_origin": "https://a.example/path"}), ["/http/public_origin", "does not match"]),
        (with_(http={"public_origin": "ftp://a.example"}), ["/http/public_origin"]),
        (with_(frobnicate=True), ["unknown top-level key 'frobnicate'"]),
        (
            with_(authentication={"secondary_authentication_grace_period": {"enabled": "yes"}}),
            ["/authentication/secondary_authentication_grace_period/enabled", "is not of type 'boolean'"],
        ),
        (
            with_(authentication={"secondary_authentication_grace_period": {"enabled": True, "end_at": "soon"}}),
            ["/authentication/secondary_authentication_grace_period/end_at", "does not match"],
        ),
        (
            with_(oauth={"clients": [{"client_id": "a", "name": "A", "x_application_type": "desktop"}]}),
            ["/oauth/clients/0/x_application_type", "'desktop' is not one of"],
        ),
        (
            with_(oauth={"clients": [{"client_id": "a", "name": "A", "redirect_uris": "https://app/cb"}]}),
            ["/oauth/clients/0/redirect_uris", "is not of type 'array'"],
        ),
        (
            with_(oauth={"clients": [{"name": "A", "redirect_uris": ["https://app/cb"]}]}),
            ["/oauth/clients/0", "'client_id' is a required property"],
        ),
        (
            with_(
                oauth={
                    "clients": [
                        {"client_id": "a", "name": "A", "redirect_uris": ["https://app/cb"]},
                        {"client_id": "a", "name": "B", "redirect_uris": ["https://app/cb"]},
                    ]
                }
            ),
            ["/oauth/clients/1/client_id", "duplicated client_id 'a'"],
        ),
        (
            with_(oauth={"clients": [{"client_id": "a", "name": "A"}]}),
            ["/oauth/clients/0/redirect_uris", "required"],
        ),
        (
            with_(
                oauth={
                    "clients": [
                        {
                            "client_id": "w",
                            "name": "W",
                            "x_application_type": "traditional_webapp",
                            "redirect_uris": ["https://app/cb"],
                        }
                    ]
                }
            ),
            ["/oauth/clients/0/post_logout_redirect_uris"],
        ),
        (
            with_(
                oauth={
                    "clients": [
                        {
                            "client_id": "c",
                            "name": "C",
                            "x_application_type": "confidential",
                            "redirect_uris": ["https://app/cb"],
                        }
                    ]
                }
            ),
            ["/oauth/clients/0/client_name"],
        ),
        (
            with_(oauth={"clients": [{"client_id": "a", "name": "A", "access_token_lifetime_seconds": 10}]}),
            ["/oauth/clients/0/access_token_lifetime_seconds"],
        ),
        (with_(session={"lifetime_seconds": "long"}), ["/session/lifetime_seconds", "is not of type 'integer'"]),
        (with_(authentication={"identities": "login_id"}), ["/authentication/identities"]),
        (with_(authentication={"primary_authenticators": ["sms_magic"]}), ["/authentication/primary_authenticators/0"]),
        (with_(identity={"login_id": {"keys": [{"type": "fax"}]}}), ["/identity/login_id/keys/0/type"]),
        (with_(verification={"code_valid_period": "5 minutes"}), ["/verification/code_valid_period"]),
        (with_(authentication={"lockout": {"history_duration": "1d"}}), ["/authentication/lockout/history_duration"]),
        (
            with_(authenticator={"password": {"expiry": {"force_change": {"duration_since_last_update": "90 days"}}}}),
            ["/authenticator/password/expiry/force_change/duration_since_last_update", "invalid duration"],
        ),
        (
            with_(forgot_password={"valid_periods": {"code": "soon"}}),
            ["/forgot_password/valid_periods/code", "invalid duration"],
        ),
        (
            with_(authentication={"rate_limits": {"general": {"per_ip": {"period": "1 minute"}}}}),
            ["/authentication/rate_limits/general/per_ip/period", "invalid duration"],
        ),
        (
            with_(localization={"fallback_language": "fr", "supported_languages": ["en", "zh-HK"]}),
            ["/localization/fallback_language", "supported_languages"],
        ),
        (["id", "http"], ["must be a mapping"]),
        (None, ["must be a mapping"]),
    ],
)
def test_invalid_config_names_key_and_problem(raw, expected):
    message = config_error(raw)
    assert message.startswith("authgear.yaml")
    for part in expected:
        assert part in message


def test_durations_in_go_syntax():
    assert parse_duration("300s") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1.5h") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration(42) == 42
    for bad in ("", "5", "m", "5x", "5m garbage", "-5m", " 5m"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


# -- keys Authgear has and Gatehouse does not implement ----------------------------------------


def test_unimplemented_authgear_keys_are_accepted_and_logged_once(make_app, caplog):
    caplog.set_level(logging.WARNING, logger="gatehouse")
    overrides = {
        "saml": {"service_providers": []},
        "google_tag_manager": {"container_id": "GTM-ABC123"},
    }
    app = make_app(overrides)
    assert app.extensions["gatehouse"].config.unimplemented_keys == ["google_tag_manager", "saml"]
    for key in ("saml", "google_tag_manager"):
        hits = [r for r in caplog.records if r.name == "gatehouse" and repr(key) in r.getMessage()]
        assert len(hits) == 1, key
        assert hits[0].levelno == logging.WARNING
        assert "not implemented" in hits[0].getMessage()
    assert app.test_client().get("/healthz").status_code == 200


def test_implemented_project_logs_no_unimplemented_warning(make_app, caplog):
    caplog.set_level(logging.WARNING, logger="gatehouse")
    make_app()
    assert not [r for r in caplog.records if "not implemented" in r.getMessage()]


# -- files and environment --------------------------------------------------------------------


def test_load_config_reads_project_and_secrets(tmp_path):
    secrets = {
        "secrets": [
            {"key": "db", "data": {"database_url": "postgres://gh:pw@db.internal:5432/gatehouse"}},
            {"key": "redis", "data": {"redis_url": "redis://cache:6379/2"}},
            {"key": "csrf", "data": {"keys": [{"kty": "oct", "k": "csrf-secret"}]}},
        ]
    }
    project = dict(MINIMAL, hook={"sync_hook_timeout_seconds": 5})
    write_project(tmp_path, project, secrets)
    cfg = load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})
    assert cfg.config_dir == tmp_path.resolve()
    assert cfg.project["id"] == "myapp"
    assert cfg.database_url == "postgresql+psycopg://gh:pw@db.internal:5432/gatehouse"
    assert cfg.redis_url == "redis://cache:6379/2"
    assert cfg.secret_key == "csrf-secret"
    assert cfg.secure_cookies is True
    assert cfg.unimplemented_keys == []  # `hook` is implemented (app/hooks)


def test_environment_overrides_secrets(tmp_path):
    secrets = {
        "secrets": [
            {"key": "db", "data": {"database_url": "postgres://from-secrets/x"}},
            {"key": "redis", "data": {"redis_url": "redis://from-secrets:6379/0"}},
        ]
    }
    write_project(tmp_path, secrets=secrets)
    env = {
        "GATEHOUSE_CONFIG_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://env-user@env-host:5433/envdb",
        "REDIS_URL": "redis://env-redis:6380/3",
    }
    cfg = load_config(env=env)
    assert cfg.database_url == "postgresql+psycopg://env-user@env-host:5433/envdb"
    assert cfg.redis_url == "redis://env-redis:6380/3"


def test_redis_key_prefix_defaults_and_comes_from_the_environment(tmp_path):
    write_project(tmp_path)
    assert load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)}).store_prefix == "gatehouse:"
    env = {"GATEHOUSE_CONFIG_DIR": str(tmp_path), "GATEHOUSE_REDIS_PREFIX": "bench-1:"}
    assert load_config(env=env).store_prefix == "bench-1:"


def test_without_db_or_redis_the_embedded_default_is_used(tmp_path):
    write_project(tmp_path)
    cfg = load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})
    assert cfg.database_url == f"sqlite:///{tmp_path.resolve() / 'gatehouse.sqlite'}"
    assert cfg.redis_url is None


def test_config_dir_from_environment_not_cwd(tmp_path, monkeypatch):
    here = write_project(tmp_path / "elsewhere", dict(MINIMAL, id="from-env-dir"))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={"GATEHOUSE_CONFIG_DIR": str(here)})
    assert cfg.project["id"] == "from-env-dir"
    assert not (tmp_path / "instance").exists()


def test_default_config_dir_is_instance_and_created_with_a_demo_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    instance = tmp_path / "instance"
    assert cfg.config_dir == instance.resolve()
    assert (instance / "authgear.yaml").exists()
    assert (instance / "authgear.secrets.yaml").stat().st_mode & 0o777 == 0o600
    assert cfg.client("demo") is not None
    assert cfg.client_secret_keys("demo")
    assert {"oauth", "admin-api.auth", "csrf"} <= set(cfg.secrets)
    assert cfg.secret_key
    assert cfg.database_url == f"sqlite:///{instance.resolve() / 'gatehouse.sqlite'}"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d?sslmode=require", "postgresql+psycopg://u@h/d?sslmode=require"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///instance/gatehouse.sqlite", "sqlite:///instance/gatehouse.sqlite"),
    ],
)
def test_database_url_names_the_psycopg_driver(url, expected):
    assert normalize_database_url(url) == expected


def test_invalid_yaml_file_is_a_config_error(tmp_path):
    write_project(tmp_path, "id: [unclosed\nhttp: {public_origin: x\n")
    with pytest.raises(ConfigError, match=r"authgear\.yaml: not valid YAML"):
        load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})


def test_invalid_project_in_file_stops_create_app(tmp_path, monkeypatch):
    bad = dict(MINIMAL, oauth={"clients": [{"client_id": "a", "name": "A", "x_application_type": "desktop"}]})
    write_project(tmp_path, bad)
    monkeypatch.setenv("GATEHOUSE_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ConfigError, match=r"/oauth/clients/0/x_application_type: 'desktop' is not one of"):
        create_app()


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        ("secrets: [unclosed\n", "authgear.secrets.yaml: not valid YAML"),
        ({"secrets": {"db": {"database_url": "x"}}}, "authgear.secrets.yaml /secrets: must be a list"),
        (["db"], "authgear.secrets.yaml /secrets: must be a list"),
        ({"secrets": [{"key": "db"}]}, "authgear.secrets.yaml /secrets/0: must have a string key and data"),
        ({"secrets": [{"key": 5, "data": {}}]}, "authgear.secrets.yaml /secrets/0"),
        ({"secrets": ["db"]}, "authgear.secrets.yaml /secrets/0"),
        (
            {"secrets": [{"key": "csrf", "data": {}}, {"key": "db", "data": "postgres://x"}]},
            "authgear.secrets.yaml /secrets/1/data: must be a mapping",
        ),
    ],
)
def test_malformed_secrets_file_is_a_config_error(tmp_path, secrets, expected):
    write_project(tmp_path, secrets=secrets)
    with pytest.raises(ConfigError) as info:
        load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})
    assert expected in str(info.value)


def test_empty_csrf_key_list_does_not_crash(tmp_path):
    write_project(tmp_path, secrets={"secrets": [{"key": "csrf", "data": {"keys": []}}]})
    assert load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)}).secret_key == ""


def test_test_project_is_valid():
    project, unimplemented = validate_project(TEST_PROJECT)
    assert unimplemented == []
    assert [c["client_id"] for c in project["oauth"]["clients"]] == ["spa-client", "confidential-client"]


def test_broken_files_in_the_default_instance_dir_are_config_errors_and_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    instance = write_project(tmp_path / "instance", secrets="secrets: {db: oops}\n")
    with pytest.raises(ConfigError, match=r"authgear\.secrets\.yaml /secrets: must be a list"):
        load_config(env={})
    assert (instance / "authgear.secrets.yaml").read_text() == "secrets: {db: oops}\n"

    (instance / "authgear.yaml").write_text("id: [broken\n")
    with pytest.raises(ConfigError, match=r"authgear\.yaml: not valid YAML"):
        load_config(env={})


def test_named_dir_without_a_project_gets_the_demo_project_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="gatehouse")
    cfg = load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path / "new")})
    assert cfg.client("demo") is not None
    assert (tmp_path / "new" / "authgear.secrets.yaml").stat().st_mode & 0o777 == 0o600
    assert any("authgear.yaml" in r.getMessage() for r in caplog.records if r.name == "gatehouse")


# -- Authgear parity: what Authgear accepts starts, what it refuses stops ----------------------


def test_calendar_usage_periods_and_test_mode_are_accepted():
    project, unimplemented = validate_project(
        with_(
            usage={"limits": {"email": [{"quota": 10, "period": "day", "action": "block"}]}},
            test_mode={"oob_otp": {"enabled": True, "rules": [{"regex": "^qa-", "fixed_code": "000000"}]}},
        )
    )
    assert project["usage"]["limits"]["email"][0]["period"] == "day"
    assert unimplemented == ["usage"]  # test_mode is implemented
    assert validate_project(with_(usage=None))[1] == ["usage"]


def test_whatsapp_test_mode_is_accepted_and_reported():
    _, unimplemented = validate_project(with_(test_mode={"whatsapp": {"enabled": True, "rules": []}}))
    assert unimplemented == ["test_mode.whatsapp"]


def test_secret_data_keeps_authgears_shape_per_key(tmp_path):
    signing = [{"service_provider_id": "sp", "certificates": [{"pem": "-----BEGIN CERTIFICATE-----"}]}]
    write_project(tmp_path, secrets={"secrets": [{"key": "saml.service_providers.signing", "data": signing}]})
    cfg = load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})
    assert cfg.secrets["saml.service_providers.signing"] == signing
    assert cfg.unimplemented_secrets == ["saml.service_providers.signing"]


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        ({"secrets": [{"key": "database", "data": {}}]}, "/secrets/0/key: unknown secret key 'database'"),
        ({"secrets": [{"key": "db", "data": ["postgres://x"]}]}, "/secrets/0/data: must be a mapping"),
        ({"secrets": [], "extra": 1}, "/extra"),
    ],
)
def test_secrets_authgear_refuses_stop_the_start(tmp_path, secrets, expected):
    write_project(tmp_path, secrets=secrets)
    with pytest.raises(ConfigError) as info:
        load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})
    assert str(info.value).startswith("authgear.secrets.yaml") and expected in str(info.value)


def test_features_file_is_read_with_authgear_defaults(tmp_path):
    write_project(tmp_path)
    assert load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)}).features["identity"]["oauth"] == {
        "maximum_providers": 99
    }
    (tmp_path / "authgear.features.yaml").write_text(
        "identity: {oauth: {maximum_providers: 2}}\ntest_mode: {fixed_oob_otp: {enabled: true, code: '111111'}}\n"
    )
    cfg = load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})
    assert cfg.features["identity"]["oauth"]["maximum_providers"] == 2
    assert cfg.features["test_mode"]["fixed_oob_otp"] == {"enabled": True, "code": "111111"}
    assert cfg.features["test_mode"]["email"] == {"suppressed": False}
    assert cfg.unimplemented_features == []  # identity.oauth is implemented (app/sso/config.py)
    # oauth.client.app2app_enabled is implemented (app/oidc/app2app.py); the other client limits are not.
    (tmp_path / "authgear.features.yaml").write_text("oauth: {client: {app2app_enabled: true}}\n")
    cfg = load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})
    assert cfg.features["oauth"]["client"] == {"maximum": 99, "soft_maximum": 99, "app2app_enabled": True}
    assert cfg.unimplemented_features == []
    (tmp_path / "authgear.features.yaml").write_text(
        "oauth: {client: {app2app_enabled: true, maximum: 5, custom_ui_enabled: true}}\n"
    )
    cfg = load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})
    assert cfg.unimplemented_features == ["oauth.client.custom_ui_enabled", "oauth.client.maximum"]
    (tmp_path / "authgear.features.yaml").write_text("test_mode: {fixed_oob_otp: {enabled: true}}\n")
    with pytest.raises(ConfigError, match=r"authgear.features.yaml /test_mode/fixed_oob_otp: 'code'"):
        load_config(env={"GATEHOUSE_CONFIG_DIR": str(tmp_path)})

"""A whole Authgear project directory (tests/fixtures/authgear_project: authgear.yaml with every
top-level section of Authgear's schema, authgear.secrets.yaml, authgear.features.yaml) starts
Gatehouse through GATEHOUSE_CONFIG_DIR / load_config as `make run` does; what Gatehouse does not
implement is named once in the log; what Authgear refuses stops the start naming the key path."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import create_app
from app.config import ConfigError, load_config
from tests.conftest import BACKEND, REDIS_URL

FIXTURE = Path(__file__).parent / "fixtures" / "authgear_project"
FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A copy of the fixture, so that nothing the app writes (outbox, exports) lands in the repo."""
    target = tmp_path / "project"
    shutil.copytree(FIXTURE, target)
    return target


@pytest.fixture
def started(project_dir: Path, database_url: str, _migrated: Any, store: Any):
    """The app as `make run` builds it from the directory, on the test database and Redis."""
    built: list[Any] = []

    def start() -> Any:
        config = load_config(env={"GATEHOUSE_CONFIG_DIR": str(project_dir)})
        # The fixture names Acme's own database and Redis; the harness supplies reachable ones.
        config = dataclasses.replace(
            config, database_url=database_url, redis_url=None if BACKEND == "embedded" else REDIS_URL, testing=True
        )
        app = create_app(config, store=store)
        built.append(app)
        return app

    yield start
    from app.extensions import db

    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def edit(directory: Path, name: str, change: Callable[[Any], None]) -> None:
    path = directory / name
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def refusal(directory: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(env={"GATEHOUSE_CONFIG_DIR": str(directory)})
    return str(info.value)


@pytest.mark.embedded
def test_every_section_of_an_authgear_project_starts_the_app(started, caplog):
    caplog.set_level(logging.WARNING, logger="gatehouse")
    app = started()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    discovery = client.get("/.well-known/openid-configuration").get_json()
    assert discovery["issuer"] == "https://auth.acme.example"

    config = app.extensions["gatehouse"].config
    assert config.features["identity"]["oauth"]["maximum_providers"] == 3
    assert config.features["test_mode"]["fixed_oob_otp"] == {"enabled": True, "code": "111111"}
    assert config.secrets["saml.service_providers.signing"][0]["service_provider_id"] == "acme-saml"

    warnings = [r.getMessage() for r in caplog.records if "not implemented" in r.getMessage()]
    expected = {
        "authgear.yaml": ["usage", "saml", "external_jwt", "test_mode.whatsapp", "fraud_protection"],
        "authgear.secrets.yaml": ["saml.service_providers.signing"],
        # identity.oauth is implemented (maximum_providers, providers.<type>.disabled); login_id is not.
        "authgear.features.yaml": ["usage", "rate_limits", "identity.login_id"],
    }
    for file, keys in expected.items():
        for key in keys:
            hits = [w for w in warnings if w.startswith(f"{file}: {key!r} ")]
            assert len(hits) == 1, (file, key, warnings)
    # Implemented sections are not reported.
    for key in ("oauth", "authentication", "test_mode", "authentication_flow", "hook"):
        assert not [w for w in warnings if w.startswith(f"authgear.yaml: {key!r} ")]


@pytest.mark.embedded
def test_the_projects_test_mode_rules_apply_to_a_signup(started):
    # The fixture's SMTP host does not exist: a message that was not suppressed would fail to go out.
    client = started().test_client()
    address = f"qa-{secrets.token_hex(4)}@test.acme.example"
    token = client.post(FLOWS, json={"type": "signup", "name": "default"}).get_json()["result"]["state_token"]
    sent = client.post(INPUT, json={"state_token": token, "input": {"identification": "email", "login_id": address}})
    assert sent.status_code == 200, sent.get_json()
    result = sent.get_json()["result"]
    assert result["action"]["data"]["delivery_status"] == "sent"
    verified = client.post(INPUT, json={"state_token": result["state_token"], "input": {"code": "000000"}})
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["result"]["action"]["type"] == "create_authenticator"


def _set(*path: Any, value: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        node = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _delete(*path: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        node = doc
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


REFUSED = [
    ("authgear.yaml", _set("usage", "limits", "email", 0, "period", value="week"), "/usage/limits/email/0/period"),
    ("authgear.yaml", _set("usage", "limits", "sms", 0, "action", value="throttle"), "/usage/limits/sms/0/action"),
    ("authgear.yaml", _set("test_mode", "oob_otp", "rules", 0, "code", value="1"), "/test_mode/oob_otp/rules/0"),
    ("authgear.yaml", _delete("test_mode", "email", "rules", 0, "regex"), "/test_mode/email/rules/0"),
    ("authgear.yaml", _set("test_mode", "sms", "rules", 0, "regex", value="(unclosed"), "/test_mode/sms/rules/0/regex"),
    ("authgear.yaml", _set("test_mode", "voice", value={}), "/test_mode"),
    ("authgear.yaml", _set("test_mode", "oob_otp", "enabled", value="yes"), "/test_mode/oob_otp/enabled"),
    ("authgear.yaml", _set("sessions", value={}), "'sessions'"),
    ("authgear.yaml", _set("session", "lifetime_seconds", value="forever"), "/session/lifetime_seconds"),
    ("authgear.secrets.yaml", _set("secrets", 0, "key", value="database"), "/secrets/0/key"),
    ("authgear.secrets.yaml", _set("secrets", 0, "data", value=["postgres://x"]), "/secrets/0/data"),
    ("authgear.features.yaml", _set("plans", value={}), "authgear.features.yaml /"),
    ("authgear.features.yaml", _delete("test_mode", "fixed_oob_otp", "code"), "/test_mode/fixed_oob_otp"),
    ("authgear.features.yaml", _set("test_mode", "email", "suppressed", value=1), "/test_mode/email/suppressed"),
    ("authgear.features.yaml", _set("usage", "limits", "email", 0, "period", value="week"), "/usage/limits/email/0"),
]


@pytest.mark.embedded
@pytest.mark.parametrize(("file", "change", "where"), REFUSED, ids=[r[2] for r in REFUSED])
def test_what_authgear_refuses_stops_the_start_naming_the_key(project_dir, file, change, where):
    edit(project_dir, file, change)
    message = refusal(project_dir)
    assert message.startswith(file), message
    assert where in message, message


@pytest.mark.embedded
def test_without_a_features_file_authgear_defaults_apply(project_dir):
    (project_dir / "authgear.features.yaml").unlink()
    config = load_config(env={"GATEHOUSE_CONFIG_DIR": str(project_dir)})
    assert config.features["identity"]["oauth"]["maximum_providers"] == 99
    assert config.features["test_mode"]["fixed_oob_otp"] == {"enabled": False, "code": ""}
    assert config.unimplemented_features == []

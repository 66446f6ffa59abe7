"""`TRUST_PROXY` (Authgear's environment variable): behind a reverse proxy every request comes from the
proxy's address, so per-IP rate limits would put every client in one bucket and audit rows would
name the proxy. With it on, the client's address comes from the proxy's `X-Forwarded-For` (the
entry the proxy appended, or `X-Real-IP` without one); with it off (the default) those headers are
ignored, so a client talking to Gatehouse directly cannot pick its own bucket."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select

from app.audit import AuditLog
from app.config import ConfigError, load_config
from app.extensions import db
from tests.factories import random_email, random_password

FLOWS = "/api/v1/authentication_flows"
PROXY = {"REMOTE_ADDR": "10.0.0.2"}
LIMIT = {"authentication_flow": {"rate_limits": {"per_ip": {"enabled": True, "period": "1m", "burst": 2}}}}


def _create(client, **headers):
    return client.post(FLOWS, json={"type": "login", "name": "default"}, headers=headers, environ_base=PROXY)


def _codes(client, n, **headers):
    return [_create(client, **headers).status_code for _ in range(n)]


# -- the environment variable --------------------------------------------------------------------------


@pytest.fixture
def project_dir(tmp_path):
    (tmp_path / "authgear.yaml").write_text(
        yaml.safe_dump({"id": "proxied", "http": {"public_origin": "https://accounts.example.com"}})
    )
    return tmp_path


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("false", False), ("0", False), ("true", True), ("1", True), ("TRUE", True)],
)
def test_trust_proxy_is_read_from_the_environment(project_dir, value, expected):
    env = {"GATEHOUSE_CONFIG_DIR": str(project_dir)}
    if value is not None:
        env["TRUST_PROXY"] = value
    assert load_config(env=env).trust_proxy is expected


@pytest.mark.embedded
def test_a_misspelt_trust_proxy_stops_start_up(project_dir):
    with pytest.raises(ConfigError, match="TRUST_PROXY"):
        load_config(env={"GATEHOUSE_CONFIG_DIR": str(project_dir), "TRUST_PROXY": "yes please"})


# -- rate limits -------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(make_app):
    client = make_app(LIMIT, trust_proxy=True).test_client()
    assert _codes(client, 3, **{"X-Forwarded-For": "203.0.113.7"}) == [200, 200, 429]
    assert _codes(client, 2, **{"X-Forwarded-For": "203.0.113.8"}) == [200, 200]
    # The proxy's own address is yet another bucket, not the one the clients used up.
    assert _create(client).status_code == 200


def test_the_proxy_appended_entry_counts_not_what_the_client_sent(make_app):
    """nginx's `$proxy_add_x_forwarded_for` appends the peer to what the client sent: only that last
    entry is the proxy's word, so rotating the first one does not give a fresh bucket."""
    client = make_app(LIMIT, trust_proxy=True).test_client()
    codes = [_create(client, **{"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.9"}).status_code for i in range(3)]
    assert codes == [200, 200, 429]


def test_x_real_ip_is_used_when_the_proxy_sets_no_x_forwarded_for(make_app):
    client = make_app(LIMIT, trust_proxy=True).test_client()
    assert _codes(client, 3, **{"X-Real-IP": "203.0.113.10"}) == [200, 200, 429]
    assert _codes(client, 1, **{"X-Real-IP": "203.0.113.11"}) == [200]


@pytest.mark.embedded
def test_without_trust_proxy_forwarded_headers_cannot_escape_the_limit(make_app):
    client = make_app(LIMIT).test_client()
    assert _codes(client, 2, **{"X-Forwarded-For": "203.0.113.20"}) == [200, 200]
    spoofed = [
        {"X-Forwarded-For": "203.0.113.21"},
        {"X-Real-IP": "203.0.113.22"},
        {"Forwarded": "for=203.0.113.23"},
    ]
    assert [_create(client, **h).status_code for h in spoofed] == [429, 429, 429]


# -- what remote_addr feeds: the audit log ------------------------------------------------------------


def _failed_login_ip(app, **headers):
    email, password = random_email().lower(), random_password()
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = svc.users.create_user([("email", email)])
        svc.passwords.create(user.id, password, check_policy=False)
        db.session.commit()
        user_id = user.id
    body = {
        "type": "login",
        "name": "default",
        "batch_input": [
            {"identification": "email", "login_id": email},
            {"authentication": "primary_password", "password": "not-" + password},
        ],
    }
    resp = app.test_client().post(FLOWS, json=body, headers=headers, environ_base=PROXY)
    assert resp.status_code == 401, resp.get_json()
    with app.app_context():
        row = db.session.scalars(
            select(AuditLog).where(AuditLog.user_id == user_id, AuditLog.activity_type.like("%.failed"))
        ).one()
        return row.ip_address


@pytest.mark.embedded
def test_audit_rows_name_the_client_behind_a_trusted_proxy(make_app):
    assert _failed_login_ip(make_app(trust_proxy=True), **{"X-Forwarded-For": "203.0.113.30"}) == "203.0.113.30"


def test_audit_rows_name_the_peer_without_trust_proxy(make_app):
    assert _failed_login_ip(make_app(), **{"X-Forwarded-For": "203.0.113.31"}) == "10.0.0.2"

"""Imported users log in with their imported passwords, whatever the hash type, through the
Authentication Flow API; the first successful login replaces the stored hash with argon2id."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import deep_merge
from tests.bulk.conftest import BULK_OVERRIDES, Bulk
from tests.bulk.helpers import user_state
from tests.bulk.vectors import HASHES

FLOWS = "/api/v1/authentication_flows"
# The published vectors use short passwords ("c", "passwd"); the policy must not turn their
# logins into a forced password change.
NO_FORCED_CHANGE = {"authenticator": {"password": {"force_change": False}}}


def login(client: Any, email: str, password: str, ip: str) -> Any:
    """A login from `ip` (each user from its own address, as real users are: the per-IP rate limits
    would otherwise count every user of the test against one address)."""
    return client.post(
        FLOWS,
        environ_base={"REMOTE_ADDR": ip},
        json={
            "type": "login",
            "name": "default",
            "batch_input": [
                {"identification": "email", "login_id": email},
                {"authentication": "primary_password", "password": password},
            ],
        },
    )


def check_logins(app, bulk: Bulk) -> None:
    records = [
        {"email": f"hash-{i}@example.com", "password": {"type": type_, "password_hash": hashed}}
        for i, (type_, hashed, _) in enumerate(HASHES)
    ]
    result = bulk.run_import(records)
    assert [d["outcome"] for d in result["details"]] == ["inserted"] * len(HASHES), result
    client = app.test_client()
    for i, (type_, hashed, password) in enumerate(HASHES):
        email = f"hash-{i}@example.com"
        stored = user_state(app, email)["authenticators"][0]["hash"]
        assert stored == hashed, type_

        ip = f"10.0.{i}.1"
        wrong = login(client, email, password + "x", ip)
        assert wrong.status_code == 401, (type_, wrong.get_json())
        assert wrong.get_json()["error"]["reason"] == "InvalidCredentials"
        assert user_state(app, email)["authenticators"][0]["hash"] == hashed  # a failure changes nothing

        right = login(client, email, password, ip)
        assert right.status_code == 200, (type_, right.get_json())
        assert right.get_json()["result"]["action"]["type"] == "finished", type_
        upgraded = user_state(app, email)["authenticators"][0]["hash"]
        assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), (type_, upgraded)

        again = login(client, email, password, ip)  # the new hash works as well
        assert again.get_json()["result"]["action"]["type"] == "finished", type_
        assert user_state(app, email)["authenticators"][0]["hash"] == upgraded


def test_every_hash_type_logs_in_and_is_upgraded(make_app, bulk_dir, queue_prefix, worker):
    app = make_app(deep_merge(BULK_OVERRIDES, NO_FORCED_CHANGE), queue_prefix=queue_prefix, config_dir=bulk_dir)
    check_logins(app, Bulk(app))


@pytest.mark.embedded
def test_every_hash_type_logs_in_on_the_embedded_default(make_app, tmp_path):
    app = make_app(deep_merge(BULK_OVERRIDES, NO_FORCED_CHANGE), redis_url=None, config_dir=tmp_path)
    check_logins(app, Bulk(app))

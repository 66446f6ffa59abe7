"""Work-factor bounds on imported password hashes: an import whose argon2 or bcrypt hash asks for
more than `imported_hashes.MAX_*` fails that record (and creates no password), while hashes within
them import and log in. Over-bound hashes are written as strings; they are never computed."""

from __future__ import annotations

import bcrypt
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import func, select

from app.authenticators.models import Authenticator
from app.config import deep_merge
from app.extensions import db
from tests.bulk.conftest import BULK_OVERRIDES, Bulk
from tests.bulk.helpers import user_state
from tests.bulk.test_imported_login import NO_FORCED_CHANGE, login

pytestmark = pytest.mark.embedded

SALT, DIGEST = "c2FsdHNhbHRzYWx0c2FsdA", "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"


def _password(type_: str, password_hash: str) -> dict[str, str]:
    return {"type": type_, "password_hash": password_hash}


def test_import_refuses_hashes_beyond_the_cost_bounds_and_keeps_those_within(make_app, tmp_path):
    app = make_app(deep_merge(BULK_OVERRIDES, NO_FORCED_CHANGE), redis_url=None, config_dir=tmp_path)
    bulk = Bulk(app)
    # Real hashes at common production settings: argon2-cffi's default (64 MiB, t=3, p=4), bcrypt 10.
    argon2_within = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, type=Type.ID).hash("Argon2-pass-1")
    bcrypt_within = bcrypt.hashpw(b"Bcrypt-pass-1", bcrypt.gensalt(10)).decode()
    records = [
        {
            "email": "argon2-4gib@example.com",
            "password": _password("argon2", f"$argon2id$v=19$m=4194304,t=3,p=1${SALT}${DIGEST}"),
        },
        {
            "email": "argon2-work@example.com",
            "password": _password("argon2", f"$argon2id$v=19$m=1048576,t=8,p=1${SALT}${DIGEST}"),
        },
        {"email": "bcrypt-31@example.com", "password": _password("bcrypt", "$2b$31$" + "N" * 53)},
        {"email": "mfa-bcrypt-17@example.com", "mfa": {"password": _password("bcrypt", "$2a$17$" + "N" * 53)}},
        {"email": "argon2-ok@example.com", "password": _password("argon2", argon2_within)},
        {"email": "bcrypt-ok@example.com", "password": _password("bcrypt", bcrypt_within)},
    ]
    result = bulk.run_import(records)
    details = result["details"]
    assert [d["outcome"] for d in details] == ["failed"] * 4 + ["inserted"] * 2, details
    assert details[0]["errors"] == [
        {
            "name": "Invalid",
            "reason": "InvalidPasswordHash",
            "message": "invalid argon2 hash: argon2 memory m=4194304 KiB is above 1048576 KiB",
            "code": 400,
            "info": {"type": "argon2"},
        }
    ]
    assert details[1]["errors"][0]["message"] == ("invalid argon2 hash: argon2 m*t=8388608 KiB is above 4194304 KiB")
    assert details[2]["errors"] == [
        {
            "name": "Invalid",
            "reason": "InvalidBcryptHash",
            "message": "invalid bcrypt hash: bcrypt cost 31 is above 16",
            "code": 400,
        }
    ]
    assert details[3]["errors"][0]["reason"] == "InvalidBcryptHash"
    assert details[3]["errors"][0]["message"] == "invalid bcrypt hash: bcrypt cost 17 is above 16"
    assert all(
        d["record"].get("password", d["record"].get("mfa", {}).get("password"))["password_hash"] == "REDACTED"
        for d in details
    )
    assert result["summary"] == {"total": 6, "inserted": 2, "updated": 0, "skipped": 0, "failed": 4}
    for d in details[:4]:
        assert "user_id" not in d and user_state(app, d["record"]["email"]) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Authenticator)) == 2

    client = app.test_client()
    for i, (email, password, stored) in enumerate(
        [
            ("argon2-ok@example.com", "Argon2-pass-1", argon2_within),
            ("bcrypt-ok@example.com", "Bcrypt-pass-1", bcrypt_within),
        ]
    ):
        assert user_state(app, email)["authenticators"][0]["hash"] == stored
        wrong = login(client, email, password + "x", f"10.9.{i}.1")
        assert wrong.status_code == 401 and wrong.get_json()["error"]["reason"] == "InvalidCredentials"
        right = login(client, email, password, f"10.9.{i}.1")
        assert right.status_code == 200 and right.get_json()["result"]["action"]["type"] == "finished", right.get_json()
        assert user_state(app, email)["authenticators"][0]["hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_row_beyond_the_cost_bounds_fails_login_like_a_wrong_password(make_app, tmp_path, caplog):
    """A hash written straight into the table (not through the import) is refused at login."""
    app = make_app(deep_merge(BULK_OVERRIDES, NO_FORCED_CHANGE), redis_url=None, config_dir=tmp_path)
    bulk = Bulk(app)
    assert bulk.run_import([{"email": "direct@example.com"}])["details"][0]["outcome"] == "inserted"
    user_id = user_state(app, "direct@example.com")["id"]
    hostile = f"$argon2id$v=19$m=4194304,t=3,p=1${SALT}${DIGEST}"
    with app.app_context():
        app.extensions["gatehouse"].passwords.create_from_hash(user_id, hostile)
        db.session.commit()
    with caplog.at_level("WARNING", logger="gatehouse.passwords"):
        resp = login(app.test_client(), "direct@example.com", "Any-password-1", "10.9.9.1")
    assert resp.status_code == 401 and resp.get_json()["error"]["reason"] == "InvalidCredentials"
    assert user_state(app, "direct@example.com")["authenticators"][0]["hash"] == hostile
    assert user_id in caplog.text and SALT not in caplog.text and "Any-password-1" not in caplog.text

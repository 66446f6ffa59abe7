"""Fixtures of the Admin API tests: admin JWTs signed with the project's `admin-api.auth` key and a
`gql` helper that posts a document with one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

GRAPHQL_PATH = "/_api/admin/graphql"


def admin_key(app: Flask) -> RSAKey:
    keys = app.extensions["gatehouse"].config.secrets["admin-api.auth"]["keys"]
    return KeySet.import_key_set({"keys": keys}).keys[0]


@pytest.fixture
def sign_admin_jwt(app: Flask) -> Callable[..., str]:
    """`sign_admin_jwt(**claims)`: an RS256 admin JWT with `kid`, aud = project ID, iat, exp = +5 min;
    claims given replace those (None removes one); `header=` replaces header fields."""

    def sign(header: dict[str, Any] | None = None, key: Any = None, **claims: Any) -> str:
        key = key or admin_key(app)
        now = int(time.time())
        body: dict[str, Any] = {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 300}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        head = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
        head.update(header or {})
        return jwt.encode(head, body, key)

    return sign


@pytest.fixture
def admin_headers(sign_admin_jwt: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_admin_jwt()}"}


@pytest.fixture
def gql(client: Any, admin_headers: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """`gql(query, **variables)`: the JSON body of a POST with a valid admin JWT (status 200 checked)."""

    def run(query: str, path: str = GRAPHQL_PATH, **variables: Any) -> dict[str, Any]:
        resp = client.post(path, json={"query": query, "variables": variables}, headers=admin_headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    return run


def ok(body: dict[str, Any]) -> dict[str, Any]:
    """The `data` of a response that must have no errors."""
    assert "errors" not in body, body["errors"]
    return body["data"]


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    """The extensions of the first error of a response that must have failed."""
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]


def gid(type_name: str, raw_id: Any) -> str:
    from app.admin.ids import audit_log_global_id, to_global_id

    return audit_log_global_id(raw_id) if type_name == "AuditLog" else to_global_id(type_name, raw_id)


def make_users(svc: Any, count: int, prefix: str = "user") -> list[Any]:
    """`count` committed users `<prefix>-<i>@example.com`, created one minute apart (oldest first)."""
    from datetime import timedelta

    from app.extensions import db

    base = svc.clock() - timedelta(days=1)
    users = []
    for i in range(count):
        user = svc.users.create_user([("email", f"{prefix}-{i:03d}@example.com")])
        user.created_at = base + timedelta(minutes=i)
        users.append(user)
    db.session.commit()
    return users


def audit_entries(activity_type: str) -> list[Any]:
    """Committed audit log rows of one type (read in a fresh session)."""
    from sqlalchemy import select

    from app.audit import AuditLog
    from app.extensions import db

    db.session.remove()
    return list(db.session.scalars(select(AuditLog).where(AuditLog.activity_type == activity_type)))


def assert_mutation_audited(name: str, user_id: str | None = None) -> Any:
    """Exactly one `admin_api.mutation.<name>.executed` entry, about `user_id` when given."""
    rows = audit_entries(f"admin_api.mutation.{name}.executed")
    assert len(rows) == 1, rows
    if user_id is not None:
        assert rows[0].user_id == user_id
    return rows[0]

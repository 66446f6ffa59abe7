"""Reading back what an import did: the rows of one user, as plain data."""

from __future__ import annotations

from typing import Any

import bcrypt
from flask import Flask
from sqlalchemy import select

from app.authenticators.models import Authenticator
from app.extensions import db
from app.identities.models import User, VerifiedClaim
from app.roles.models import Group, Role, user_groups, user_roles

BCRYPT_HASH = bcrypt.hashpw(b"Imported-pass-1", bcrypt.gensalt(4)).decode()
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def user_state(app: Flask, email: str | None = None, user_id: str | None = None, key: str = "email") -> dict | None:
    """The user found by login ID `email` (or by ID), or None."""
    with app.app_context():
        svc = app.extensions["gatehouse"]
        if user_id is None:
            identity = svc.users.find_identity(key, email)
            if identity is None:
                return None
            user_id = identity.user_id
        user = db.session.get(User, user_id)
        if user is None:
            return None
        auths = db.session.scalars(
            select(Authenticator).where(Authenticator.user_id == user_id).order_by(Authenticator.created_at)
        )
        state = {
            "id": user.id,
            "standard": dict(user.standard_attributes or {}),
            "custom": dict(user.custom_attributes or {}),
            "disabled": user.is_disabled,
            "valid_from": user.account_valid_from,
            "valid_until": user.account_valid_until,
            "identities": {i.login_id_key: i.login_id for i in svc.users.identities_of(user_id, "login_id")},
            "verified": sorted(
                (c.name, c.value)
                for c in db.session.scalars(select(VerifiedClaim).where(VerifiedClaim.user_id == user_id))
            ),
            "authenticators": [
                {
                    "id": a.id,
                    "type": a.type,
                    "kind": a.kind,
                    "target": a.oob_target,
                    "totp": a.totp_secret,
                    "hash": a.password_hash,
                    "expire_after": a.expire_after,
                }
                for a in auths
            ],
            "roles": sorted(
                db.session.scalars(select(Role.key).join(user_roles).where(user_roles.c.user_id == user_id))
            ),
            "groups": sorted(
                db.session.scalars(select(Group.key).join(user_groups).where(user_groups.c.user_id == user_id))
            ),
        }
        db.session.rollback()
        return state


def count_users(app: Flask) -> int:
    with app.app_context():
        return db.session.query(User).count()


def detail_warnings(detail: dict[str, Any]) -> list[str]:
    return [w["message"] for w in detail.get("warnings", [])]


def make_roles(app: Flask, roles: tuple[str, ...] = ("editor", "viewer"), groups: tuple[str, ...] = ("staff", "ops")):
    with app.app_context():
        svc = app.extensions["gatehouse"]
        for key in roles:
            svc.roles.create_role(key)
        for key in groups:
            svc.roles.create_group(key)
        db.session.commit()

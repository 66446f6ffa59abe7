"""The service objects of one app, built once from its config in `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.audit import AuditLogWriter
from app.authenticators.service import PasswordService
from app.config import AppConfig
from app.db import Clock, utcnow
from app.identities.account import AccountService
from app.identities.service import UserService
from app.kvstore import KVStore
from app.roles.service import RoleService
from app.sessions.service import SessionService


@dataclass
class Services:
    config: AppConfig
    store: KVStore
    clock: Clock
    audit: AuditLogWriter
    users: UserService
    passwords: PasswordService
    sessions: SessionService
    roles: RoleService
    accounts: AccountService

    @classmethod
    def build(cls, config: AppConfig, store: KVStore, clock: Clock = utcnow) -> Services:
        audit = AuditLogWriter(clock)
        project = config.project
        users = UserService(project["identity"], audit, clock)
        passwords = PasswordService(project["authenticator"]["password"], audit, clock)
        sessions = SessionService(project["session"], audit, clock)
        return cls(
            config=config,
            store=store,
            clock=clock,
            audit=audit,
            users=users,
            passwords=passwords,
            sessions=sessions,
            roles=RoleService(clock),
            accounts=AccountService(project, users, passwords, sessions, audit, clock),
        )


def services() -> Services:
    """The services of the current app (for transports only)."""
    return current_app.extensions["gatehouse"]

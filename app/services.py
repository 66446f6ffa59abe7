"""The service objects of one app, built once from its config in `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.audit import AuditLogWriter
from app.authenticators.oob import OOBAuthenticatorService
from app.authenticators.otp import OTPService
from app.authenticators.recovery_codes import RecoveryCodeService
from app.authenticators.service import PasswordService
from app.authenticators.totp import TOTPService
from app.config import AppConfig
from app.db import Clock, utcnow
from app.identities.account import AccountService
from app.identities.oauth import OAuthIdentityService
from app.identities.service import UserService
from app.kvstore import KVStore
from app.messaging.service import MessageSender
from app.ratelimit import AccountLockout, RateLimiter
from app.roles.service import RoleService
from app.sessions.service import SessionService
from app.sso.service import SSOService
from app.sso.state import OAuthStateStore


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
    rate_limiter: RateLimiter
    lockout: AccountLockout
    sender: MessageSender
    otp: OTPService
    totp: TOTPService
    recovery_codes: RecoveryCodeService
    oob: OOBAuthenticatorService
    sso: SSOService
    oauth_identities: OAuthIdentityService
    oauth_states: OAuthStateStore

    @classmethod
    def build(cls, config: AppConfig, store: KVStore, clock: Clock = utcnow) -> Services:
        audit = AuditLogWriter(clock)
        project = config.project
        users = UserService(project["identity"], audit, clock, project["ui"].get("phone_input"))
        disabled = bool((config.features.get("rate_limits") or {}).get("disabled"))
        rate_limiter = RateLimiter(store, clock, disabled=disabled)
        expensive = project["authentication"]["rate_limits"].get("password", {}).get("x_expensive_hash_per_user")
        passwords = PasswordService(project["authenticator"]["password"], audit, clock, rate_limiter, expensive)
        sessions = SessionService(project["session"], audit, clock)
        sender = MessageSender(config, clock)
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
            rate_limiter=rate_limiter,
            lockout=AccountLockout(store, project["authentication"]["lockout"], clock),
            sender=sender,
            otp=OTPService(store, sender, rate_limiter, project, clock),
            totp=TOTPService(store, audit, clock),
            recovery_codes=RecoveryCodeService(audit, clock),
            oob=OOBAuthenticatorService(audit, clock),
            sso=SSOService(config, clock),
            oauth_identities=OAuthIdentityService(users, audit, clock),
            oauth_states=OAuthStateStore(store),
        )


def services() -> Services:
    """The services of the current app (for transports only)."""
    return current_app.extensions["gatehouse"]

"""What a signed-in user may change about their own account (the settings pages, contract 7.2).

No Flask here: the pages pass the user, the session and a `RequestContext`. Every change goes
through the services the Admin API and the flow engine use (users, accounts, passwords, totp, oob,
otp, recovery codes, sessions), so the same rules, audit rows and rate limits apply. What this
module adds are the end user's own rules:

- `user_profile` access control for the `end_user` role (hidden, readonly, readwrite): a change
  to an attribute that is not readwrite is refused with `Forbidden/AccessControlViolated`;
- the login ID key flags (`create_disabled`, `update_disabled`, `delete_disabled`,
  `modify_disabled`) and the refusal to remove the last identity;
- verification of a new email or phone number before it becomes a login ID (when the claim's
  verification is required), with a code mailed or texted through the OTP service;
- `secondary_authentication_mode: required` keeps the last second factor;
- credential checks (the current password, TOTP codes) behind the authentication rate limits and
  the account lockout.

Pending work between two pages (a code sent, a TOTP secret shown, recovery codes to show once) is
kept in the key-value store under a random token bound to the user, for a few minutes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.authenticators import recovery_codes as rc
from app.authenticators import totp as totp_mod
from app.authenticators.failures import authentication_failed, refusal_event, write_alone
from app.authenticators.models import Authenticator
from app.context import RequestContext
from app.crypto import random_alnum
from app.errors import (
    AppError,
    Forbidden,
    Invalid,
    InvariantViolated,
    NotFound,
    Unauthorized,
    ValidationFailed,
    duplicated_identity,
)
from app.extensions import db
from app.identities.account import AuthenticatorNotFound, AuthorizationNotFound, SessionNotFound
from app.identities.models import Identity, User
from app.identities.normalize import normalize_email, normalize_phone
from app.identities.service import CLAIM_BY_TYPE, IdentityNotFound
from app.ratelimit import PASSWORD_LIMIT
from app.services import Services
from app.sessions.models import IdPSession, OAuthAuthorization, OfflineGrant

KINDS = ("email", "phone", "username")
CHANNEL_OF_KIND = {"email": "email", "phone": "sms"}
ACCESS_LEVELS = ("hidden", "readonly", "readwrite")
STANDARD_EDITABLE = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "address",
    "profile",
    "website",
    "picture",
    "email",
    "phone_number",
    "preferred_username",
)
DEFAULT_REAUTH_MAX_AGE = 300
MIN_REAUTH_MAX_AGE = 60
PENDING_TTL = 20 * 60  # seconds; a code is valid for at most this long anyway
SHOW_ONCE_TTL = 10 * 60


class AccessControlViolated(Forbidden):
    def __init__(self, pointer: str) -> None:
        super().__init__("AccessControlViolated", f"{pointer} may not be changed", {"pointer": pointer})


class PendingNotFound(NotFound):
    """A pending verification, TOTP secret or code list that expired or belongs to someone else."""

    def __init__(self) -> None:
        super().__init__("SettingsPendingNotFound", "this step has expired")


def invalid_credentials() -> Unauthorized:
    return Unauthorized("InvalidCredentials", "invalid credentials")


@dataclass(frozen=True)
class LoginIDKey:
    key: str
    type: str
    create: bool
    update: bool
    delete: bool


@dataclass(frozen=True)
class CustomAttribute:
    name: str
    type: str
    access: str
    spec: dict[str, Any]


def _level(value: Any, default: str) -> str:
    return value if value in ACCESS_LEVELS else default


class SelfService:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.project = svc.config.project

    # -- configuration --------------------------------------------------------------------------
    @property
    def login_ids_enabled(self) -> bool:
        return "login_id" in (self.project["authentication"].get("identities") or ["login_id"])

    def login_id_keys(self, kind: str) -> list[LoginIDKey]:
        if not self.login_ids_enabled:
            return []
        out = []
        for k in self.project["identity"]["login_id"]["keys"]:
            if k.get("type") != kind:
                continue
            frozen = bool(k.get("modify_disabled"))
            out.append(
                LoginIDKey(
                    key=k.get("key") or kind,
                    type=kind,
                    create=not (frozen or k.get("create_disabled")),
                    update=not (frozen or k.get("update_disabled")),
                    delete=not (frozen or k.get("delete_disabled")),
                )
            )
        return out

    def key_of(self, identity: Identity) -> LoginIDKey | None:
        keys = self.login_id_keys(identity.login_id_type or "")
        return next((k for k in keys if k.key == identity.login_id_key), None)

    def verification(self, kind: str) -> str:
        """`required`, `optional` or `off` for the claim a login ID of `kind` fills."""
        claim = {"email": "email", "phone": "phone_number"}.get(kind)
        if claim is None:
            return "off"
        cfg = self.project["verification"]["claims"].get(claim) or {}
        if not cfg.get("enabled", True):
            return "off"
        return "required" if cfg.get("required", True) else "optional"

    @property
    def secondary_authenticators(self) -> list[str]:
        auth = self.project["authentication"]
        if auth.get("secondary_authentication_mode") == "disabled":
            return []
        return list(auth.get("secondary_authenticators") or [])

    @property
    def recovery_codes_enabled(self) -> bool:
        return not self.project["authentication"]["recovery_code"]["disabled"] and bool(self.secondary_authenticators)

    @property
    def primary_password_enabled(self) -> bool:
        return "password" in (self.project["authentication"].get("primary_authenticators") or [])

    @property
    def deletion_enabled(self) -> bool:
        return bool(self.project["account_deletion"]["scheduled_by_end_user_enabled"])

    @property
    def deletion_grace_days(self) -> int:
        return int(self.project["account_deletion"]["grace_period_days"])

    @property
    def reauth_max_age(self) -> int:
        """`ui.settings_reauth_max_age_seconds` (Gatehouse's key): how old the last authentication
        may be before a sensitive change asks for it again. 0 turns the check off; other values
        are at least 60 s, so that returning from the reauth page never asks again at once."""
        value = (self.project.get("ui") or {}).get("settings_reauth_max_age_seconds", DEFAULT_REAUTH_MAX_AGE)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return DEFAULT_REAUTH_MAX_AGE
        return 0 if value == 0 else max(value, MIN_REAUTH_MAX_AGE)

    def needs_reauth(self, session: IdPSession) -> bool:
        max_age = self.reauth_max_age
        if max_age == 0:
            return False
        return (self.svc.clock() - session.authenticated_at).total_seconds() > max_age

    # -- profile --------------------------------------------------------------------------------
    def standard_access(self, name: str) -> str:
        for entry in self.project["user_profile"]["standard_attributes"].get("access_control") or []:
            if isinstance(entry, dict) and entry.get("pointer") == "/" + name:
                return _level((entry.get("access_control") or {}).get("end_user"), "readwrite")
        return "readwrite"

    def custom_attributes(self) -> list[CustomAttribute]:
        out = []
        for spec in self.project["user_profile"]["custom_attributes"].get("attributes") or []:
            if not isinstance(spec, dict) or not isinstance(spec.get("pointer"), str):
                continue
            name = spec["pointer"].strip("/")
            if not name or "/" in name:
                continue
            # Authgear's custom attributes are hidden from the end user unless configured otherwise.
            access = _level((spec.get("access_control") or {}).get("end_user"), "hidden")
            out.append(CustomAttribute(name, str(spec.get("type", "string")), access, spec))
        return out

    def update_profile(
        self,
        user: User,
        standard: dict[str, Any] | None,
        custom: dict[str, Any] | None,
        ctx: RequestContext,
    ) -> User:
        """Set (a value) or remove (None) attributes; each must be readwrite for the end user."""
        new_standard = new_custom = None
        if standard:
            new_standard = dict(user.standard_attributes or {})
            for name, value in standard.items():
                if name not in STANDARD_EDITABLE or self.standard_access(name) != "readwrite":
                    raise AccessControlViolated("/" + name)
                if value is None:
                    new_standard.pop(name, None)
                else:
                    new_standard[name] = value
        if custom:
            specs = {a.name: a for a in self.custom_attributes()}
            new_custom = dict(user.custom_attributes or {})
            for name, value in custom.items():
                spec = specs.get(name)
                if spec is None or spec.access != "readwrite":
                    raise AccessControlViolated("/" + name)
                if value is None:
                    new_custom.pop(name, None)
                else:
                    new_custom[name] = value
        if new_standard is None and new_custom is None:
            return user
        return self.svc.accounts.update_attributes(user, new_standard, new_custom, ctx)

    # -- login IDs ------------------------------------------------------------------------------
    def identities(self, user: User, kind: str) -> list[Identity]:
        return [i for i in self.svc.users.identities_of(user.id, "login_id") if i.login_id_type == kind]

    def owned_identity(self, user: User, identity_id: Any, kind: str | None = None) -> Identity:
        identity = db.session.get(Identity, identity_id) if _id_ok(identity_id) else None
        if identity is None or identity.user_id != user.id or identity.type != "login_id":
            raise IdentityNotFound()
        if kind is not None and identity.login_id_type != kind:
            raise IdentityNotFound()
        return identity

    def is_verified(self, user: User, identity: Identity) -> bool:
        claim = CLAIM_BY_TYPE.get(identity.login_id_type or "")
        if claim not in ("email", "phone_number"):
            return False
        return self.svc.users.is_verified(user.id, claim, identity.login_id or "")

    def primary_value(self, user: User, kind: str) -> str | None:
        return (user.standard_attributes or {}).get(CLAIM_BY_TYPE[kind])

    def add_login_id(self, user: User, kind: str, raw: str, ctx: RequestContext) -> str | None:
        """Adds the login ID now, or sends a code and returns the pending token when it must be
        verified first."""
        key = next((k for k in self.login_id_keys(kind) if k.create), None)
        if key is None:
            raise InvariantViolated("IdentityModifyDisabled", "login IDs of this type cannot be added")
        _, norm = self.svc.users.normalize(key.key, raw)
        if self.svc.users.find_identity(key.key, norm.value) is not None:
            raise duplicated_identity()
        if self.verification(kind) == "required":
            return self._send(user, {"op": "add", "kind": kind, "key": key.key, "value": norm.value}, ctx)
        self.svc.users.add_login_id(user, key.key, norm.value, ctx)
        return None

    def change_login_id(self, user: User, identity: Identity, raw: str, ctx: RequestContext) -> str | None:
        key = self.key_of(identity)
        if key is None or not key.update:
            raise InvariantViolated("IdentityModifyDisabled", "this login ID cannot be changed")
        _, norm = self.svc.users.normalize(key.key, raw)
        existing = self.svc.users.find_identity(key.key, norm.value)
        if existing is not None:
            raise duplicated_identity()
        kind = identity.login_id_type or ""
        if self.verification(kind) == "required":
            record = {"op": "change", "kind": kind, "key": key.key, "value": norm.value, "identity_id": identity.id}
            return self._send(user, record, ctx)
        self.svc.accounts.update_login_id(user, identity, key.key, norm.value, ctx)
        return None

    def verify_login_id(self, user: User, identity: Identity, ctx: RequestContext) -> str:
        kind = identity.login_id_type or ""
        if self.verification(kind) == "off":
            raise InvariantViolated("ClaimNotVerifiable", "this login ID cannot be verified")
        record = {"op": "verify", "kind": kind, "value": identity.login_id, "identity_id": identity.id}
        return self._send(user, record, ctx)

    def remove_login_id(self, user: User, identity: Identity, ctx: RequestContext) -> None:
        key = self.key_of(identity)
        if key is None or not key.delete:
            raise InvariantViolated("IdentityModifyDisabled", "this login ID cannot be removed")
        # AccountService refuses to remove the last identity (InvariantViolated/RemoveLastIdentity).
        self.svc.accounts.delete_identity(identity, ctx)

    def set_primary(self, user: User, identity: Identity, ctx: RequestContext) -> None:
        claim = CLAIM_BY_TYPE[identity.login_id_type or ""]
        if self.standard_access(claim) != "readwrite":
            raise AccessControlViolated("/" + claim)
        attrs = dict(user.standard_attributes or {})
        attrs[claim] = identity.login_id
        self.svc.accounts.update_attributes(user, attrs, None, ctx)

    # -- records kept from one request to the next (pending change, TOTP enrolment, codes shown once)
    def _keep(self, kind: str, record: dict[str, Any], ttl: int) -> str:
        """Stores a record of one user (its `user_id`) for a later request; the token that names it."""
        token = random_alnum(32)
        self.svc.store.set(f"settings:{kind}:{token}", json.dumps(record), ttl=ttl)
        return token

    def _kept(self, kind: str, user: User, token: Any) -> dict[str, Any]:
        """The record kept under `token` when it is this user's; PendingNotFound otherwise."""
        raw = self.svc.store.get(f"settings:{kind}:{token}") if _token_ok(token) else None
        record = json.loads(raw) if raw else None
        if not record or record.get("user_id") != user.id:
            raise PendingNotFound()
        return record

    def _forget(self, kind: str, token: str) -> None:
        self.svc.store.delete(f"settings:{kind}:{token}")

    # -- codes sent for a pending change --------------------------------------------------------
    def _send(self, user: User, record: dict[str, Any], ctx: RequestContext) -> str:
        record = {**record, "user_id": user.id}
        record.setdefault("purpose", "verification")
        record.setdefault("channel", CHANNEL_OF_KIND[record["kind"]])
        self.svc.otp.send(record["purpose"], record["channel"], record["value"], locale=ctx.locale, ip=ctx.ip)
        return self._keep("pending", record, PENDING_TTL)

    def pending(self, user: User, token: Any) -> dict[str, Any]:
        return self._kept("pending", user, token)

    def resend(self, user: User, token: str, ctx: RequestContext) -> None:
        record = self.pending(user, token)
        self.svc.otp.send(record["purpose"], record["channel"], record["value"], locale=ctx.locale, ip=ctx.ip)

    def code_status(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.svc.otp.status(record["purpose"], record["value"])

    def confirm(self, user: User, token: str, code: str, ctx: RequestContext) -> dict[str, Any]:
        """Checks the code and makes the pending change; returns the pending record."""
        record = self.pending(user, token)
        self.svc.otp.verify(record["purpose"], record["value"], code, ip=ctx.ip)
        op, value = record["op"], record["value"]
        if op == "add":
            identity = self.svc.users.add_login_id(user, record["key"], value, ctx)
            self._mark_verified(user, identity, ctx)
        elif op in ("change", "verify"):
            identity = self.owned_identity(user, record.get("identity_id"))
            if op == "change":
                identity = self.svc.accounts.update_login_id(user, identity, record["key"], value, ctx)
            elif identity.login_id != value:
                raise PendingNotFound()
            self._mark_verified(user, identity, ctx)
        elif op == "oob":
            self.svc.accounts.create_oob_authenticator(user, "secondary", record["channel"], value, ctx)
        self._forget("pending", token)
        return record

    def _mark_verified(self, user: User, identity: Identity, ctx: RequestContext) -> None:
        claim = CLAIM_BY_TYPE[identity.login_id_type or ""]
        self.svc.accounts.set_verified(user, claim, identity.login_id or "", True, ctx)

    # -- passwords ------------------------------------------------------------------------------
    def _credential_limits(self, user: User, ctx: RequestContext) -> None:
        """authentication.password per IP and per user per IP (falling back to `general`), and the
        lockout (contract 10)."""
        rules = self.project["authentication"]["rate_limits"]
        self.svc.rate_limiter.check_verification(PASSWORD_LIMIT, rules, ctx.ip, user.id)
        self.svc.lockout.check(user.id, ctx.ip)

    def change_password(self, user: User, current: str, new: str, ctx: RequestContext, kind: str = "primary") -> None:
        """The current password first (rate-limited, counted by the lockout), then the policy and
        history checks of `PasswordService.change`. A wrong current password, the lockout and the
        rate limits leave their audit rows as a failed login does."""
        try:
            self._credential_limits(user, ctx)
            auth = self.svc.passwords.verify(user.id, current, kind)
            if auth is None:
                self.svc.lockout.record_failure(user.id, ctx.ip)
                raise invalid_credentials()
        except AppError as exc:
            event = refusal_event(exc, user.id, authentication_failed(f"{kind}_password", user.id))
            if event is not None:
                write_alone(self.svc.audit, ctx, event)
            raise
        self.svc.passwords.change(auth, new, ctx)

    def create_password(self, user: User, new: str, ctx: RequestContext, kind: str = "primary") -> Authenticator:
        return self.svc.accounts.create_password(user, kind, new, ctx)

    def has_password(self, user: User, kind: str = "primary") -> bool:
        return self.svc.passwords.get(user.id, kind) is not None

    # -- second factors -------------------------------------------------------------------------
    def secondaries(self, user: User) -> list[Authenticator]:
        stmt = select(Authenticator).where(Authenticator.user_id == user.id, Authenticator.kind == "secondary")
        return list(db.session.scalars(stmt.order_by(Authenticator.created_at, Authenticator.id)))

    def owned_secondary(self, user: User, auth_id: Any, types: tuple[str, ...]) -> Authenticator:
        auth = db.session.get(Authenticator, auth_id) if _id_ok(auth_id) else None
        if auth is None or auth.user_id != user.id or auth.kind != "secondary" or auth.type not in types:
            raise AuthenticatorNotFound()
        return auth

    def remove_secondary(self, user: User, auth: Authenticator, ctx: RequestContext) -> None:
        others = [a for a in self.secondaries(user) if a.id != auth.id]
        mode = self.project["authentication"].get("secondary_authentication_mode")
        if mode == "required" and not others:
            raise InvariantViolated("RemoveLastSecondaryAuthenticator", "the last second factor cannot be removed")
        self.svc.accounts.delete_authenticator(auth, ctx)
        if not others and self.svc.recovery_codes.remaining(user.id):
            # Recovery codes stand in for a second factor; without one they have nothing to recover.
            self.svc.recovery_codes.replace(user.id, [], ctx)

    def account_name(self, user: User) -> str:
        attrs = user.standard_attributes or {}
        return str(attrs.get("email") or attrs.get("phone_number") or attrs.get("preferred_username") or user.id)

    def totp_begin(self, user: User) -> str:
        return self._keep("totp", {"user_id": user.id, "secret": totp_mod.new_secret()}, PENDING_TTL)

    def totp_secret(self, user: User, token: Any) -> tuple[str, str]:
        """(secret, otpauth URI) of a TOTP enrolment in progress."""
        secret = self._kept("totp", user, token)["secret"]
        return secret, totp_mod.otpauth_uri(secret, self.account_name(user), self.project["id"])

    def totp_confirm(self, user: User, token: str, code: str, display_name: str, ctx: RequestContext) -> Authenticator:
        secret, _ = self.totp_secret(user, token)
        self._credential_limits(user, ctx)
        if not self.svc.totp.verify_code(secret, code):
            raise Invalid("InvalidTOTPCode", "the code does not match")
        auth = self.svc.totp.create(user.id, secret, display_name.strip() or "TOTP", ctx)
        self._forget("totp", token)
        return auth

    def oob_begin(self, user: User, channel: str, raw: str, ctx: RequestContext) -> str:
        try:
            norm = normalize_email(raw, {}) if channel == "email" else normalize_phone(raw)
        except ValidationFailed:
            cause = {"location": "/target", "kind": "format", "details": {}}
            raise ValidationFailed([cause], "invalid email address or phone number") from None
        taken = any(a.type == f"oob_otp_{channel}" and a.oob_target == norm.value for a in self.secondaries(user))
        if taken:
            raise InvariantViolated("DuplicatedAuthenticator", "the user already has this authenticator")
        record = {"op": "oob", "kind": "email" if channel == "email" else "phone", "value": norm.value}
        return self._send(user, {**record, "purpose": "setup", "channel": channel}, ctx)

    # -- recovery codes -------------------------------------------------------------------------
    def regenerate_recovery_codes(self, user: User, ctx: RequestContext) -> str:
        """New codes replace the old ones; returns a token to show them once."""
        count = int(self.project["authentication"]["recovery_code"].get("count") or 16)
        codes = rc.generate(count)
        self.svc.recovery_codes.replace(user.id, codes, ctx)
        record = {"user_id": user.id, "codes": [rc.format_for_human(c) for c in codes]}
        return self._keep("codes", record, SHOW_ONCE_TTL)

    def first_recovery_codes(self, user: User, ctx: RequestContext) -> str | None:
        """After the first second factor: recovery codes, unless the user has some already."""
        if not self.recovery_codes_enabled or self.svc.recovery_codes.remaining(user.id):
            return None
        return self.regenerate_recovery_codes(user, ctx)

    def shown_codes(self, user: User, token: Any) -> list[str]:
        return list(self._kept("codes", user, token)["codes"])

    # -- sessions and authorizations ------------------------------------------------------------
    def idp_sessions(self, user: User) -> list[IdPSession]:
        return self.svc.sessions.list_for_user(user.id)

    def app_sessions(self, user: User) -> list[OfflineGrant]:
        now = self.svc.clock()
        stmt = select(OfflineGrant).where(OfflineGrant.user_id == user.id, OfflineGrant.expires_at > now)
        return list(db.session.scalars(stmt.order_by(OfflineGrant.last_access_at.desc())))

    def revoke_session(self, user: User, session_id: Any, current_id: str, ctx: RequestContext) -> None:
        if not _id_ok(session_id) or session_id == current_id:
            raise SessionNotFound()
        idp = db.session.get(IdPSession, session_id)
        grant = db.session.get(OfflineGrant, session_id) if idp is None else None
        owner = (idp or grant).user_id if (idp or grant) is not None else None
        if owner != user.id:
            raise SessionNotFound()
        self.svc.accounts.revoke_session(session_id, ctx)

    def revoke_other_sessions(self, user: User, current_id: str, ctx: RequestContext) -> int:
        count = self.svc.sessions.revoke_all(user.id, except_session_id=current_id, ctx=ctx)
        for grant in self.app_sessions(user):
            if grant.idp_session_id != current_id:
                self.svc.accounts.revoke_session(grant.id, ctx)
                count += 1
        return count

    def authorizations(self, user: User) -> list[OAuthAuthorization]:
        stmt = select(OAuthAuthorization).where(OAuthAuthorization.user_id == user.id)
        return list(db.session.scalars(stmt.order_by(OAuthAuthorization.created_at)))

    def revoke_authorization(self, user: User, authz_id: Any, ctx: RequestContext) -> None:
        authz = db.session.get(OAuthAuthorization, authz_id) if _id_ok(authz_id) else None
        if authz is None or authz.user_id != user.id:
            raise AuthorizationNotFound()
        self.svc.accounts.delete_authorization(authz, ctx)

    # -- the end of the account -----------------------------------------------------------------
    def schedule_deletion(self, user: User, ctx: RequestContext) -> User:
        if not self.deletion_enabled:
            raise Forbidden("AccountDeletionDisabled", "account deletion by the end user is disabled")
        self.svc.accounts.schedule_deletion(user, None, ctx, scheduled_by="end_user")
        self.svc.accounts.revoke_all_sessions(user, ctx)
        return user


def _id_ok(value: Any) -> bool:
    """A row ID as the pages send it: a UUID string (anything else finds nothing, without a query
    that PostgreSQL would refuse to cast)."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _token_ok(token: Any) -> bool:
    return isinstance(token, str) and len(token) == 32 and token.isascii() and token.isalnum()

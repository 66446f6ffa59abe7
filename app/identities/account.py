"""What an administrator does to a whole account: status (disable, scheduled deletion and
anonymization, valid period), profile attributes, verified claims, login ID changes, extra
authenticators, sessions and authorizations, deletion and anonymization.

Account status follows Authgear's rules: a scheduled deletion or anonymization disables the
account until it is unscheduled; an anonymized account stays disabled. Each change writes the
audit entry Authgear names for it (`user.disabled`, `user.deletion.scheduled`, ...).
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from app import hooks
from app.audit import AuditLogWriter
from app.authenticators.models import Authenticator, PasswordHistory, RecoveryCode
from app.authenticators.service import PasswordService
from app.context import RequestContext
from app.db import Clock, utcnow
from app.errors import Invalid, InvariantViolated, NotFound, ValidationFailed
from app.extensions import db
from app.hooks import effects as hook_effects
from app.identities.models import Identity, User, VerifiedClaim
from app.identities.normalize import normalize_email, normalize_phone
from app.identities.service import CLAIM_BY_TYPE, UserService, unique_guard
from app.sessions.models import IdPSession, OAuthAuthorization, OfflineGrant
from app.sessions.service import SessionService

# The OIDC standard claims (OIDC Core 5.1) that describe the person rather than a login ID: all
# strings. Signup's user profile step, the User Import/Export records and the `profile` scope use
# this one list.
PROFILE_ATTRIBUTES = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
)
# OIDC standard claims that `standardAttributes` may hold (OIDC Core 5.1), with their JSON types.
STANDARD_ATTRIBUTES: dict[str, type | tuple[type, ...]] = {
    "email": str,
    "phone_number": str,
    "preferred_username": str,
    **dict.fromkeys(PROFILE_ATTRIBUTES, str),
    "address": dict,
}
ADDRESS_FIELDS = ("formatted", "street_address", "locality", "region", "postal_code", "country")
_BIRTHDATE = re.compile(r"^\d{4}(-\d{2}-\d{2})?$|^0000-\d{2}-\d{2}$")
VERIFIABLE_CLAIMS = ("email", "phone_number")
MAX_ATTRIBUTE_LENGTH = 1000


class AuthenticatorNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("AuthenticatorNotFound", "authenticator not found")


class SessionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("SessionNotFound", "session not found")


class AuthorizationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("AuthorizationNotFound", "authorization not found")


def invalid_transition(message: str, info: dict[str, Any] | None = None) -> Invalid:
    return Invalid("InvalidAccountStatusTransition", message, info)


def outside_valid_period(user: User, now: datetime) -> bool:
    """Before `account_valid_from` or at/after `account_valid_until`: Authgear then counts the user
    as disabled (isDisabled, sign-in refused with UserOutsideValidPeriod) without storing it."""
    if user.account_valid_from is not None and now < user.account_valid_from:
        return True
    return user.account_valid_until is not None and now >= user.account_valid_until


def check_valid_period(valid_from: datetime | None, valid_until: datetime | None) -> None:
    """Authgear's rule for a valid period: the start strictly before the end (either may be unset)."""
    if valid_from is not None and valid_until is not None and not valid_from < valid_until:
        raise invalid_transition(
            "the start timestamp of account valid period must be less than the end timestamp of the account valid "
            "period",
            {"cause": {"kind": "AccountValidFromShouldBeBeforeAccountValidUntil"}},
        )


def _field_error(location: str, kind: str, message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed([{"location": location, "kind": kind, "details": details}], message)


class AccountService:
    def __init__(
        self,
        project: dict[str, Any],
        users: UserService,
        passwords: PasswordService,
        sessions: SessionService,
        audit: AuditLogWriter,
        clock: Clock = utcnow,
    ) -> None:
        self.deletion_grace = timedelta(days=project["account_deletion"]["grace_period_days"])
        self.anonymization_grace = timedelta(days=project["account_anonymization"]["grace_period_days"])
        self.custom_attributes = {
            a["pointer"].lstrip("/"): a
            for a in project["user_profile"]["custom_attributes"].get("attributes", [])
            if isinstance(a, dict) and isinstance(a.get("pointer"), str)
        }
        self.users = users
        self.passwords = passwords
        self.sessions = sessions
        self.audit = audit
        self.clock = clock

    # -- status ---------------------------------------------------------------------------------
    def set_disabled(self, user: User, disabled: bool, reason: str | None, ctx: RequestContext | None = None) -> User:
        if user.is_anonymized:
            raise invalid_transition("an anonymized user cannot change its status")
        if user.delete_at is not None or user.anonymize_at is not None:
            raise invalid_transition("unschedule the deletion or anonymization first")
        if reason is not None and len(reason) > MAX_ATTRIBUTE_LENGTH:
            raise _field_error("/reason", "maxLength", "reason is too long", expected=MAX_ATTRIBUTE_LENGTH)
        user.is_disabled = disabled
        user.disable_reason = (reason or None) if disabled else None
        self._touch(user)
        self.audit.write("user.disabled" if disabled else "user.reenabled", ctx, user.id)
        return user

    def schedule_deletion(
        self, user: User, reason: str | None = None, ctx: RequestContext | None = None, scheduled_by: str = "admin"
    ) -> User:
        """`scheduled_by` is `admin` or `end_user` (the settings page), which decides the reason a
        sign-in is refused with (ScheduledDeletionByAdmin / ScheduledDeletionByEndUser)."""
        if user.is_anonymized or user.delete_at is not None:
            raise invalid_transition("the user is already scheduled for deletion or anonymized")
        if reason is not None and len(reason) > MAX_ATTRIBUTE_LENGTH:
            raise _field_error("/reason", "maxLength", "reason is too long", expected=MAX_ATTRIBUTE_LENGTH)
        user.delete_at = self.clock() + self.deletion_grace
        user.deletion_scheduled_by = scheduled_by
        user.is_disabled = True
        user.disable_reason = reason or None
        self._touch(user)
        hook_effects.user_event("user.pre_schedule_deletion", user, ctx)
        data = {"delete_at": user.delete_at.isoformat(), "scheduled_by": scheduled_by}
        self.audit.write("user.deletion.scheduled", ctx, user.id, data)
        return user

    def unschedule_deletion(self, user: User, ctx: RequestContext | None = None) -> User:
        if user.delete_at is None:
            raise invalid_transition("the user is not scheduled for deletion")
        user.delete_at = None
        user.deletion_scheduled_by = None
        user.is_disabled = user.anonymize_at is not None
        user.disable_reason = None
        self._touch(user)
        self.audit.write("user.deletion.unscheduled", ctx, user.id)
        return user

    def schedule_anonymization(self, user: User, ctx: RequestContext | None = None) -> User:
        if user.is_anonymized or user.anonymize_at is not None:
            raise invalid_transition("the user is already scheduled for anonymization or anonymized")
        user.anonymize_at = self.clock() + self.anonymization_grace
        user.is_disabled = True
        self._touch(user)
        hook_effects.user_event("user.pre_schedule_anonymization", user, ctx)
        self.audit.write("user.anonymization.scheduled", ctx, user.id, {"anonymize_at": user.anonymize_at.isoformat()})
        return user

    def unschedule_anonymization(self, user: User, ctx: RequestContext | None = None) -> User:
        if user.anonymize_at is None:
            raise invalid_transition("the user is not scheduled for anonymization")
        user.anonymize_at = None
        user.is_disabled = user.delete_at is not None
        if not user.is_disabled:
            user.disable_reason = None
        self._touch(user)
        self.audit.write("user.anonymization.unscheduled", ctx, user.id)
        return user

    def set_valid_period(
        self, user: User, valid_from: datetime | None, valid_until: datetime | None, ctx: RequestContext | None = None
    ) -> User:
        check_valid_period(valid_from, valid_until)
        if user.is_anonymized:
            # Authgear names the status types of the transition; an anonymized user stays anonymized.
            message = "invalid account status transition: anonymized -> anonymized"
            raise invalid_transition(message, {"from": "anonymized", "to": "anonymized"})
        user.account_valid_from = valid_from
        user.account_valid_until = valid_until
        self._touch(user)
        return user

    # -- profile --------------------------------------------------------------------------------
    def update_attributes(
        self,
        user: User,
        standard: dict[str, Any] | None,
        custom: dict[str, Any] | None,
        ctx: RequestContext | None = None,
    ) -> User:
        """Each given object replaces the stored one whole (Authgear's `updateUser`). The derived
        standard attributes a read gives (`*_verified`, `updated_at`) are dropped first, as Authgear's
        WithDerivedAttributesRemoved, so what was read can be written back."""
        if standard is not None:
            derived = ("email_verified", "phone_number_verified", "updated_at")
            user.standard_attributes = self.validate_standard({k: v for k, v in standard.items() if k not in derived})
        if custom is not None:
            user.custom_attributes = self.validate_custom(custom)
        self._touch(user)
        hook_effects.user_event("user.profile.pre_update", user, ctx)
        self.audit.write("user.profile.updated", ctx, user.id)
        return user

    def validate_standard(self, attrs: Any) -> dict[str, Any]:
        if not isinstance(attrs, dict):
            raise _field_error("/standardAttributes", "type", "standardAttributes must be an object")
        for key, value in attrs.items():
            where = f"/{key}"
            expected = STANDARD_ATTRIBUTES.get(key)
            if expected is None:
                raise _field_error(where, "additionalProperties", f"unknown standard attribute {key!r}")
            if not isinstance(value, expected):
                raise _field_error(where, "type", f"{key} has the wrong type")
            if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_LENGTH:
                raise _field_error(where, "maxLength", f"{key} is too long", expected=MAX_ATTRIBUTE_LENGTH)
        if "email" in attrs:
            normalize_email(attrs["email"], {"case_sensitive": True})
        if "phone_number" in attrs:
            normalize_phone(attrs["phone_number"])
        if "birthdate" in attrs and not _BIRTHDATE.match(attrs["birthdate"]):
            raise _field_error("/birthdate", "format", "birthdate must be YYYY, YYYY-MM-DD or 0000-MM-DD")
        for key, value in attrs.get("address", {}).items():
            if key not in ADDRESS_FIELDS or not isinstance(value, str) or len(value) > MAX_ATTRIBUTE_LENGTH:
                raise _field_error(f"/address/{key}", "type", f"invalid address field {key!r}")
        return dict(attrs)

    def validate_custom(self, attrs: Any) -> dict[str, Any]:
        """Keys must be declared in `user_profile.custom_attributes.attributes`; values match their type."""
        if not isinstance(attrs, dict):
            raise _field_error("/customAttributes", "type", "customAttributes must be an object")
        for key, value in attrs.items():
            spec = self.custom_attributes.get(key)
            where = f"/{key}"
            if spec is None:
                raise _field_error(where, "additionalProperties", f"unknown custom attribute {key!r}")
            kind = spec.get("type", "string")
            if kind in ("number", "integer"):
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                if kind == "integer":
                    ok = ok and float(value).is_integer()
                if not ok:
                    raise _field_error(where, "type", f"{key} must be a {kind}", expected=[kind])
                if spec.get("minimum") is not None and value < spec["minimum"]:
                    raise _field_error(where, "minimum", f"{key} is too small", minimum=spec["minimum"])
                if spec.get("maximum") is not None and value > spec["maximum"]:
                    raise _field_error(where, "maximum", f"{key} is too large", maximum=spec["maximum"])
            elif kind == "enum":
                if value not in spec.get("enum", []):
                    raise _field_error(where, "enum", f"{key} is not one of the allowed values")
            elif not isinstance(value, str) or len(value) > MAX_ATTRIBUTE_LENGTH:
                raise _field_error(where, "type", f"{key} must be a string", expected=["string"])
        return dict(attrs)

    def set_verified(
        self, user: User, claim: str, value: str, verified: bool, ctx: RequestContext | None = None
    ) -> User:
        if claim not in VERIFIABLE_CLAIMS:
            raise _field_error("/claimName", "enum", "claimName must be email or phone_number", enum=VERIFIABLE_CLAIMS)
        if not value or len(value) > 400:
            raise _field_error("/claimValue", "maxLength", "claimValue must be 1 to 400 characters")
        if verified:
            self.users.mark_verified(user.id, claim, value)
        else:
            db.session.execute(
                delete(VerifiedClaim).where(
                    VerifiedClaim.user_id == user.id, VerifiedClaim.name == claim, VerifiedClaim.value == value
                )
            )
        kind = "email" if claim == "email" else "phone"
        self.audit.write(
            f"identity.{kind}.{'verified' if verified else 'unverified'}", ctx, user.id, {"claim_name": claim}
        )
        self._touch(user)
        return user

    # -- identities -----------------------------------------------------------------------------
    def update_login_id(
        self, user: User, identity: Identity, key: str, value: str, ctx: RequestContext | None = None
    ) -> Identity:
        if identity.user_id != user.id:
            raise InvariantViolated("MismatchedUser", "the identity belongs to another user")
        if identity.type != "login_id":
            raise InvariantViolated("IdentityModifyDisabled", "only login IDs can be updated")
        spec, norm = self.users.normalize(key, value)
        if spec.key != identity.login_id_key:
            raise _field_error("/definition/loginID/key", "const", "the login ID key cannot change")
        old_value = identity.login_id
        old_identity = hooks.identity_snapshot(identity, "updated")  # identity.<type>.updated's old_identity
        claim = CLAIM_BY_TYPE[spec.type]
        with unique_guard():
            identity.dedup_key = f"login_id:{spec.key}:{norm.unique_key}"
            identity.login_id = norm.value
            identity.original_login_id = value
            identity.claims = {claim: norm.value}
            identity.updated_at = self.clock()
            db.session.flush()
        attrs = dict(user.standard_attributes or {})
        if attrs.get(claim) == old_value:
            attrs[claim] = norm.value
            user.standard_attributes = attrs
        self._touch(user)
        self.audit.write(f"identity.{spec.type}.updated", ctx, user.id, {"login_id_key": spec.key})
        hooks.emit(f"identity.{spec.type}.updated", ctx, user.id, payload=old_identity, identity_id=identity.id)
        return identity

    def delete_identity(self, identity: Identity, ctx: RequestContext | None = None) -> User:
        user = self.users.get(identity.user_id)
        # A biometric key only signs in a user who has another way to (Authgear: not identifiable).
        others = [i for i in self.users.identities_of(user.id) if i.id != identity.id and i.type != "biometric"]
        if not others:
            raise InvariantViolated("RemoveLastIdentity", "the last identity of a user cannot be removed")
        if identity.type == "login_id" and identity.login_id_type:
            claim = CLAIM_BY_TYPE[identity.login_id_type]
            attrs = dict(user.standard_attributes or {})
            if attrs.get(claim) == identity.login_id:
                replacement = next(
                    (i.login_id for i in others if i.type == "login_id" and i.login_id_type == identity.login_id_type),
                    None,
                )
                if replacement is None:
                    attrs.pop(claim, None)
                else:
                    attrs[claim] = replacement
                user.standard_attributes = attrs
        self.users.remove_identity(identity, ctx)
        self._touch(user)
        return user

    # -- authenticators -------------------------------------------------------------------------
    def create_oob_authenticator(
        self, user: User, kind: str, channel: str, target: str, ctx: RequestContext | None = None
    ) -> Authenticator:
        """An OOB OTP authenticator (`channel` email or sms) for a normalized email or phone."""
        norm = normalize_email(target, {}) if channel == "email" else normalize_phone(target)
        type_ = f"oob_otp_{channel}"
        duplicate = db.session.scalar(
            select(Authenticator.id).where(
                Authenticator.user_id == user.id,
                Authenticator.type == type_,
                Authenticator.kind == kind,
                Authenticator.oob_target == norm.value,
            )
        )
        if duplicate is not None:
            raise InvariantViolated("DuplicatedAuthenticator", "the user already has this authenticator")
        now = self.clock()
        has_default = db.session.scalar(
            select(Authenticator.id).where(
                Authenticator.user_id == user.id, Authenticator.kind == "secondary", Authenticator.is_default
            )
        )
        auth = Authenticator(
            user_id=user.id,
            type=type_,
            kind=kind,
            is_default=kind == "secondary" and has_default is None,
            oob_target=norm.value,
            created_at=now,
            updated_at=now,
        )
        db.session.add(auth)
        db.session.flush()
        self.audit.write(f"authenticator.{type_}.created", ctx, user.id, {"kind": kind})
        return auth

    def create_password(self, user: User, kind: str, password: str, ctx: RequestContext | None = None) -> Authenticator:
        if self.passwords.get(user.id, kind) is not None:
            raise InvariantViolated("DuplicatedAuthenticator", "the user already has this authenticator")
        return self.passwords.create(user.id, password, kind, ctx)

    def delete_authenticator(self, auth: Authenticator, ctx: RequestContext | None = None) -> User:
        user = self.users.get(auth.user_id)
        db.session.delete(auth)
        db.session.flush()
        self.audit.write(f"authenticator.{auth.type}.deleted", ctx, user.id, {"kind": auth.kind})
        self._touch(user)
        return user

    def reset_password(
        self, user: User, password: str, expired: bool = False, ctx: RequestContext | None = None
    ) -> Authenticator:
        """Sets the primary password (creating it when missing), checked against the policy."""
        auth = self.passwords.get(user.id, "primary")
        if auth is None:
            auth = self.passwords.create(user.id, password, "primary", ctx)
        else:
            self.passwords.change(auth, password, ctx)
        if expired:
            auth.expire_after = self.clock()
        db.session.flush()
        return auth

    def set_password_expired(self, user: User, expired: bool, ctx: RequestContext | None = None) -> User:
        auth = self.passwords.get(user.id, "primary")
        if auth is None:
            raise AuthenticatorNotFound()
        auth.expire_after = self.clock() if expired else None
        db.session.flush()
        return user

    def generate_password(self) -> str:
        """A random password that meets any policy this module can be configured with."""
        length = max(self.passwords.policy.min_length, 16)
        pool = string.ascii_letters + string.digits
        body = "".join(secrets.choice(pool) for _ in range(length - 4))
        classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#$%&*+-=?@^_")
        tail = [secrets.choice(chars) for chars in classes]
        return body + "".join(tail)

    # -- sessions and authorizations ------------------------------------------------------------
    def revoke_session(self, session_id: str, ctx: RequestContext | None = None) -> str:
        """Revokes an IdP session or an offline grant; returns its user ID."""
        idp = db.session.get(IdPSession, session_id)
        if idp is not None:
            user_id = idp.user_id
            self.sessions.revoke(session_id, ctx)
            return user_id
        grant = db.session.get(OfflineGrant, session_id)
        if grant is None:
            raise SessionNotFound()
        db.session.delete(grant)
        db.session.flush()
        self.audit.write("session.revoked", ctx, grant.user_id, {"session_id": session_id})
        return grant.user_id

    def revoke_all_sessions(self, user: User, ctx: RequestContext | None = None) -> User:
        self.sessions.revoke_all(user.id, ctx=ctx)
        db.session.execute(
            delete(OfflineGrant).where(OfflineGrant.user_id == user.id).execution_options(changes_users=[user.id])
        )
        db.session.flush()
        return user

    def delete_authorization(self, authz: OAuthAuthorization, ctx: RequestContext | None = None) -> str:
        """Removes the consent and the refresh tokens issued under it."""
        user_id = authz.user_id
        db.session.execute(
            delete(OfflineGrant)
            .where(OfflineGrant.user_id == user_id, OfflineGrant.client_id == authz.client_id)
            .execution_options(changes_users=[user_id])
        )
        db.session.delete(authz)
        db.session.flush()
        self.audit.write("authorization.deleted", ctx, user_id, {"client_id": authz.client_id})
        return user_id

    # -- the end of an account ------------------------------------------------------------------
    def delete(self, user: User, reason: str | None = None, ctx: RequestContext | None = None) -> str:
        """Deletes the user and (by cascade) everything it owns; the audit log keeps its ID."""
        user_id = user.id
        db.session.flush()
        hooks.emit("user.deleted", ctx, user_id, snapshot=user, payload={"reason": reason} if reason else None)
        db.session.execute(delete(User).where(User.id == user_id).execution_options(changes_users=[user_id]))
        # The database cascaded the delete; forget the rows this session still holds for the user.
        for obj in list(db.session.identity_map.values()):
            if obj is user or getattr(obj, "user_id", None) == user_id:
                db.session.expunge(obj)
        self.audit.write("user.deleted", ctx, user_id, {"reason": reason} if reason else {})
        return user_id

    def anonymize(self, user: User, ctx: RequestContext | None = None) -> str:
        """Removes what identifies the person and keeps a disabled, anonymized user row."""
        user_id = user.id
        for model in (Identity, Authenticator, VerifiedClaim, PasswordHistory, RecoveryCode, OfflineGrant, IdPSession):
            db.session.execute(delete(model).where(model.user_id == user_id).execution_options(changes_users=[user_id]))
        db.session.execute(delete(OAuthAuthorization).where(OAuthAuthorization.user_id == user_id))
        db.session.expire(user)
        now = self.clock()
        user.is_anonymized = True
        user.anonymized_at = now
        user.anonymize_at = None
        user.delete_at = None
        user.deletion_scheduled_by = None
        user.is_disabled = True
        user.disable_reason = None
        user.standard_attributes = {}
        user.custom_attributes = {}
        user.updated_at = now
        db.session.flush()
        self.audit.write("user.anonymized", ctx, user_id)
        return user_id

    def _touch(self, user: User) -> None:
        user.updated_at = self.clock()
        db.session.flush()

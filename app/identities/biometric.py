"""Biometric identities (contract 1.4; Authgear's identity type `biometric`): a key pair that a
mobile app keeps behind the device's biometric lock. The app sets it up for a signed-in user and
later signs a challenge with it to get a new session without a password.

An identity's `dedup_key` is `biometric:<key id>` (one identity per key); `provider_profile` holds
the public JWK (`jwk`), the SDK's `device_info` and the offline grant its last sign-in issued
(`offline_grant_id`, which the next sign-in replaces, as Authgear does). Its claims are Authgear's
`https://authgear.com/claims/biometric/{key_id,device_info,formatted_device_info}`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.audit import AuditLogWriter
from app.context import RequestContext
from app.db import Clock
from app.errors import InvariantViolated, NotFound
from app.extensions import db
from app.identities.models import Identity, User
from app.identities.service import unique_guard

KEY_ID_CLAIM = "https://authgear.com/claims/biometric/key_id"
DEVICE_INFO_CLAIM = "https://authgear.com/claims/biometric/device_info"
FORMATTED_DEVICE_INFO_CLAIM = "https://authgear.com/claims/biometric/formatted_device_info"
AMR_BIOMETRIC = "x_biometric"  # Authgear's AMR value: RFC 8176 has none for biometrics in general


class BiometricDisallowed(InvariantViolated):
    """`biometric` is not among `authentication.identities`."""

    def __init__(self) -> None:
        super().__init__("BiometricDisallowed", "biometric is not allowed")


class AnonymousUserAddIdentity(InvariantViolated):
    def __init__(self) -> None:
        super().__init__("AnonymousUserAddIdentity", "anonymous user cannot add identity")


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def device_model(device_info: object) -> str:
    """What Authgear shows for a device: `MANUFACTURER MODEL` on Android, the `uname.machine` on iOS;
    empty when the SDK sent neither (setup is then refused)."""
    if not isinstance(device_info, dict):
        return ""
    android = device_info.get("android")
    if isinstance(android, dict):
        build = android.get("Build")
        if not isinstance(build, dict):
            return ""
        maker, model = _text(build.get("MANUFACTURER")), _text(build.get("MODEL"))
        return f"{maker} {model}" if maker and model else ""
    ios = device_info.get("ios")
    if isinstance(ios, dict):
        uname = ios.get("uname")
        return _text(uname.get("machine")) if isinstance(uname, dict) else ""
    return ""


def formatted_device_info(device_info: object) -> str:
    """A one-line label: the device's name when the SDK sent one, then its model."""
    name = ""
    if isinstance(device_info, dict):
        android = device_info.get("android")
        ios = device_info.get("ios")
        if isinstance(android, dict) and isinstance(android.get("Settings"), dict):
            name = _text((android["Settings"].get("Global") or {}).get("DEVICE_NAME"))
        elif isinstance(ios, dict) and isinstance(ios.get("UIDevice"), dict):
            name = _text(ios["UIDevice"].get("name"))
    model = device_model(device_info)
    return f"{name} ({model})" if name and model else name or model


class BiometricIdentityService:
    def __init__(self, project: dict[str, Any], audit: AuditLogWriter, clock: Clock) -> None:
        self.enabled = "biometric" in project["authentication"]["identities"]
        self.list_enabled = bool(project["identity"].get("biometric", {}).get("list_enabled"))
        self.audit = audit
        self.clock = clock

    def check_enabled(self) -> None:
        if not self.enabled:
            raise BiometricDisallowed()

    @staticmethod
    def by_key_id(key_id: str) -> Identity | None:
        return db.session.scalar(select(Identity).where(Identity.dedup_key == f"biometric:{key_id}"))

    @staticmethod
    def list_of(user_id: str) -> list[Identity]:
        query = select(Identity).where(Identity.user_id == user_id, Identity.type == "biometric")
        return list(db.session.scalars(query.order_by(Identity.created_at)))

    @staticmethod
    def jwk_of(identity: Identity) -> dict[str, Any] | None:
        return (identity.provider_profile or {}).get("jwk")

    def create(
        self, user: User, key_id: str, jwk: dict[str, Any], device_info: dict[str, Any], ctx: RequestContext | None
    ) -> Identity:
        """A new biometric identity of `user`; flushed, not committed. `DuplicatedIdentity` for a key
        already set up."""
        self.check_enabled()
        if any(i.type == "anonymous" for i in user.identities):
            raise AnonymousUserAddIdentity()
        now = self.clock()
        identity = Identity(
            user_id=user.id,
            type="biometric",
            dedup_key=f"biometric:{key_id}",
            claims={
                KEY_ID_CLAIM: key_id,
                DEVICE_INFO_CLAIM: device_info,
                FORMATTED_DEVICE_INFO_CLAIM: formatted_device_info(device_info),
            },
            provider_profile={"jwk": jwk, "device_info": device_info},
            created_at=now,
            updated_at=now,
        )
        with unique_guard():
            db.session.add(identity)
            db.session.flush()
        self.audit.write("identity.biometric.enabled", ctx, user.id, {"identity_id": identity.id})
        return identity

    @staticmethod
    def last_grant_id(identity: Identity) -> str | None:
        return (identity.provider_profile or {}).get("offline_grant_id")

    @staticmethod
    def remember_grant(identity: Identity, grant_id: str) -> None:
        identity.provider_profile = {**(identity.provider_profile or {}), "offline_grant_id": grant_id}
        db.session.flush()

    def remove(self, user_id: str, identity_id: str, ctx: RequestContext | None) -> None:
        """Removes one of the user's biometric identities (settings). Sessions it started stay, as in
        Authgear: turning biometric sign-in off does not sign the app out."""
        identity = db.session.get(Identity, identity_id)
        if identity is None or identity.user_id != user_id or identity.type != "biometric":
            raise NotFound("IdentityNotFound", "identity not found")
        db.session.delete(identity)
        db.session.flush()
        self.audit.write("identity.biometric.disabled", ctx, user_id, {"identity_id": identity_id})

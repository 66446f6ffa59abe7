"""The `Authenticator` type and createAuthenticator, deleteAuthenticator."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType
from graphql import GraphQLResolveInfo

from app.admin.context import AdminContext
from app.admin.ids import decode_id, to_global_id
from app.admin.resolvers.common import pick
from app.admin.resolvers.mutation import admin_mutation
from app.authenticators.models import Authenticator
from app.errors import ValidationFailed
from app.extensions import db
from app.identities.account import AuthenticatorNotFound
from app.passkeys.service import passkeys

authenticator_type = ObjectType("Authenticator")
for _field, _attr in {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "isDefault": "is_default",
    "expireAfter": "expire_after",
}.items():
    authenticator_type.set_alias(_field, _attr)

CLAIM_PREFIX = "https://authgear.com/claims/"


@authenticator_type.field("id")
def resolve_id(auth: Authenticator, _: GraphQLResolveInfo) -> str:
    return to_global_id("Authenticator", auth.id)


def authenticator_claims(auth: Authenticator) -> dict[str, Any]:
    """Authgear's authenticator claims; never a secret (no hash, no TOTP seed)."""
    if auth.type == "oob_otp_email":
        return {CLAIM_PREFIX + "oob_otp/email": auth.oob_target}
    if auth.type == "oob_otp_sms":
        return {CLAIM_PREFIX + "oob_otp/phone": auth.oob_target}
    if auth.type == "totp":
        return {CLAIM_PREFIX + "totp/display_name": auth.totp_display_name}
    if auth.type == "passkey":
        return {CLAIM_PREFIX + "passkey/credential_id": auth.passkey_credential_id}
    return {}


@authenticator_type.field("claims")
def resolve_claims(auth: Authenticator, _: GraphQLResolveInfo, names: list[str] | None = None) -> dict[str, Any]:
    return pick(authenticator_claims(auth), names)


def _missing(location: str) -> ValidationFailed:
    return ValidationFailed(
        [{"location": location, "kind": "required", "details": {}}], f"{location.rsplit('/', 1)[-1]} is required"
    )


@admin_mutation("createAuthenticator")
def create_authenticator(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    svc = ctx.services
    user = svc.users.get(decode_id(input["userID"], "User"))
    definition = input["definition"]
    kind, type_ = definition["kind"], definition["type"]
    if type_ == "password":
        password = (definition.get("password") or {}).get("password")
        if not password:
            raise _missing("/definition/password")
        auth = svc.accounts.create_password(user, kind, password, ctx.request)
    elif type_ == "oob_otp_email":
        email = (definition.get("oobOtpEmail") or {}).get("email")
        if not email:
            raise _missing("/definition/oobOtpEmail")
        auth = svc.accounts.create_oob_authenticator(user, kind, "email", email, ctx.request)
    elif type_ == "oob_otp_sms":
        phone = (definition.get("oobOtpSMS") or {}).get("phone")
        if not phone:
            raise _missing("/definition/oobOtpSMS")
        auth = svc.accounts.create_oob_authenticator(user, kind, "sms", phone, ctx.request)
    else:
        # TOTP secrets and passkeys must be enrolled by the user's own device.
        raise ValidationFailed(
            [
                {
                    "location": "/definition/type",
                    "kind": "enum",
                    "details": {"enum": ["PASSWORD", "OOB_OTP_EMAIL", "OOB_OTP_SMS"]},
                }
            ],
            "only PASSWORD, OOB_OTP_EMAIL and OOB_OTP_SMS authenticators can be created by an administrator",
        )
    return {"authenticator": auth}, user.id


@admin_mutation("deleteAuthenticator")
def delete_authenticator(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    auth = db.session.get(Authenticator, decode_id(input["authenticatorID"], "Authenticator"))
    if auth is None:
        raise AuthenticatorNotFound()
    user = ctx.services.accounts.delete_authenticator(auth, ctx.request)
    if auth.type == "passkey":
        passkeys(ctx.services).remove_orphans(user.id)  # its identity goes with it
    return {"user": user}, user.id


BINDABLES = [authenticator_type]

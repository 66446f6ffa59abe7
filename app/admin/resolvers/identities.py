"""The `Identity` type and the identity mutations: createIdentity, updateIdentity, deleteIdentity."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType
from graphql import GraphQLResolveInfo

from app.admin.context import AdminContext
from app.admin.ids import decode_id, to_global_id
from app.admin.resolvers.common import pick
from app.admin.resolvers.mutation import admin_mutation
from app.errors import ValidationFailed
from app.extensions import db
from app.identities.models import Identity
from app.identities.service import IdentityNotFound
from app.passkeys.service import passkeys

identity_type = ObjectType("Identity")
identity_type.set_alias("createdAt", "created_at")
identity_type.set_alias("updatedAt", "updated_at")

CLAIM_PREFIX = "https://authgear.com/claims/"
STANDARD_CLAIMS = ("email", "phone_number", "preferred_username", "name", "given_name", "family_name", "picture")


@identity_type.field("id")
def resolve_id(identity: Identity, _: GraphQLResolveInfo) -> str:
    return to_global_id("Identity", identity.id)


def identity_claims(identity: Identity) -> dict[str, Any]:
    """Authgear's identity claims: the standard claims plus `https://authgear.com/claims/...` keys."""
    stored = dict(identity.claims or {})
    claims: dict[str, Any] = {k: stored[k] for k in STANDARD_CLAIMS if k in stored}
    if identity.type == "login_id":
        claims.update(
            {
                CLAIM_PREFIX + "login_id/key": identity.login_id_key,
                CLAIM_PREFIX + "login_id/type": identity.login_id_type,
                CLAIM_PREFIX + "login_id/value": identity.login_id,
                CLAIM_PREFIX + "login_id/original_value": identity.original_login_id,
            }
        )
    elif identity.type == "oauth":
        claims.update(
            {
                CLAIM_PREFIX + "oauth/provider_type": identity.provider_type,
                CLAIM_PREFIX + "oauth/provider_alias": identity.provider_alias,
                CLAIM_PREFIX + "oauth/subject_id": identity.provider_subject_id,
                # The provider's raw profile (app/sso), else what the identity stored.
                CLAIM_PREFIX + "oauth/profile": stored if (profile := identity.provider_profile) is None else profile,
            }
        )
    elif identity.type in ("anonymous", "biometric"):
        # Key ID and device info, kept as Authgear's claims (app/identities/anonymous.py, biometric.py).
        claims.update({k: v for k, v in stored.items() if k.startswith(CLAIM_PREFIX)})
    elif identity.type == "passkey" and identity.dedup_key:
        claims[CLAIM_PREFIX + "passkey/credential_id"] = identity.dedup_key.partition(":")[2]
        claims[CLAIM_PREFIX + "passkey/display_name"] = stored.get("display_name", "")
    return claims


@identity_type.field("claims")
def resolve_claims(identity: Identity, _: GraphQLResolveInfo, names: list[str] | None = None) -> dict[str, Any]:
    return pick(identity_claims(identity), names)


# -- mutations ------------------------------------------------------------------------------------
def login_id_definition(definition: dict[str, Any]) -> tuple[str, str]:
    login_id = (definition or {}).get("loginID")
    if not login_id:
        raise ValidationFailed(
            [{"location": "/definition/loginID", "kind": "required", "details": {"missing": ["loginID"]}}],
            "definition.loginID is required",
        )
    return login_id["key"], login_id["value"]


def get_identity(raw_id: str) -> Identity:
    identity = db.session.get(Identity, raw_id)
    if identity is None:
        raise IdentityNotFound()
    return identity


@admin_mutation("createIdentity")
def create_identity(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    svc = ctx.services
    user = svc.users.get(decode_id(input["userID"], "User"))
    key, value = login_id_definition(input["definition"])
    identity = svc.users.add_login_id(user, key, value, ctx.request)
    password = input.get("password")
    if password and svc.passwords.get(user.id, "primary") is None:
        svc.passwords.create(user.id, password, "primary", ctx.request)
    return {"identity": identity, "user": user}, user.id


@admin_mutation("updateIdentity")
def update_identity(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    svc = ctx.services
    user = svc.users.get(decode_id(input["userID"], "User"))
    identity = get_identity(decode_id(input["identityID"], "Identity"))
    key, value = login_id_definition(input["definition"])
    identity = svc.accounts.update_login_id(user, identity, key, value, ctx.request)
    return {"identity": identity, "user": user}, user.id


@admin_mutation("deleteIdentity")
def delete_identity(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    identity = get_identity(decode_id(input["identityID"], "Identity"))
    user = ctx.services.accounts.delete_identity(identity, ctx.request)
    if identity.type == "passkey":
        passkeys(ctx.services).remove_orphans(user.id)  # its authenticator goes with it
    return {"user": user}, user.id


BINDABLES = [identity_type]

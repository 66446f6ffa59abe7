"""generateOOBOTPCode: a login or verification code an administrator hands to a user (support desks,
tests); it is stored like a sent code and accepted once by the flows, but nothing is sent."""

from __future__ import annotations

from typing import Any

from app.admin.context import AdminContext
from app.admin.resolvers.mutation import admin_mutation
from app.authenticators.otp import channel_of
from app.identities.normalize import normalize_email, normalize_phone

PURPOSES = {"LOGIN": "login", "VERIFICATION": "verification"}


@admin_mutation("generateOOBOTPCode", event="generate_oob_otp_code")
def generate_oob_otp_code(ctx: AdminContext, input: dict[str, Any]) -> tuple[dict[str, Any], None]:  # noqa: A002
    raw = input["target"]
    target = (normalize_phone(raw) if raw.strip().startswith("+") else normalize_email(raw, {})).value
    purpose = PURPOSES.get(input.get("purpose") or "LOGIN", input.get("purpose"))  # bound enums arrive lower-case
    code = ctx.services.otp.issue(purpose, channel_of(target), target)
    return {"code": code}, None


BINDABLES: list[Any] = []  # the mutation registers itself on the shared Mutation type

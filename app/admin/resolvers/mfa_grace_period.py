"""A user's own MFA grace period (Authgear's `setMFAGracePeriod`, `removeMFAGracePeriod`, `User.mfaGracePeriodEndAt`).

Until `endAt`, a user who has no second factor where the login flow requires one is asked to set one
up during login (the flow engine reads `users.mfa_grace_period_end_at`), whatever the project-wide
`authentication.secondary_authentication_grace_period` says.
"""

from __future__ import annotations

from typing import Any

from app.admin.context import AdminContext
from app.admin.ids import decode_id
from app.admin.resolvers.mutation import admin_mutation, user_payload
from app.admin.resolvers.users import user_type
from app.extensions import db
from app.identities.models import User


def _set(ctx: AdminContext, input: dict[str, Any], end_at: Any) -> tuple[Any, str]:  # noqa: A002
    user = ctx.services.users.get(decode_id(input["userID"], "User"))
    user.mfa_grace_period_end_at = end_at
    user.updated_at = ctx.services.clock()
    db.session.flush()
    return user_payload(user)


@admin_mutation("setMFAGracePeriod", event="set_mfa_grace_period")
def set_mfa_grace_period(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    return _set(ctx, input, input["endAt"])


@admin_mutation("removeMFAGracePeriod", event="remove_mfa_grace_period")
def remove_mfa_grace_period(ctx: AdminContext, input: dict[str, Any]) -> tuple[Any, str]:  # noqa: A002
    return _set(ctx, input, None)


@user_type.field("mfaGracePeriodEndAt")
def resolve_mfa_grace_period_end_at(user: User, *_: Any) -> Any:
    return user.mfa_grace_period_end_at

"""The Mutation type's plumbing: every mutation writes `admin_api.mutation.<name>.executed`.

A mutation function takes the context and its `input` and returns its payload and the ID of the
user it changed (or None). The audit entry carries the input (secrets redacted) and the JWT's
`audit_context` claim when the caller sent one (contract 3.1).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from app.admin.context import AdminContext
from app.admin.resolvers.common import context, snake_case
from app.identities.models import User

mutation = MutationType()

MutationFn = Callable[[AdminContext, dict[str, Any]], tuple[Any, str | None]]
SECRET_INPUT_KEYS = frozenset({"password", "code", "secret", "token"})


def redact(value: Any) -> Any:
    """The input as JSON, secrets replaced, datetimes as RFC 3339 text."""
    if isinstance(value, dict):
        return {k: ("REDACTED" if k in SECRET_INPUT_KEYS and v is not None else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def admin_mutation(field: str, event: str | None = None) -> Callable[[MutationFn], MutationFn]:
    """`event`: the middle of Authgear's event name when it is not the field's snake case (Authgear
    writes `ClientID` as one word: `add_resource_to_clientid`)."""
    activity = f"admin_api.mutation.{event or snake_case(field)}.executed"

    def decorate(fn: MutationFn) -> MutationFn:
        def resolve(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:  # noqa: A002
            ctx = context(info)
            ctx.reset()
            payload, user_id = fn(ctx, input)
            data: dict[str, Any] = {"input": redact(input)}
            if ctx.audit_context is not None:
                data["audit_context"] = ctx.audit_context
            ctx.services.audit.write(activity, ctx.request, user_id, data)
            ctx.reset()  # the payload is read after the change
            return payload

        mutation.set_field(field, resolve)
        return fn

    return decorate


def user_payload(user: User) -> tuple[dict[str, Any], str]:
    return {"user": user}, user.id

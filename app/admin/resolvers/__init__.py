"""Resolvers of the Admin API, one module per concept; `build_schema` binds them to the SDL."""

from __future__ import annotations

from pathlib import Path

from ariadne import make_executable_schema
from graphql import GraphQLSchema

from app.admin.resolvers import (
    audit_logs,
    authenticators,
    common,
    fraud_protection,
    identities,
    mfa_grace_period,  # noqa: F401  (binds its fields to `mutation` and `User` as it is imported)
    nodes,
    otp_codes,
    resources,
    roles,
    session_creation,
    sessions,
    user_mutations,
    users,
)
from app.admin.resolvers.mutation import mutation

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.graphql"


def build_schema() -> GraphQLSchema:
    bindables = [
        common.datetime_scalar,
        *common.JSON_SCALARS,
        *common.ENUMS,
        common.node_interface,
        common.entity_interface,
        mutation,
        *users.BINDABLES,
        *identities.BINDABLES,
        *authenticators.BINDABLES,
        *sessions.BINDABLES,
        *roles.BINDABLES,
        *audit_logs.BINDABLES,
        *nodes.BINDABLES,
        *user_mutations.BINDABLES,
        *otp_codes.BINDABLES,
        *resources.BINDABLES,
        *fraud_protection.BINDABLES,
        *session_creation.BINDABLES,
    ]
    return make_executable_schema(SCHEMA_PATH.read_text(encoding="utf-8"), *bindables)

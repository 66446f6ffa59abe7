"""`fraudProtectionLogs` and `fraudProtectionOverview`: Gatehouse has no fraud protection (it is out
of scope), so it makes no decisions; the queries answer as Authgear's do with protection off: an
empty list and zero counts. Scripts reading them keep working."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType, UnionType
from graphql import GraphQLResolveInfo

from app.admin.pagination import Connection, PageArgs

query = QueryType()


@query.field("fraudProtectionLogs")
def resolve_fraud_protection_logs(_: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
    return Connection(PageArgs.parse(args), lambda offset, limit: [], lambda: 0)


@query.field("fraudProtectionOverview")
def resolve_fraud_protection_overview(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return {
        "sendSMS": {
            "total": 0,
            "blocked": 0,
            "flagged": 0,
            "timeBuckets": [],
            "topIPLocations": [],
            "topSMSOrigins": [],
            "topSourceIPs": [],
        }
    }


# Never resolved (there are no records), but a union needs a type resolver to build.
action_detail = UnionType(
    "FraudProtectionDecisionActionDetail", lambda *_: "FraudProtectionDecisionSendSMSActionDetail"
)

BINDABLES = [query, action_detail]

"""Claims about a user: Authgear's custom claims, standard attributes, UserInfo (contract 1.6).

No Flask here, so the resolver can compute the same user facts (`user_facts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Label, Select, String, bindparam, case, distinct, func, select, union

from app.authenticators.models import Authenticator, RecoveryCode
from app.extensions import db
from app.identities.models import Identity, User, VerifiedClaim
from app.oidc.clients import OAuthClient
from app.oidc.scopes import FULL_ACCESS, FULL_USERINFO, STANDARD_CLAIMS, claims_for_scopes, userinfo_claims
from app.roles.models import Role, group_roles, user_groups, user_roles

CLAIM_PREFIX = "https://authgear.com/claims/user/"
IS_ANONYMOUS = CLAIM_PREFIX + "is_anonymous"
IS_VERIFIED = CLAIM_PREFIX + "is_verified"
CAN_REAUTHENTICATE = CLAIM_PREFIX + "can_reauthenticate"
ROLES = CLAIM_PREFIX + "roles"
AUTHENTICATORS = CLAIM_PREFIX + "authenticators"
IDENTITIES = CLAIM_PREFIX + "identities"
RECOVERY_CODE_ENABLED = CLAIM_PREFIX + "recovery_code_enabled"

_VERIFIABLE = {"email": "email", "phone": "phone_number"}
# Role keys are `[A-Za-z0-9_:]`; this cannot occur in one.
_ROLE_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class UserFacts:
    user_id: str
    is_anonymous: bool
    is_verified: bool
    can_reauthenticate: bool
    roles: list[str]

    def custom_claims(self) -> dict[str, Any]:
        return {
            IS_ANONYMOUS: self.is_anonymous,
            IS_VERIFIED: self.is_verified,
            CAN_REAUTHENTICATE: self.can_reauthenticate,
            ROLES: self.roles,
        }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class ClaimsService:
    def __init__(self, project: dict[str, Any]) -> None:
        self.verification = project["verification"]
        profile = project["user_profile"]
        self._hidden_standard = {
            entry.get("pointer", "").lstrip("/")
            for entry in profile.get("standard_attributes", {}).get("access_control", [])
            if (entry.get("access_control") or {}).get("bearer") == "hidden"
        }
        self._custom = {
            entry.get("pointer", "").lstrip("/"): (entry.get("access_control") or {}).get("bearer", "hidden")
            for entry in profile.get("custom_attributes", {}).get("attributes", [])
        }
        self._facts_statement: Select[Any] | None = None

    # -- account state -------------------------------------------------------------------------
    @staticmethod
    def is_active(user: User | None, now: datetime) -> bool:
        """A session of this user may be used (disabled, deactivated, anonymized, deleted or outside
        its valid period: no)."""
        if user is None or user.is_disabled or user.is_deactivated or user.is_anonymized or user.delete_at:
            return False
        if user.account_valid_from is not None and now < user.account_valid_from:
            return False
        return not (user.account_valid_until is not None and now >= user.account_valid_until)

    # -- the four custom claims in every token and response --------------------------------------
    def user_facts(self, user: User) -> UserFacts:
        """The four facts in one statement: the resolver runs this on every request. The statement
        is built once (building it costs more than running it) and runs on the Core connection."""
        if self._facts_statement is None:
            self._facts_statement = select(*self.facts_columns(bindparam("facts_user_id", type_=String)))
        row = db.session.connection().execute(self._facts_statement, {"facts_user_id": user.id}).one()
        return self.facts_from_row(user.id, row)

    def facts_columns(self, user_id: ColumnElement[str]) -> list[Label[Any]]:
        """Scalar subqueries for the facts of the user `user_id` (a bound value, or a column of an
        enclosing query, which they then correlate with)."""
        claims_cfg = self.verification["claims"]
        verifiable = [t for t, claim in _VERIFIABLE.items() if claims_cfg.get(claim, {}).get("enabled", True)]
        claim_name = case(*((Identity.login_id_type == t, c) for t, c in _VERIFIABLE.items()), else_=None)
        # A (claim, value) pair per verifiable login ID; `login_id or ""` as in the pairs of Python.
        pair = claim_name + ":" + func.coalesce(Identity.login_id, "")
        pairs = select(func.count(distinct(pair))).where(
            Identity.user_id == user_id, Identity.type == "login_id", Identity.login_id_type.in_(verifiable)
        )
        verified = pairs.where(
            select(VerifiedClaim.id)
            .where(
                VerifiedClaim.user_id == user_id,
                VerifiedClaim.name == claim_name,
                VerifiedClaim.value == func.coalesce(Identity.login_id, ""),
            )
            .correlate_except(VerifiedClaim)
            .exists()
        )
        # Nested subqueries do not correlate with `user_id`'s table on their own: every level names
        # its own tables and correlates the rest, or it would read the roles of every user.
        direct = select(user_roles.c.role_id).where(user_roles.c.user_id == user_id).correlate_except(user_roles)
        via_groups = (
            select(group_roles.c.role_id)
            .join(user_groups, user_groups.c.group_id == group_roles.c.group_id)
            .where(user_groups.c.user_id == user_id)
            .correlate_except(group_roles, user_groups)
        )
        roles = select(func.aggregate_strings(Role.key, _ROLE_SEPARATOR)).where(Role.id.in_(union(direct, via_groups)))
        anonymous = select(Identity.id).where(Identity.user_id == user_id, Identity.type == "anonymous")
        return [
            anonymous.exists().label("f_anon"),
            pairs.scalar_subquery().label("f_pairs"),
            verified.scalar_subquery().label("f_verified"),
            select(Authenticator.id).where(Authenticator.user_id == user_id).exists().label("f_auth"),
            roles.scalar_subquery().label("f_roles"),
        ]

    def facts_from_row(self, user_id: str, row: Any) -> UserFacts:
        pairs, verified = int(row.f_pairs or 0), int(row.f_verified or 0)
        if self.verification["criteria"] == "all":
            is_verified = pairs > 0 and verified == pairs
        else:
            is_verified = verified > 0
        return UserFacts(
            user_id=user_id,
            is_anonymous=bool(row.f_anon),
            is_verified=is_verified,
            can_reauthenticate=bool(row.f_auth),
            roles=sorted(row.f_roles.split(_ROLE_SEPARATOR)) if row.f_roles else [],
        )

    @staticmethod
    def effective_roles(user_id: str) -> list[str]:
        """The user's roles and the roles of its groups, sorted."""
        direct = select(user_roles.c.role_id).where(user_roles.c.user_id == user_id)
        via_groups = (
            select(group_roles.c.role_id)
            .join(user_groups, user_groups.c.group_id == group_roles.c.group_id)
            .where(user_groups.c.user_id == user_id)
        )
        ids = union(direct, via_groups).subquery()
        return sorted(db.session.scalars(select(Role.key).where(Role.id.in_(select(ids.c.role_id)))))

    @staticmethod
    def _verified_pairs(user_id: str) -> set[tuple[str, str]]:
        rows = db.session.execute(
            select(VerifiedClaim.name, VerifiedClaim.value).where(VerifiedClaim.user_id == user_id)
        )
        return {(name, value) for name, value in rows}

    # -- standard attributes ----------------------------------------------------------------------
    def standard_attributes(self, user: User) -> dict[str, Any]:
        """Standard attributes the `bearer` role may read, with the computed `*_verified` and `updated_at`."""
        attrs = {k: v for k, v in (user.standard_attributes or {}).items() if k in STANDARD_CLAIMS}
        verified = self._verified_pairs(user.id)
        if "email" in attrs:
            attrs["email_verified"] = ("email", attrs["email"]) in verified
        if "phone_number" in attrs:
            attrs["phone_number_verified"] = ("phone_number", attrs["phone_number"]) in verified
        attrs["updated_at"] = int(user.updated_at.timestamp())
        return {k: v for k, v in attrs.items() if k.removesuffix("_verified") not in self._hidden_standard}

    def custom_attributes(self, user: User) -> dict[str, Any]:
        return {k: v for k, v in (user.custom_attributes or {}).items() if self._custom.get(k, "hidden") != "hidden"}

    # -- what each consumer gets ------------------------------------------------------------------
    def id_token_claims(
        self, user: User, client: OAuthClient, scopes: list[str], facts: UserFacts | None = None
    ) -> dict[str, Any]:
        """Custom claims, plus standard attributes released by the scopes for PII clients (contract 1.7).
        `facts`: the user's facts when the caller has read them already."""
        claims = (facts or self.user_facts(user)).custom_claims()
        if client.pii_allowed:
            claims.update(_pick(self.standard_attributes(user), claims_for_scopes(scopes)))
        return claims

    def userinfo(self, user: User, client: OAuthClient, scopes: list[str]) -> dict[str, Any]:
        """The UserInfo response (contract 1.6)."""
        out: dict[str, Any] = {"sub": user.id}
        out.update(self.user_facts(user).custom_claims())
        out.update(_pick(self.standard_attributes(user), userinfo_claims(client, scopes)))
        if client.is_first_party or FULL_USERINFO in scopes:
            out["custom_attributes"] = self.custom_attributes(user)
            out["x_web3"] = {"accounts": []}
        if FULL_ACCESS in scopes or FULL_USERINFO in scopes:
            out.update(self._full_claims(user))
        return out

    @staticmethod
    def _full_claims(user: User) -> dict[str, Any]:
        authenticators = db.session.scalars(
            select(Authenticator).where(Authenticator.user_id == user.id).order_by(Authenticator.created_at)
        )
        identities = db.session.scalars(
            select(Identity).where(Identity.user_id == user.id).order_by(Identity.created_at)
        )
        has_recovery = (
            db.session.scalar(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id).limit(1)) is not None
        )
        identity_list = []
        for i in identities:
            item: dict[str, Any] = {"created_at": _iso(i.created_at), "updated_at": _iso(i.updated_at), "type": i.type}
            if i.type == "login_id":
                item.update(login_id_key=i.login_id_key, login_id_type=i.login_id_type)
            elif i.type == "oauth":
                item.update(oauth_provider_type=i.provider_type, oauth_provider_alias=i.provider_alias)
            identity_list.append(item)
        return {
            AUTHENTICATORS: [
                {"created_at": _iso(a.created_at), "updated_at": _iso(a.updated_at), "type": a.type, "kind": a.kind}
                for a in authenticators
            ],
            IDENTITIES: identity_list,
            RECOVERY_CODE_ENABLED: has_recovery,
        }


def _pick(attrs: dict[str, Any], allowed: set[str] | None) -> dict[str, Any]:
    return dict(attrs) if allowed is None else {k: v for k, v in attrs.items() if k in allowed}

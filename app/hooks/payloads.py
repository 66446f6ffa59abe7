"""The objects inside event payloads, in Authgear's JSON shapes (pkg/api/model: User, Identity,
Session). Built only when some handler listens, so an unhooked event costs nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity, User
from app.roles.models import Group, Role, user_groups, user_roles

# Authgear's identity claim keys for login IDs (pkg/lib/authn/identity/claim_key.go).
_LOGIN_ID_CLAIM = "https://authgear.com/claims/login_id/"
_OAUTH_CLAIM = "https://authgear.com/claims/oauth/"


def rfc3339(moment: datetime | None) -> str | None:
    """Go's time.Time in JSON: RFC 3339 with `Z`."""
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z")


def _put(out: dict[str, Any], key: str, moment: datetime | None) -> None:
    """Authgear's `omitempty` times: absent, not null, when unset."""
    if moment is not None:
        out[key] = rfc3339(moment)


def user_keys(user_id: str) -> tuple[list[str], list[str]]:
    """The user's own role and group keys (what `mutations.user.roles/groups` replace)."""
    roles = db.session.scalars(
        select(Role.key).join(user_roles, user_roles.c.role_id == Role.id).where(user_roles.c.user_id == user_id)
    )
    groups = db.session.scalars(
        select(Group.key).join(user_groups, user_groups.c.group_id == Group.id).where(user_groups.c.user_id == user_id)
    )
    return sorted(roles), sorted(groups)


def user(row: User, project: dict[str, Any]) -> dict[str, Any]:
    """model.User: the account's status, its attributes and its roles and groups."""
    from app.oidc.claims import ClaimsService  # the one place that computes is_verified etc.

    facts = ClaimsService(project).user_facts(row)
    roles, groups = user_keys(row.id)
    out: dict[str, Any] = {
        "id": row.id,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }
    _put(out, "last_login_at", row.last_login_at)
    out.update(is_anonymous=facts.is_anonymous, is_verified=facts.is_verified, is_disabled=bool(row.is_disabled))
    if row.disable_reason:
        out["disable_reason"] = row.disable_reason
    out["is_deactivated"] = bool(row.is_deactivated)
    _put(out, "delete_at", row.delete_at)
    if row.delete_at is not None and row.disable_reason:
        out["delete_reason"] = row.disable_reason
    out["is_anonymized"] = bool(row.is_anonymized)
    _put(out, "anonymize_at", row.anonymize_at)
    _put(out, "account_valid_from", row.account_valid_from)
    _put(out, "account_valid_until", row.account_valid_until)
    out.update(
        can_reauthenticate=facts.can_reauthenticate,
        standard_attributes=dict(row.standard_attributes or {}),
        custom_attributes=dict(row.custom_attributes or {}),
        x_web3={"accounts": []},
        roles=roles,
        groups=groups,
    )
    _put(out, "mfa_grace_period_end_at", row.mfa_grace_period_end_at)
    return out


def identity(row: Identity) -> dict[str, Any]:
    """model.Identity: `claims` as Authgear fills them for each identity type."""
    claims = dict(row.claims or {})
    if row.type == "login_id":
        claims.update(
            {
                _LOGIN_ID_CLAIM + "key": row.login_id_key,
                _LOGIN_ID_CLAIM + "type": row.login_id_type,
                _LOGIN_ID_CLAIM + "value": row.login_id,
                _LOGIN_ID_CLAIM + "original_value": row.original_login_id,
            }
        )
    elif row.type == "oauth":
        claims.update(
            {
                _OAUTH_CLAIM + "provider": {"type": row.provider_type, "alias": row.provider_alias},
                _OAUTH_CLAIM + "subject_id": row.provider_subject_id,
            }
        )
    return {
        "id": row.id,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "type": row.type,
        "user_id": row.user_id,
        "claims": claims,
    }


def identities(user_id: str) -> list[dict[str, Any]]:
    rows = db.session.scalars(select(Identity).where(Identity.user_id == user_id).order_by(Identity.created_at))
    return [identity(i) for i in rows]


def session(row: Any, session_type: str = "idp") -> dict[str, Any]:
    """model.Session of an IdP session or an offline grant."""
    out: dict[str, Any] = {
        "id": row.id,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.last_access_at or row.created_at),
        "type": session_type,
    }
    if row.amr:
        out["amr"] = list(row.amr)
    out.update(
        lastAccessedAt=rfc3339(row.last_access_at),
        createdByIP=row.created_ip or "",
        lastAccessedByIP=row.last_access_ip or row.created_ip or "",
        lastAccessedByIPCountryCode="",
        lastAccessedByIPEnglishCountryName="",
        clientID=getattr(row, "client_id", None),
        displayName=row.created_user_agent or "",
    )
    if row.last_access_user_agent or row.created_user_agent:
        out["userAgent"] = row.last_access_user_agent or row.created_user_agent
    return out

"""Imports every model so the metadata (and Alembic) sees the whole schema."""

from app.audit import AuditLog
from app.authenticators.models import Authenticator, PasswordHistory, RecoveryCode
from app.identities.models import Identity, User, VerifiedClaim
from app.resources.models import ClientResource, ClientResourceScope, Resource, Scope
from app.roles.models import Group, Role, group_roles, user_groups, user_roles
from app.sessions.models import AccessToken, IdPSession, OAuthAuthorization, OAuthCode, OfflineGrant
from app.tasks.models import BackgroundTask

__all__ = [
    "AccessToken",
    "AuditLog",
    "Authenticator",
    "BackgroundTask",
    "ClientResource",
    "ClientResourceScope",
    "Group",
    "IdPSession",
    "Identity",
    "OAuthAuthorization",
    "OAuthCode",
    "OfflineGrant",
    "PasswordHistory",
    "RecoveryCode",
    "Resource",
    "Role",
    "Scope",
    "User",
    "VerifiedClaim",
    "group_roles",
    "user_groups",
    "user_roles",
]

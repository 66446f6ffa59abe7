"""Users, sessions and tokens for the benches, made through the app's own services (in process, on
the stack's database), the way a login and a token grant would make them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from harness import Stack

PASSWORD = "Bench-password-1"  # noqa: S105 (a throwaway database's test password)

SPA_CLIENT = {
    "client_id": "bench-spa",
    "name": "Bench SPA",
    "x_application_type": "spa",
    "redirect_uris": ["http://127.0.0.1:9/cb"],
    "grant_types": ["authorization_code", "refresh_token"],
}
JWT_CLIENT = {**SPA_CLIENT, "client_id": "bench-jwt", "name": "Bench JWT", "issue_jwt_access_token": True}
M2M_CLIENT = {"client_id": "bench-m2m", "name": "Bench M2M", "x_application_type": "m2m"}
# The m2m client of the token benches: JWT access tokens for a registered resource (register_resource).
M2M_JWT_CLIENT = {**M2M_CLIENT, "issue_jwt_access_token": True}
RESOURCE = "https://api.example.com/"
SCOPES = ["read:orders", "write:orders"]


@dataclass
class SeededUser:
    id: str
    email: str
    session_token: str = ""
    session_id: str = ""


def users(stack: Stack, count: int, *, roles: int = 2, verified: bool = True) -> list[SeededUser]:
    """`count` users with an email login ID and the password PASSWORD (hashed once, shared),
    `roles` roles each and, when `verified`, a verified email."""
    from app.authenticators.password import hash_password
    from app.errors import AppError
    from app.extensions import db

    app = stack.app()
    out: list[SeededUser] = []
    with app.app_context():
        svc = app.extensions["gatehouse"]
        keys = [f"bench_role_{i}" for i in range(roles)]
        for key in keys:
            try:
                svc.roles.role_by_key(key)
            except AppError:  # not made by an earlier call yet
                svc.roles.create_role(key)
        shared_hash = hash_password(PASSWORD)
        for n in range(count):
            email = f"bench-{n}-{uuid.uuid4().hex[:8]}@example.com"  # unique across calls
            user = svc.users.create_user([("email", email)])
            svc.passwords.create_from_hash(user.id, shared_hash)
            if verified:
                svc.users.mark_verified(user.id, "email", email)
            if keys:
                svc.roles.add_user_to_roles(user.id, keys)
            out.append(SeededUser(user.id, email))
        db.session.commit()
    return out


def session(stack: Stack, user: SeededUser) -> SeededUser:
    """An IdP session for the user (the `session` cookie value)."""
    from app.extensions import db

    app = stack.app()
    with app.app_context():
        created, token = app.extensions["gatehouse"].sessions.create(user.id, ["pwd"])
        db.session.commit()
        user.session_id, user.session_token = created.id, token
    return user


def access_token(stack: Stack, user: SeededUser, client_id: str) -> str:
    """An access token of `client_id` on the user's IdP session (opaque, or a JWT for a JWT client)."""
    from app.extensions import db
    from app.identities.models import User
    from app.oidc.id_token import SID_IDP, encode_sid
    from app.sessions.models import IdPSession

    app = stack.app()
    with app.app_context():
        provider = app.extensions["gatehouse_oidc"]
        idp = db.session.get(IdPSession, user.session_id)
        issued = provider.access_tokens.issue_for_user(
            client=provider.clients.get(client_id),
            user_id=user.id,
            scopes=["openid", "offline_access"],
            offline_grant_id=None,
            idp_session_id=user.session_id,
            sid=encode_sid(SID_IDP, user.session_id),
            auth_time=idp.authenticated_at,
            amr=list(idp.amr or []),
            user_claims=provider.claims.user_facts(db.session.get_one(User, user.id)).custom_claims(),
        )
        db.session.commit()
        return issued.token


def refresh_tokens(stack: Stack, user: SeededUser, client_id: str, count: int) -> list[str]:
    """`count` offline grants of the user for `client_id`; their refresh tokens."""
    from app.context import RequestContext
    from app.extensions import db
    from app.sessions.models import IdPSession

    app = stack.app()
    out: list[str] = []
    with app.app_context():
        provider = app.extensions["gatehouse_oidc"]
        idp = db.session.get(IdPSession, user.session_id)
        for _ in range(count):
            _, token = provider.offline_grants.create(
                client=provider.clients.get(client_id),
                user_id=user.id,
                scopes=["openid", "offline_access"],
                idp_session_id=user.session_id,
                auth_time=idp.authenticated_at,
                amr=["pwd"],
                ctx=RequestContext(),
            )
            out.append(token)
        db.session.commit()
    return out


def client_secret(stack: Stack, client_id: str) -> str:
    items: list[dict[str, Any]] = stack.secrets["oauth.client_secrets"]["items"]
    return next(i["keys"][0]["k"] for i in items if i["client_id"] == client_id)


def register_resource(stack: Stack) -> None:
    """The resource with its scopes, linked to the m2m client with all of them (as the Admin API's
    createResource, createScope, addResourceToClientID and addScopesToClientID do)."""
    from app.extensions import db
    from app.resources.service import ResourceService

    app = stack.app()
    with app.app_context():
        service = ResourceService(lambda _: True)
        service.create_resource(RESOURCE)
        for scope in SCOPES:
            service.create_scope(RESOURCE, scope)
        service.add_resource_to_client(RESOURCE, M2M_JWT_CLIENT["client_id"])
        service.add_scopes_to_client(RESOURCE, M2M_JWT_CLIENT["client_id"], SCOPES)
        db.session.commit()

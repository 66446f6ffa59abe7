"""A user's standing authorization of a client for a set of scopes (the remembered consent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db import Clock
from app.extensions import db
from app.sessions.models import OAuthAuthorization


class AuthorizationService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    @staticmethod
    def get(user_id: str, client_id: str) -> OAuthAuthorization | None:
        return db.session.scalar(
            select(OAuthAuthorization).where(
                OAuthAuthorization.user_id == user_id, OAuthAuthorization.client_id == client_id
            )
        )

    def covers(self, user_id: str, client_id: str, scopes: list[str]) -> bool:
        authz = self.get(user_id, client_id)
        return authz is not None and set(scopes) <= set(authz.scopes or [])

    def grant(self, user_id: str, client_id: str, scopes: list[str]) -> OAuthAuthorization:
        """Adds the scopes to the user's authorization of the client, creating it when needed."""
        authz = self.get(user_id, client_id)
        if authz is None:
            now = self.clock()
            authz = OAuthAuthorization(
                user_id=user_id, client_id=client_id, scopes=list(scopes), created_at=now, updated_at=now
            )
            try:
                with db.session.begin_nested():
                    db.session.add(authz)
            except IntegrityError:
                # Two tabs consented at once: the other one created it; add our scopes to it.
                authz = self.get(user_id, client_id)
                assert authz is not None
            else:
                return authz
        merged = list(dict.fromkeys([*(authz.scopes or []), *scopes]))
        if merged != list(authz.scopes or []):
            authz.scopes = merged
            authz.updated_at = self.clock()
            db.session.flush()
        return authz

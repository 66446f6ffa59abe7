"""Resources, their scopes and their links to OAuth clients (Authgear's `_auth_resource`,
`_auth_resource_scope`, `_auth_client_resource` and `_auth_client_resource_scope`).

Clients live in `authgear.yaml`, not in the database, so links hold the client ID as text; links to
a client removed from the config stay until the resource or scope goes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, new_id, utcnow
from app.extensions import db

URI_MAX_LENGTH = 100  # Authgear's createResource schema
SCOPE_MAX_LENGTH = 100  # Authgear's createScope schema


class Resource(db.Model):
    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    uri: Mapped[str] = mapped_column(String(URI_MAX_LENGTH), unique=True)
    name: Mapped[str | None] = mapped_column(Text)


class Scope(db.Model):
    __tablename__ = "resource_scopes"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(SCOPE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("resource_id", "scope"),)


class ClientResource(db.Model):
    """The client may ask for tokens aimed at the resource."""

    __tablename__ = "client_resources"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_id: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)

    __table_args__ = (UniqueConstraint("client_id", "resource_id"),)


class ClientResourceScope(db.Model):
    """The client may ask for the scope in tokens aimed at the scope's resource."""

    __tablename__ = "client_resource_scopes"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_id: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    scope_id: Mapped[str] = mapped_column(ForeignKey("resource_scopes.id", ondelete="CASCADE"), index=True)

    __table_args__ = (UniqueConstraint("client_id", "scope_id"),)

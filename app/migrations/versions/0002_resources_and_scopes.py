"""resources and scopes for machine-to-machine clients

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("uri", sa.String(length=100), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sa.UniqueConstraint("uri", name=op.f("uq_resources_uri")),
    )
    op.create_table(
        "client_resources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_client_resources_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_resources")),
        sa.UniqueConstraint("client_id", "resource_id", name=op.f("uq_client_resources_client_id_resource_id")),
    )
    with op.batch_alter_table("client_resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_resources_resource_id"), ["resource_id"], unique=False)

    op.create_table(
        "resource_scopes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name=op.f("fk_resource_scopes_resource_id_resources"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_scopes")),
        sa.UniqueConstraint("resource_id", "scope", name=op.f("uq_resource_scopes_resource_id_scope")),
    )
    op.create_table(
        "client_resource_scopes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_client_resource_scopes_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scope_id"],
            ["resource_scopes.id"],
            name=op.f("fk_client_resource_scopes_scope_id_resource_scopes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_resource_scopes")),
        sa.UniqueConstraint("client_id", "scope_id", name=op.f("uq_client_resource_scopes_client_id_scope_id")),
    )
    with op.batch_alter_table("client_resource_scopes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_resource_scopes_resource_id"), ["resource_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_client_resource_scopes_scope_id"), ["scope_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("client_resource_scopes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_resource_scopes_scope_id"))
        batch_op.drop_index(batch_op.f("ix_client_resource_scopes_resource_id"))

    op.drop_table("client_resource_scopes")
    op.drop_table("resource_scopes")
    with op.batch_alter_table("client_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_resources_resource_id"))

    op.drop_table("client_resources")
    op.drop_table("resources")

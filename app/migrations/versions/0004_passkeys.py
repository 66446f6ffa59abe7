"""Passkeys: authenticators.passkey_last_used_at (the settings list's "last used") and
users.opt_out_passkey_upsell (the user asked not to be offered a passkey again)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("passkey_last_used_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opt_out_passkey_upsell", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("opt_out_passkey_upsell")
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.drop_column("passkey_last_used_at")

"""idp_sessions.offline_grant_id: an app session (Authgear's `app_session` cookie) is a browser
session bound to the offline grant it was opened from, and ends with it

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-27 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idp_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offline_grant_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_idp_sessions_offline_grant_id"), ["offline_grant_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_idp_sessions_offline_grant_id_offline_grants"),
            "offline_grants",
            ["offline_grant_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("idp_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_idp_sessions_offline_grant_id_offline_grants"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_idp_sessions_offline_grant_id"))
        batch_op.drop_column("offline_grant_id")

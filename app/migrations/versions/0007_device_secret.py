"""offline_grants.device_secret_hash: the SHA-256 of the grant's current device secret (Authgear's
device_secret_hash, scope `device_sso`)

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-20 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offline_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_secret_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("offline_grants", schema=None) as batch_op:
        batch_op.drop_column("device_secret_hash")

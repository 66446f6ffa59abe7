"""offline_grants.app2app_device_key: the app2app device key bound to a grant (Authgear's
app2app_device_key_jwk_json)

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offline_grants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("app2app_device_key", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("offline_grants", schema=None) as batch_op:
        batch_op.drop_column("app2app_device_key")

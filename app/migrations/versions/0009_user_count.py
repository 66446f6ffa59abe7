"""user_count_shards: the number of users, kept by triggers on `users`, for the Admin API's
totalCount without counting the table (app.identities.models.UserCountShard)

PostgreSQL: statement-level triggers with transition tables add each statement's count to the
shard of its backend (pg_backend_pid() % 16), so that concurrent transactions rarely wait on one
row; TRUNCATE empties the shards. SQLite (one writer at a time): row-level triggers on shard 0.

Revision ID: 0009
Revises: 0008
Create Date: 2027-02-03 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# 16 shards: pg_backend_pid() % 16 below.
_POSTGRES_UP = [
    """
    CREATE FUNCTION user_count_shards_add() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO user_count_shards AS s (shard, users)
        SELECT pg_backend_pid() % 16, CASE TG_OP WHEN 'INSERT' THEN count(*) ELSE -count(*) END
        FROM user_count_rows HAVING count(*) > 0
        ON CONFLICT (shard) DO UPDATE SET users = s.users + excluded.users;
      RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION user_count_shards_clear() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM user_count_shards;
      RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER user_count_insert AFTER INSERT ON users REFERENCING NEW TABLE AS user_count_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION user_count_shards_add()",
    "CREATE TRIGGER user_count_delete AFTER DELETE ON users REFERENCING OLD TABLE AS user_count_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION user_count_shards_add()",
    "CREATE TRIGGER user_count_truncate AFTER TRUNCATE ON users "
    "FOR EACH STATEMENT EXECUTE FUNCTION user_count_shards_clear()",
]
_POSTGRES_DOWN = [
    "DROP TRIGGER user_count_truncate ON users",
    "DROP TRIGGER user_count_delete ON users",
    "DROP TRIGGER user_count_insert ON users",
    "DROP FUNCTION user_count_shards_clear()",
    "DROP FUNCTION user_count_shards_add()",
]
_SQLITE_UP = [
    """
    CREATE TRIGGER user_count_insert AFTER INSERT ON users BEGIN
      INSERT INTO user_count_shards (shard, users) VALUES (0, 1)
        ON CONFLICT (shard) DO UPDATE SET users = users + 1;
    END
    """,
    """
    CREATE TRIGGER user_count_delete AFTER DELETE ON users BEGIN
      INSERT INTO user_count_shards (shard, users) VALUES (0, -1)
        ON CONFLICT (shard) DO UPDATE SET users = users - 1;
    END
    """,
]
_SQLITE_DOWN = ["DROP TRIGGER user_count_delete", "DROP TRIGGER user_count_insert"]


def upgrade() -> None:
    op.create_table(
        "user_count_shards",
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("users", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_user_count_shards")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES_UP if postgres else _SQLITE_UP:
        op.execute(statement)
    # After the triggers: creating them locked `users` against writes until this commits, so the
    # count misses no row that a concurrent sign-up adds (that one waits, then counts itself).
    op.execute("INSERT INTO user_count_shards (shard, users) SELECT 0, count(*) FROM users")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES_DOWN if postgres else _SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("user_count_shards")

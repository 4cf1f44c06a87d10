"""tag key: tags.tag_key (lowercase, underscores) for case-insensitive tag filters, indexed for live tags

Existing rows are backfilled with the same function new rows get (genai-tag-db-tools' tag_key), then the
column is made NOT NULL (a table rebuild; the project was backed up before the upgrade) and the live-tags
index moves from `tag` to `tag_key`, which is what every tag filter now compares.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from genai_tag_db_tools.normalize import tag_key

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tags", sa.Column("tag_key", sa.String(), nullable=True))
    # One pass in SQLite with the Python key function registered on this connection (only for this
    # migration; nothing in the schema depends on it, so the sqlite3 shell can still write the database).
    raw = op.get_bind().connection.driver_connection
    raw.create_function("lorairo_tag_key", 1, tag_key, deterministic=True)
    op.execute("UPDATE tags SET tag_key = lorairo_tag_key(tag)")
    op.drop_index("idx_tags_live", table_name="tags")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.alter_column("tag_key", existing_type=sa.String(), nullable=False)
    op.create_index(
        "idx_tags_live", "tags", ["tag_key", "image_id"], unique=False, sqlite_where=sa.text("is_rejected = 0")
    )


def downgrade() -> None:
    op.drop_index("idx_tags_live", table_name="tags")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_column("tag_key")
    op.create_index("idx_tags_live", "tags", ["tag", "image_id"], unique=False, sqlite_where=sa.text("is_rejected = 0"))

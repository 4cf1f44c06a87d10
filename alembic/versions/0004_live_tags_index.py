"""live tags index: a partial index on tags(tag, image_id) WHERE is_rejected = 0 for tag filters

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 16:26:04.069889
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain CREATE INDEX (no table rebuild): the index only speeds up reads.
    op.create_index("idx_tags_live", "tags", ["tag", "image_id"], unique=False, sqlite_where=sa.text("is_rejected = 0"))


def downgrade() -> None:
    op.drop_index("idx_tags_live", table_name="tags")

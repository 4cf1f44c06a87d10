"""scale: covering live-tags indexes: by key (filters), by image (filter probes), by tag text (counts)

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-29 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # idx_tags_live again with is_rejected as a column: SQLite does not count a partial index's WHERE column as
    # covered, so every matching entry was followed by a read of its table row (670k reads for a tag on most
    # of a 1M project); with the column the plan says USING COVERING INDEX.
    op.drop_index("idx_tags_live", table_name="tags")
    op.create_index(
        "idx_tags_live",
        "tags",
        ["tag_key", "image_id", "is_rejected"],
        unique=False,
        sqlite_where=sa.text("is_rejected = 0"),
    )
    # Plain CREATE INDEX (no table rebuild): the index only speeds up reads. A filter's second and later tag
    # terms, NOT terms and OR groups are probed per candidate image; through idx_tags_image_id every probe read
    # the image's table rows, through this index it is one covering seek (bench/scale.py).
    op.create_index(
        "idx_tags_image_live",
        "tags",
        ["image_id", "tag_key", "is_rejected"],
        unique=False,
        sqlite_where=sa.text("is_rejected = 0"),
    )
    # The tags panel / statistics count images per tag text over live rows: through idx_tags_tag_image every
    # entry needed its table row for is_rejected (5x slower, bench/scale.py); this partial index covers it.
    op.create_index(
        "idx_tags_live_tag",
        "tags",
        ["tag", "image_id", "is_rejected"],
        unique=False,
        sqlite_where=sa.text("is_rejected = 0"),
    )


def downgrade() -> None:
    op.drop_index("idx_tags_live", table_name="tags")
    op.create_index(
        "idx_tags_live", "tags", ["tag_key", "image_id"], unique=False, sqlite_where=sa.text("is_rejected = 0")
    )
    op.drop_index("idx_tags_live_tag", table_name="tags")
    op.drop_index("idx_tags_image_live", table_name="tags")

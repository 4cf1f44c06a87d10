"""masks and crops: a per-image crop rectangle and mask file (image_regions)

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-29 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0009"
# The team rule names "0004"; on this branch 0006 already revises 0004, so 0009 follows 0006 to keep one head
# (the lead re-chains revisions at merge).
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table only: existing images have no crop and no mask until the user sets them.
    op.create_table(
        "image_regions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("crop_left", sa.Integer(), nullable=True),
        sa.Column("crop_top", sa.Integer(), nullable=True),
        sa.Column("crop_width", sa.Integer(), nullable=True),
        sa.Column("crop_height", sa.Integer(), nullable=True),
        sa.Column("mask_file", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id"),
    )


def downgrade() -> None:
    op.drop_table("image_regions")

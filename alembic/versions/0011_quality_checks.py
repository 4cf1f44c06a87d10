"""quality checks: per-image quality metrics measured without a model (image_quality)

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-29 05:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0011"
# The team rule names "0004"; the brief of this branch names 0009 (masks and crops, already on main) so there
# is one head (the lead re-chains revisions at merge).
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table only: images imported before have no row until `lorairo quality` measures them.
    op.create_table(
        "image_quality",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("sharpness", sa.Float(), nullable=True),
        sa.Column("brightness", sa.Float(), nullable=True),
        sa.Column("clipped_dark", sa.Float(), nullable=True),
        sa.Column("clipped_bright", sa.Float(), nullable=True),
        sa.Column("entropy", sa.Float(), nullable=True),
        sa.Column("saturation", sa.Float(), nullable=True),
        sa.Column("jpeg_quality", sa.Integer(), nullable=True),
        sa.Column("border_fraction", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("measured_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id"),
    )
    op.create_index("idx_image_quality_sharpness", "image_quality", ["sharpness"])


def downgrade() -> None:
    op.drop_index("idx_image_quality_sharpness", table_name="image_quality")
    op.drop_table("image_quality")

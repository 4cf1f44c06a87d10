"""sidecar tracking: size and mtime of each sidecar as last read, so a re-import notices edited sidecars

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-29 04:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table only: existing projects get rows as their sidecars are next read (a re-import merges the
    # tags of sidecars it has no row for, keeping whatever the image already has, removed tags included).
    op.create_table(
        "sidecar_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("file_mtime", sa.Float(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id", "path", name="uq_sidecar_files_image_path"),
    )
    with op.batch_alter_table("sidecar_files", schema=None) as batch_op:
        batch_op.create_index("idx_sidecar_files_path", ["path"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sidecar_files", schema=None) as batch_op:
        batch_op.drop_index("idx_sidecar_files_path")
    op.drop_table("sidecar_files")

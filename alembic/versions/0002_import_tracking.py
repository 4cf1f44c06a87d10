"""import tracking: runs, per-file outcomes, near-duplicate links

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 15:21:56.713813
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("roots_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("total_files", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "import_outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("source_path", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["run_id"], ["import_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("import_outcomes", schema=None) as batch_op:
        batch_op.create_index("idx_import_outcomes_path", ["source_path"], unique=False)
        batch_op.create_index("idx_import_outcomes_run", ["run_id", "outcome"], unique=False)

    op.create_table(
        "near_duplicates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("match_image_id", sa.Integer(), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["match_image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id", "match_image_id", name="uq_near_duplicates_pair"),
    )
    with op.batch_alter_table("near_duplicates", schema=None) as batch_op:
        batch_op.create_index("idx_near_duplicates_match", ["match_image_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("near_duplicates", schema=None) as batch_op:
        batch_op.drop_index("idx_near_duplicates_match")

    op.drop_table("near_duplicates")
    with op.batch_alter_table("import_outcomes", schema=None) as batch_op:
        batch_op.drop_index("idx_import_outcomes_run")
        batch_op.drop_index("idx_import_outcomes_path")

    op.drop_table("import_outcomes")
    op.drop_table("import_runs")

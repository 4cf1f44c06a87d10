"""tag order: tags.position, the user's order of an image's tags in its caption (drag a chip)

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-29 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column: SQLite adds it without rebuilding the table (instant on a million tag rows).
    op.add_column("tags", sa.Column("position", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.drop_column("position")

"""near-duplicate kind: "phash" links from import and "semantic" links from image embeddings

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-29 05:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0010"
# The brief said 0004; 0006 (sidecar tracking) already revises 0004 on main, and two heads would stop every project
# from opening on this branch. The lead re-chains at merge either way.
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN with a constant default: SQLite does it without rewriting the table; existing links are pHash ones.
    with op.batch_alter_table("near_duplicates") as batch:
        batch.add_column(sa.Column("kind", sa.String(), nullable=False, server_default="phash"))


def downgrade() -> None:
    with op.batch_alter_table("near_duplicates") as batch:
        batch.drop_column("kind")

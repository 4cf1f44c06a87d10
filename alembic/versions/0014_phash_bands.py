"""phash bands: expression indexes on three bands of images.phash_int (near-duplicate search by multi-index)

Revision ID: 0014
Revises: 0011
Create Date: 2026-11-29 07:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Spelled exactly as lorairo.database.schema.phash_band_sql writes them (SQLite matches an expression index
# to a query by the expression's text); tests/integration/test_phash_bands.py checks that they agree.
_BANDS = (
    ("idx_images_phash_band0", "(phash_int & 4194303)"),
    ("idx_images_phash_band1", "((phash_int >> 22) & 2097151)"),
    ("idx_images_phash_band2", "((phash_int >> 43) & 2097151)"),
)


def upgrade() -> None:
    # Building an index is the backfill: SQLite computes the expression for every existing row and sorts once
    # (a 1M-image project: measured in docs/benchmarks.md, "Scale"). Images added or removed later enter and
    # leave the indexes with their rows; no trigger or second table to keep in step.
    for name, expression in _BANDS:
        op.execute(f"CREATE INDEX {name} ON images ({expression}, phash_int)")


def downgrade() -> None:
    for name, _expression in _BANDS:
        op.drop_index(name, table_name="images")

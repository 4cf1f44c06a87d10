# ruff: noqa: E501  (frozen SQL text, one statement per line)
"""tag_dirty / image_dirty: images whose tag rows / statistics figures changed, by revision, kept by triggers (the
in-memory tag and figures indexes at 1M)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 10:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Frozen copy of lorairo.database.counters.DIRTY_TRIGGERS (a migration never imports application code;
# tests/unit/test_counters.py checks that the migrated and the created schema have the same triggers).
TRIGGERS = {
    "trg_tags_dirty_insert": (
        "CREATE TRIGGER trg_tags_dirty_insert AFTER INSERT ON tags WHEN NOT EXISTS (SELECT 1 FROM tag_dirty WHERE rev = (SELECT max(rev) FROM tag_dirty) AND image_id = NEW.image_id) BEGIN\n"
        "INSERT INTO tag_dirty (image_id) SELECT NEW.image_id WHERE NOT EXISTS (SELECT 1 FROM tag_dirty WHERE rev = (SELECT max(rev) FROM tag_dirty) AND image_id = NEW.image_id);\n"
        "DELETE FROM tag_dirty WHERE image_id = NEW.image_id AND rev < (SELECT max(rev) FROM tag_dirty);\n"
        "END"
    ),
    "trg_tags_dirty_delete": (
        "CREATE TRIGGER trg_tags_dirty_delete AFTER DELETE ON tags WHEN NOT EXISTS (SELECT 1 FROM tag_dirty WHERE rev = (SELECT max(rev) FROM tag_dirty) AND image_id = OLD.image_id) BEGIN\n"
        "INSERT INTO tag_dirty (image_id) SELECT OLD.image_id WHERE NOT EXISTS (SELECT 1 FROM tag_dirty WHERE rev = (SELECT max(rev) FROM tag_dirty) AND image_id = OLD.image_id);\n"
        "DELETE FROM tag_dirty WHERE image_id = OLD.image_id AND rev < (SELECT max(rev) FROM tag_dirty);\n"
        "END"
    ),
    "trg_tags_dirty_update": (
        "CREATE TRIGGER trg_tags_dirty_update AFTER UPDATE OF tag, tag_key, image_id, is_rejected ON tags WHEN OLD.tag IS NOT NEW.tag OR OLD.tag_key IS NOT NEW.tag_key OR OLD.image_id IS NOT NEW.image_id OR OLD.is_rejected IS NOT NEW.is_rejected BEGIN\n"
        "INSERT INTO tag_dirty (image_id) SELECT OLD.image_id WHERE NOT EXISTS (SELECT 1 FROM tag_dirty WHERE rev = (SELECT max(rev) FROM tag_dirty) AND image_id = OLD.image_id);\n"
        "DELETE FROM tag_dirty WHERE image_id = OLD.image_id AND rev < (SELECT max(rev) FROM tag_dirty);\n"
        "INSERT INTO tag_dirty (image_id) SELECT NEW.image_id WHERE NOT EXISTS (SELECT 1 FROM tag_dirty WHERE rev = (SELECT max(rev) FROM tag_dirty) AND image_id = NEW.image_id);\n"
        "DELETE FROM tag_dirty WHERE image_id = NEW.image_id AND rev < (SELECT max(rev) FROM tag_dirty);\n"
        "END"
    ),
}

# Frozen copy of lorairo.database.counters.FIGURES_DIRTY_TRIGGERS (the in-memory figures index of the
# statistics view: sizes, effective ratings, quality scores).
FIGURES_TRIGGERS = {
    "trg_images_figures_insert": (
        "CREATE TRIGGER trg_images_figures_insert AFTER INSERT ON images WHEN NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.id) BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT NEW.id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.id);\n"
        "DELETE FROM image_dirty WHERE image_id = NEW.id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
    "trg_images_figures_delete": (
        "CREATE TRIGGER trg_images_figures_delete AFTER DELETE ON images WHEN NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.id) BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT OLD.id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.id);\n"
        "DELETE FROM image_dirty WHERE image_id = OLD.id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
    "trg_images_figures_update": (
        "CREATE TRIGGER trg_images_figures_update AFTER UPDATE OF id, width, height, excluded, manual_rating, last_rating ON images WHEN OLD.id IS NOT NEW.id OR OLD.width IS NOT NEW.width OR OLD.height IS NOT NEW.height OR OLD.excluded IS NOT NEW.excluded OR OLD.manual_rating IS NOT NEW.manual_rating OR OLD.last_rating IS NOT NEW.last_rating BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT OLD.id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.id);\n"
        "DELETE FROM image_dirty WHERE image_id = OLD.id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "INSERT INTO image_dirty (image_id) SELECT NEW.id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.id);\n"
        "DELETE FROM image_dirty WHERE image_id = NEW.id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
    "trg_quality_scores_figures_insert": (
        "CREATE TRIGGER trg_quality_scores_figures_insert AFTER INSERT ON quality_scores WHEN NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.image_id) BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT NEW.image_id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.image_id);\n"
        "DELETE FROM image_dirty WHERE image_id = NEW.image_id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
    "trg_quality_scores_figures_delete": (
        "CREATE TRIGGER trg_quality_scores_figures_delete AFTER DELETE ON quality_scores WHEN NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.image_id) BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT OLD.image_id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.image_id);\n"
        "DELETE FROM image_dirty WHERE image_id = OLD.image_id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
    "trg_quality_scores_figures_update": (
        "CREATE TRIGGER trg_quality_scores_figures_update AFTER UPDATE OF image_id, score_name, value, scale_min, scale_max ON quality_scores WHEN OLD.image_id IS NOT NEW.image_id OR OLD.score_name IS NOT NEW.score_name OR OLD.value IS NOT NEW.value OR OLD.scale_min IS NOT NEW.scale_min OR OLD.scale_max IS NOT NEW.scale_max BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT OLD.image_id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.image_id);\n"
        "DELETE FROM image_dirty WHERE image_id = OLD.image_id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "INSERT INTO image_dirty (image_id) SELECT NEW.image_id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.image_id);\n"
        "DELETE FROM image_dirty WHERE image_id = NEW.image_id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
}


def upgrade() -> None:
    # Nothing to backfill: an index is built from the rows at some revision and reads newer rows only.
    op.create_table(
        "tag_dirty",
        sa.Column("rev", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rev"),
        sqlite_autoincrement=True,
    )
    op.create_index("idx_tag_dirty_image", "tag_dirty", ["image_id"])
    op.create_index(
        "idx_tags_rejected",
        "tags",
        ["tag", "image_id", "is_rejected"],
        sqlite_where=sa.text("is_rejected = 1"),
    )
    for statement in TRIGGERS.values():
        op.execute(statement)
    op.create_table(
        "image_dirty",
        sa.Column("rev", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rev"),
        sqlite_autoincrement=True,
    )
    op.create_index("idx_image_dirty_image", "image_dirty", ["image_id"])
    for statement in FIGURES_TRIGGERS.values():
        op.execute(statement)


def downgrade() -> None:
    for name in FIGURES_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("idx_image_dirty_image", table_name="image_dirty")
    op.drop_table("image_dirty")
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("idx_tags_rejected", table_name="tags")
    op.drop_index("idx_tag_dirty_image", table_name="tag_dirty")
    op.drop_table("tag_dirty")

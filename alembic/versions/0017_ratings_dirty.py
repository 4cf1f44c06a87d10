# ruff: noqa: E501  (frozen SQL text, one statement per line)
"""image_dirty also logs the images whose `ratings` rows changed (the in-memory image index answers `rating:`
filter terms, which match any of an image's model ratings, not only the newest)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 13:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Frozen copy of lorairo.database.counters.RATINGS_DIRTY_TRIGGERS (a migration never imports application code;
# tests/unit/test_counters.py checks that the migrated and the created schema have the same triggers).
TRIGGERS = {
    "trg_ratings_figures_insert": (
        "CREATE TRIGGER trg_ratings_figures_insert AFTER INSERT ON ratings WHEN NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.image_id) BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT NEW.image_id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.image_id);\n"
        "DELETE FROM image_dirty WHERE image_id = NEW.image_id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
    "trg_ratings_figures_delete": (
        "CREATE TRIGGER trg_ratings_figures_delete AFTER DELETE ON ratings WHEN NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.image_id) BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT OLD.image_id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.image_id);\n"
        "DELETE FROM image_dirty WHERE image_id = OLD.image_id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
    "trg_ratings_figures_update": (
        "CREATE TRIGGER trg_ratings_figures_update AFTER UPDATE OF image_id, label ON ratings WHEN OLD.image_id IS NOT NEW.image_id OR OLD.label IS NOT NEW.label BEGIN\n"
        "INSERT INTO image_dirty (image_id) SELECT OLD.image_id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = OLD.image_id);\n"
        "DELETE FROM image_dirty WHERE image_id = OLD.image_id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "INSERT INTO image_dirty (image_id) SELECT NEW.image_id WHERE NOT EXISTS (SELECT 1 FROM image_dirty WHERE rev = (SELECT max(rev) FROM image_dirty) AND image_id = NEW.image_id);\n"
        "DELETE FROM image_dirty WHERE image_id = NEW.image_id AND rev < (SELECT max(rev) FROM image_dirty);\n"
        "END"
    ),
}


def upgrade() -> None:
    # Nothing to backfill: an in-memory index is built from the rows at some revision and reads newer rows only.
    for statement in TRIGGERS.values():
        op.execute(statement)


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")

# ruff: noqa: E501  (frozen SQL text, one statement per line)
"""counters: tag_stats (images per tag), images.tag_count / best_score / best_aesthetic kept by triggers; sort indexes

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-29 07:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

# Frozen copy of lorairo.database.counters (a migration never imports application code; tests/unit/test_counters.py
# checks the two agree).
TRIGGERS = {
    "trg_tags_counts_insert": (
        "CREATE TRIGGER trg_tags_counts_insert AFTER INSERT ON tags WHEN NEW.is_rejected = 0 BEGIN\n"
        "INSERT INTO tag_stats (tag, images, first_id) SELECT NEW.tag, 0, NEW.id WHERE 1 AND NOT EXISTS (SELECT 1 FROM tag_stats WHERE tag = NEW.tag);\n"
        "UPDATE tag_stats SET images = images + (NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = NEW.tag AND t.image_id = NEW.image_id AND t.is_rejected = 0 AND t.id <> NEW.id)), first_id = min(first_id, NEW.id) WHERE 1 AND tag = NEW.tag;\n"
        "UPDATE images SET tag_count = tag_count + 1 WHERE 1 AND id = NEW.image_id AND NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = NEW.tag AND t.image_id = NEW.image_id AND t.is_rejected = 0 AND t.id <> NEW.id);\n"
        "END"
    ),
    "trg_tags_counts_delete": (
        "CREATE TRIGGER trg_tags_counts_delete AFTER DELETE ON tags WHEN OLD.is_rejected = 0 BEGIN\n"
        "UPDATE tag_stats SET images = images - (NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = OLD.tag AND t.image_id = OLD.image_id AND t.is_rejected = 0 AND t.id <> OLD.id)), first_id = CASE WHEN first_id = OLD.id THEN (SELECT min(t.id) FROM tags t INDEXED BY idx_tags_live_tag WHERE t.tag = OLD.tag AND t.is_rejected = 0) ELSE first_id END WHERE 1 AND tag = OLD.tag;\n"
        "DELETE FROM tag_stats WHERE 1 AND tag = OLD.tag AND images <= 0;\n"
        "UPDATE images SET tag_count = tag_count - 1 WHERE 1 AND id = OLD.image_id AND NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = OLD.tag AND t.image_id = OLD.image_id AND t.is_rejected = 0 AND t.id <> OLD.id);\n"
        "END"
    ),
    "trg_tags_counts_update": (
        "CREATE TRIGGER trg_tags_counts_update AFTER UPDATE OF tag, image_id, is_rejected ON tags WHEN OLD.tag IS NOT NEW.tag OR OLD.image_id IS NOT NEW.image_id OR OLD.is_rejected IS NOT NEW.is_rejected BEGIN\n"
        "UPDATE tag_stats SET images = images - (NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = OLD.tag AND t.image_id = OLD.image_id AND t.is_rejected = 0 AND t.id <> OLD.id)), first_id = CASE WHEN first_id = OLD.id THEN (SELECT min(t.id) FROM tags t INDEXED BY idx_tags_live_tag WHERE t.tag = OLD.tag AND t.is_rejected = 0) ELSE first_id END WHERE OLD.is_rejected = 0 AND tag = OLD.tag;\n"
        "DELETE FROM tag_stats WHERE OLD.is_rejected = 0 AND tag = OLD.tag AND images <= 0;\n"
        "UPDATE images SET tag_count = tag_count - 1 WHERE OLD.is_rejected = 0 AND id = OLD.image_id AND NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = OLD.tag AND t.image_id = OLD.image_id AND t.is_rejected = 0 AND t.id <> OLD.id);\n"
        "INSERT INTO tag_stats (tag, images, first_id) SELECT NEW.tag, 0, NEW.id WHERE NEW.is_rejected = 0 AND NOT EXISTS (SELECT 1 FROM tag_stats WHERE tag = NEW.tag);\n"
        "UPDATE tag_stats SET images = images + (NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = NEW.tag AND t.image_id = NEW.image_id AND t.is_rejected = 0 AND t.id <> NEW.id)), first_id = min(first_id, NEW.id) WHERE NEW.is_rejected = 0 AND tag = NEW.tag;\n"
        "UPDATE images SET tag_count = tag_count + 1 WHERE NEW.is_rejected = 0 AND id = NEW.image_id AND NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = NEW.tag AND t.image_id = NEW.image_id AND t.is_rejected = 0 AND t.id <> NEW.id);\n"
        "END"
    ),
    "trg_scores_best_insert": (
        "CREATE TRIGGER trg_scores_best_insert AFTER INSERT ON quality_scores BEGIN\n"
        "UPDATE images SET best_score = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = NEW.image_id AND (q.score_name LIKE 'aesthetic%' OR q.source = 'manual')), best_aesthetic = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = NEW.image_id AND q.score_name LIKE 'aesthetic%') WHERE id = NEW.image_id;\n"
        "END"
    ),
    "trg_scores_best_delete": (
        "CREATE TRIGGER trg_scores_best_delete AFTER DELETE ON quality_scores BEGIN\n"
        "UPDATE images SET best_score = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = OLD.image_id AND (q.score_name LIKE 'aesthetic%' OR q.source = 'manual')), best_aesthetic = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = OLD.image_id AND q.score_name LIKE 'aesthetic%') WHERE id = OLD.image_id;\n"
        "END"
    ),
    "trg_scores_best_update": (
        "CREATE TRIGGER trg_scores_best_update AFTER UPDATE ON quality_scores BEGIN\n"
        "UPDATE images SET best_score = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = OLD.image_id AND (q.score_name LIKE 'aesthetic%' OR q.source = 'manual')), best_aesthetic = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = OLD.image_id AND q.score_name LIKE 'aesthetic%') WHERE id = OLD.image_id;\n"
        "UPDATE images SET best_score = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = NEW.image_id AND (q.score_name LIKE 'aesthetic%' OR q.source = 'manual')), best_aesthetic = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = NEW.image_id AND q.score_name LIKE 'aesthetic%') WHERE id = NEW.image_id;\n"
        "END"
    ),
}

BACKFILL = (
    "DELETE FROM tag_stats",
    "INSERT INTO tag_stats (tag, images, first_id) SELECT tag, count(DISTINCT image_id), min(id) FROM tags WHERE is_rejected = 0 GROUP BY tag",
    "UPDATE images SET tag_count = (SELECT count(DISTINCT t.tag) FROM tags t WHERE t.image_id = images.id AND t.is_rejected = 0)",
    "UPDATE images SET best_score = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = images.id AND (q.score_name LIKE 'aesthetic%' OR q.source = 'manual')), best_aesthetic = (SELECT max((q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)) FROM quality_scores q WHERE q.image_id = images.id AND q.score_name LIKE 'aesthetic%')",
)

SORT_INDEXES = {
    # name -> indexed expression: one per grid order (ImageQueryService SORTS), the row id ending every entry.
    "idx_images_sort_name": "file_name COLLATE NOCASE",
    "idx_images_sort_date": "file_mtime DESC",
    "idx_images_sort_resolution": "(width * height) DESC",
    "idx_images_sort_tags": "tag_count DESC",
    "idx_images_sort_score": "best_score DESC",
    "idx_images_sort_aesthetic": "best_aesthetic DESC",
}


def upgrade() -> None:
    # ADD COLUMN with a constant default rewrites nothing; the backfill below fills them once (1M images, 9M tag
    # rows: about a minute, docs/benchmarks.md).
    op.add_column("images", sa.Column("tag_count", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("images", sa.Column("best_score", sa.Float(), nullable=True))
    op.add_column("images", sa.Column("best_aesthetic", sa.Float(), nullable=True))
    op.create_table(
        "tag_stats",
        sa.Column("tag", sa.String(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("tag"),
        sqlite_with_rowid=False,
    )
    # idx_tags_live_tag (tag, image_id, is_rejected) served the panel's GROUP BY, which tag_stats replaces; as
    # (tag, is_rejected) it gives a tag's lowest live row id in one seek (the triggers' first_id).
    op.drop_index("idx_tags_live_tag", table_name="tags")
    op.create_index(
        "idx_tags_live_tag", "tags", ["tag", "is_rejected"], unique=False, sqlite_where=sa.text("is_rejected = 0")
    )
    for statement in BACKFILL:
        op.execute(statement)
    for statement in TRIGGERS.values():
        op.execute(statement)
    for name, expression in SORT_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON images ({expression})")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for name in SORT_INDEXES:
        op.drop_index(name, table_name="images")
    op.drop_index("idx_tags_live_tag", table_name="tags")
    op.create_index(
        "idx_tags_live_tag",
        "tags",
        ["tag", "image_id", "is_rejected"],
        unique=False,
        sqlite_where=sa.text("is_rejected = 0"),
    )
    op.drop_table("tag_stats")
    # ALTER TABLE DROP COLUMN (SQLite 3.35+), not a batch table copy: dropping the old images table with foreign
    # keys on would cascade-delete every tag, caption and score of the project.
    for column in ("best_aesthetic", "best_score", "tag_count"):
        op.execute(f"ALTER TABLE images DROP COLUMN {column}")

# ruff: noqa: E501  (frozen SQL text, one statement per line)
"""statistics counters: images.last_rating, rating_stats, score_bins kept by triggers (the statistics view at 1M)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 08:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Frozen copy of lorairo.database.counters.STATS_TRIGGERS / STATS_BACKFILL (a migration never imports application
# code; tests/unit/test_counters.py checks that the migrated and the created schema have the same triggers).
TRIGGERS = {
    "trg_ratings_last_insert": (
        "CREATE TRIGGER trg_ratings_last_insert AFTER INSERT ON ratings BEGIN\n"
        "UPDATE images SET last_rating = (SELECT r.label FROM ratings r WHERE r.image_id = NEW.image_id ORDER BY r.id DESC LIMIT 1) WHERE id = NEW.image_id;\n"
        "END"
    ),
    "trg_ratings_last_delete": (
        "CREATE TRIGGER trg_ratings_last_delete AFTER DELETE ON ratings BEGIN\n"
        "UPDATE images SET last_rating = (SELECT r.label FROM ratings r WHERE r.image_id = OLD.image_id ORDER BY r.id DESC LIMIT 1) WHERE id = OLD.image_id;\n"
        "END"
    ),
    "trg_ratings_last_update": (
        "CREATE TRIGGER trg_ratings_last_update AFTER UPDATE OF id, image_id, label ON ratings BEGIN\n"
        "UPDATE images SET last_rating = (SELECT r.label FROM ratings r WHERE r.image_id = OLD.image_id ORDER BY r.id DESC LIMIT 1) WHERE id = OLD.image_id;\n"
        "UPDATE images SET last_rating = (SELECT r.label FROM ratings r WHERE r.image_id = NEW.image_id ORDER BY r.id DESC LIMIT 1) WHERE id = NEW.image_id;\n"
        "END"
    ),
    "trg_images_rating_insert": (
        "CREATE TRIGGER trg_images_rating_insert AFTER INSERT ON images BEGIN\n"
        "INSERT INTO rating_stats (label, images) SELECT coalesce(NEW.manual_rating, NEW.last_rating, 'none'), 0 WHERE NOT EXISTS (SELECT 1 FROM rating_stats WHERE label = coalesce(NEW.manual_rating, NEW.last_rating, 'none'));\n"
        "UPDATE rating_stats SET images = images + 1 WHERE label = coalesce(NEW.manual_rating, NEW.last_rating, 'none');\n"
        "END"
    ),
    "trg_images_rating_delete": (
        "CREATE TRIGGER trg_images_rating_delete AFTER DELETE ON images BEGIN\n"
        "UPDATE rating_stats SET images = images - 1 WHERE label = coalesce(OLD.manual_rating, OLD.last_rating, 'none');\n"
        "DELETE FROM rating_stats WHERE label = coalesce(OLD.manual_rating, OLD.last_rating, 'none') AND images <= 0;\n"
        "END"
    ),
    "trg_images_rating_update": (
        "CREATE TRIGGER trg_images_rating_update AFTER UPDATE OF manual_rating, last_rating ON images WHEN coalesce(OLD.manual_rating, OLD.last_rating, 'none') IS NOT coalesce(NEW.manual_rating, NEW.last_rating, 'none') BEGIN\n"
        "UPDATE rating_stats SET images = images - 1 WHERE label = coalesce(OLD.manual_rating, OLD.last_rating, 'none');\n"
        "DELETE FROM rating_stats WHERE label = coalesce(OLD.manual_rating, OLD.last_rating, 'none') AND images <= 0;\n"
        "INSERT INTO rating_stats (label, images) SELECT coalesce(NEW.manual_rating, NEW.last_rating, 'none'), 0 WHERE NOT EXISTS (SELECT 1 FROM rating_stats WHERE label = coalesce(NEW.manual_rating, NEW.last_rating, 'none'));\n"
        "UPDATE rating_stats SET images = images + 1 WHERE label = coalesce(NEW.manual_rating, NEW.last_rating, 'none');\n"
        "END"
    ),
    "trg_scores_bins_insert": (
        "CREATE TRIGGER trg_scores_bins_insert AFTER INSERT ON quality_scores BEGIN\n"
        "INSERT INTO score_bins (score_name, bin, scale_min, scale_max, scores) SELECT NEW.score_name, min(19, max(0, CAST((NEW.value - NEW.scale_min) * 20 / nullif(NEW.scale_max - NEW.scale_min, 0) AS INTEGER))), NEW.scale_min, NEW.scale_max, 0 WHERE NEW.scale_max > NEW.scale_min AND NOT EXISTS (SELECT 1 FROM score_bins WHERE score_name = NEW.score_name AND bin = min(19, max(0, CAST((NEW.value - NEW.scale_min) * 20 / nullif(NEW.scale_max - NEW.scale_min, 0) AS INTEGER))) AND scale_min = NEW.scale_min AND scale_max = NEW.scale_max);\n"
        "UPDATE score_bins SET scores = scores + 1 WHERE NEW.scale_max > NEW.scale_min AND score_name = NEW.score_name AND bin = min(19, max(0, CAST((NEW.value - NEW.scale_min) * 20 / nullif(NEW.scale_max - NEW.scale_min, 0) AS INTEGER))) AND scale_min = NEW.scale_min AND scale_max = NEW.scale_max;\n"
        "END"
    ),
    "trg_scores_bins_delete": (
        "CREATE TRIGGER trg_scores_bins_delete AFTER DELETE ON quality_scores BEGIN\n"
        "UPDATE score_bins SET scores = scores - 1 WHERE OLD.scale_max > OLD.scale_min AND score_name = OLD.score_name AND bin = min(19, max(0, CAST((OLD.value - OLD.scale_min) * 20 / nullif(OLD.scale_max - OLD.scale_min, 0) AS INTEGER))) AND scale_min = OLD.scale_min AND scale_max = OLD.scale_max;\n"
        "DELETE FROM score_bins WHERE OLD.scale_max > OLD.scale_min AND score_name = OLD.score_name AND bin = min(19, max(0, CAST((OLD.value - OLD.scale_min) * 20 / nullif(OLD.scale_max - OLD.scale_min, 0) AS INTEGER))) AND scale_min = OLD.scale_min AND scale_max = OLD.scale_max AND scores <= 0;\n"
        "END"
    ),
    "trg_scores_bins_update": (
        "CREATE TRIGGER trg_scores_bins_update AFTER UPDATE OF score_name, value, scale_min, scale_max ON quality_scores BEGIN\n"
        "UPDATE score_bins SET scores = scores - 1 WHERE OLD.scale_max > OLD.scale_min AND score_name = OLD.score_name AND bin = min(19, max(0, CAST((OLD.value - OLD.scale_min) * 20 / nullif(OLD.scale_max - OLD.scale_min, 0) AS INTEGER))) AND scale_min = OLD.scale_min AND scale_max = OLD.scale_max;\n"
        "DELETE FROM score_bins WHERE OLD.scale_max > OLD.scale_min AND score_name = OLD.score_name AND bin = min(19, max(0, CAST((OLD.value - OLD.scale_min) * 20 / nullif(OLD.scale_max - OLD.scale_min, 0) AS INTEGER))) AND scale_min = OLD.scale_min AND scale_max = OLD.scale_max AND scores <= 0;\n"
        "INSERT INTO score_bins (score_name, bin, scale_min, scale_max, scores) SELECT NEW.score_name, min(19, max(0, CAST((NEW.value - NEW.scale_min) * 20 / nullif(NEW.scale_max - NEW.scale_min, 0) AS INTEGER))), NEW.scale_min, NEW.scale_max, 0 WHERE NEW.scale_max > NEW.scale_min AND NOT EXISTS (SELECT 1 FROM score_bins WHERE score_name = NEW.score_name AND bin = min(19, max(0, CAST((NEW.value - NEW.scale_min) * 20 / nullif(NEW.scale_max - NEW.scale_min, 0) AS INTEGER))) AND scale_min = NEW.scale_min AND scale_max = NEW.scale_max);\n"
        "UPDATE score_bins SET scores = scores + 1 WHERE NEW.scale_max > NEW.scale_min AND score_name = NEW.score_name AND bin = min(19, max(0, CAST((NEW.value - NEW.scale_min) * 20 / nullif(NEW.scale_max - NEW.scale_min, 0) AS INTEGER))) AND scale_min = NEW.scale_min AND scale_max = NEW.scale_max;\n"
        "END"
    ),
}

BACKFILL = (
    "UPDATE images SET last_rating = (SELECT r.label FROM ratings r WHERE r.image_id = images.id ORDER BY r.id DESC LIMIT 1)",
    "DELETE FROM rating_stats",
    "INSERT INTO rating_stats (label, images) SELECT coalesce(images.manual_rating, images.last_rating, 'none'), count(*) FROM images GROUP BY 1",
    "DELETE FROM score_bins",
    "INSERT INTO score_bins (score_name, bin, scale_min, scale_max, scores) SELECT q.score_name, min(19, max(0, CAST((q.value - q.scale_min) * 20 / nullif(q.scale_max - q.scale_min, 0) AS INTEGER))), q.scale_min, q.scale_max, count(*) FROM quality_scores q WHERE q.scale_max > q.scale_min GROUP BY 1, 2, 3, 4",
)


def upgrade() -> None:
    # ADD COLUMN without a default rewrites nothing; the backfill fills it once (one seek per image).
    op.add_column("images", sa.Column("last_rating", sa.String(), nullable=True))
    op.create_table(
        "rating_stats",
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("label"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "score_bins",
        sa.Column("score_name", sa.String(), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("scale_min", sa.Float(), nullable=False),
        sa.Column("scale_max", sa.Float(), nullable=False),
        sa.Column("scores", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("score_name", "bin", "scale_min", "scale_max"),
        sqlite_with_rowid=False,
    )
    for statement in BACKFILL:
        op.execute(statement)
    for statement in TRIGGERS.values():
        op.execute(statement)


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("score_bins")
    op.drop_table("rating_stats")
    # ALTER TABLE DROP COLUMN, not a batch table copy (dropping images with foreign keys on cascades every row).
    op.execute("ALTER TABLE images DROP COLUMN last_rating")

"""Counters kept in step by SQLite triggers: per-tag image counts and per-image sort keys.

The tags panel and the statistics view need "how many images carry each tag" (3,000 tags over 9M tag rows at 1M
images: 6.4 s as one GROUP BY), and the grid sorts by an image's tag count and best score (a correlated sub-query
per image: seconds at 1M). Triggers on `tags` and `quality_scores` keep the answers in `tag_stats` and in
`images.tag_count / best_score / best_aesthetic`, whatever process or code path writes (ORM, Core, raw SQL,
a second connection, an FK cascade): SQLite runs them inside the writing statement's transaction, so a reader
never sees the rows without their counts.

What is counted matches the queries they replace (tests/unit/test_counters.py compares both after every kind of
write):
  * `tag_stats.images`: images with at least one live (`is_rejected = 0`) row of the tag text (an image tagged
    `cat` by two models counts once), `first_id` the lowest live row id of the tag (its category is the
    tag's category in the panel). A row with no live tag left is deleted.
  * `images.tag_count`: distinct live tag texts of the image.
  * `images.best_score`: the image's best aesthetic or manual score on 0..1; `best_aesthetic`: aesthetic only.

Statistics view counters (alembic 0015), same rules:
  * `images.last_rating`: the label of the image's newest `ratings` row (highest id), NULL without one.
  * `rating_stats (label, images)`: images per effective rating `coalesce(manual_rating, last_rating, 'none')`
    (the rating the grid and export show); every image is in exactly one row.
  * `score_bins (score_name, bin, scale_min, scale_max, scores)`: `quality_scores` rows per score name, per
    1/STATS_BINS of the score's own scale, per scale (so each name's range is the min / max over its rows);
    rows with an empty scale (`scale_max <= scale_min`) are not counted, as the histogram query skipped them.

Every statement avoids conflict clauses (no INSERT OR IGNORE): an outer `INSERT OR REPLACE` would override
them inside the trigger. The DDL below is also frozen in alembic/versions/0013_counters.py (migrations never
import application code); tests/unit/test_counters.py checks that both create the same triggers.
"""

from __future__ import annotations

# Another live row of the same tag text on the same image (this row excluded): then the pair was already counted.
# INDEXED BY: one seek on (tag, image_id). Without statistics (a new project is never ANALYZEd) SQLite picked
# idx_tags_live_tag and read every row of the tag, per inserted row: imports grew with the project.
_OTHER = (
    "EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = {r}.tag AND t.image_id = {r}.image_id "
    "AND t.is_rejected = 0 AND t.id <> {r}.id)"
)
# The lowest live row id of a tag: one seek in idx_tags_live_tag (tag, is_rejected; row id last).
_FIRST = "(SELECT min(t.id) FROM tags t INDEXED BY idx_tags_live_tag WHERE t.tag = {r}.tag AND t.is_rejected = 0)"


def _gain(r: str, when: str) -> str:
    """Statements counting row `r` (NEW) as live."""
    other = _OTHER.format(r=r)
    return (
        f"INSERT INTO tag_stats (tag, images, first_id) SELECT {r}.tag, 0, {r}.id "
        f"WHERE {when} AND NOT EXISTS (SELECT 1 FROM tag_stats WHERE tag = {r}.tag);\n"
        f"UPDATE tag_stats SET images = images + (NOT {other}), first_id = min(first_id, {r}.id) "
        f"WHERE {when} AND tag = {r}.tag;\n"
        f"UPDATE images SET tag_count = tag_count + 1 WHERE {when} AND id = {r}.image_id AND NOT {other};\n"
    )


def _loss(r: str, when: str) -> str:
    """Statements uncounting row `r` (OLD), which is no longer live."""
    other = _OTHER.format(r=r)
    return (
        f"UPDATE tag_stats SET images = images - (NOT {other}), "
        f"first_id = CASE WHEN first_id = {r}.id THEN {_FIRST.format(r=r)} ELSE first_id END "
        f"WHERE {when} AND tag = {r}.tag;\n"
        f"DELETE FROM tag_stats WHERE {when} AND tag = {r}.tag AND images <= 0;\n"
        f"UPDATE images SET tag_count = tag_count - 1 WHERE {when} AND id = {r}.image_id AND NOT {other};\n"
    )


_SCORE = "(q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)"


def _best(image_id: str) -> str:
    """Recompute the image's best scores from its few quality_scores rows (idx_quality_scores_image_id)."""
    return (
        f"UPDATE images SET best_score = (SELECT max({_SCORE}) FROM quality_scores q WHERE q.image_id = {image_id} "
        "AND (q.score_name LIKE 'aesthetic%' OR q.source = 'manual')), "
        f"best_aesthetic = (SELECT max({_SCORE}) FROM quality_scores q WHERE q.image_id = {image_id} "
        f"AND q.score_name LIKE 'aesthetic%') WHERE id = {image_id};\n"
    )


_CHANGED = "OLD.tag IS NOT NEW.tag OR OLD.image_id IS NOT NEW.image_id OR OLD.is_rejected IS NOT NEW.is_rejected"

#: name -> CREATE TRIGGER statement, in creation order.
TRIGGERS: dict[str, str] = {
    "trg_tags_counts_insert": (
        "CREATE TRIGGER trg_tags_counts_insert AFTER INSERT ON tags WHEN NEW.is_rejected = 0 BEGIN\n"
        + _gain("NEW", "1")
        + "END"
    ),
    "trg_tags_counts_delete": (
        "CREATE TRIGGER trg_tags_counts_delete AFTER DELETE ON tags WHEN OLD.is_rejected = 0 BEGIN\n"
        + _loss("OLD", "1")
        + "END"
    ),
    "trg_tags_counts_update": (
        f"CREATE TRIGGER trg_tags_counts_update AFTER UPDATE OF tag, image_id, is_rejected ON tags "
        f"WHEN {_CHANGED} BEGIN\n" + _loss("OLD", "OLD.is_rejected = 0") + _gain("NEW", "NEW.is_rejected = 0") + "END"
    ),
    "trg_scores_best_insert": (
        "CREATE TRIGGER trg_scores_best_insert AFTER INSERT ON quality_scores BEGIN\n" + _best("NEW.image_id") + "END"
    ),
    "trg_scores_best_delete": (
        "CREATE TRIGGER trg_scores_best_delete AFTER DELETE ON quality_scores BEGIN\n" + _best("OLD.image_id") + "END"
    ),
    "trg_scores_best_update": (
        "CREATE TRIGGER trg_scores_best_update AFTER UPDATE ON quality_scores BEGIN\n"
        + _best("OLD.image_id")
        + _best("NEW.image_id")
        + "END"
    ),
}

#: Histogram bins per score (the statistics view's HISTOGRAM_BINS): frozen in the triggers, so changing it needs a
#: migration that refills score_bins.
STATS_BINS = 20

# An image's effective rating, as the statistics view counts it.
_EFFECTIVE = "coalesce({r}.manual_rating, {r}.last_rating, 'none')"
# The score's bin on its own scale (the statistics view's histogram expression, spelled the same).
_BIN = (
    f"min({STATS_BINS - 1}, max(0, CAST(({{r}}.value - {{r}}.scale_min) * {STATS_BINS} / "
    "nullif({r}.scale_max - {r}.scale_min, 0) AS INTEGER)))"
)


def _last_rating(image_id: str) -> str:
    """Recompute the image's newest rating label (one seek in idx_ratings_image_id, read backwards)."""
    return (
        f"UPDATE images SET last_rating = (SELECT r.label FROM ratings r WHERE r.image_id = {image_id} "
        f"ORDER BY r.id DESC LIMIT 1) WHERE id = {image_id};\n"
    )


def _rating_gain(r: str) -> str:
    label = _EFFECTIVE.format(r=r)
    return (
        f"INSERT INTO rating_stats (label, images) SELECT {label}, 0 "
        f"WHERE NOT EXISTS (SELECT 1 FROM rating_stats WHERE label = {label});\n"
        f"UPDATE rating_stats SET images = images + 1 WHERE label = {label};\n"
    )


def _rating_loss(r: str) -> str:
    label = _EFFECTIVE.format(r=r)
    return (
        f"UPDATE rating_stats SET images = images - 1 WHERE label = {label};\n"
        f"DELETE FROM rating_stats WHERE label = {label} AND images <= 0;\n"
    )


def _bin_key(r: str) -> str:
    return (
        f"score_name = {r}.score_name AND bin = {_BIN.format(r=r)} AND scale_min = {r}.scale_min "
        f"AND scale_max = {r}.scale_max"
    )


def _bin_gain(r: str) -> str:
    valid = f"{r}.scale_max > {r}.scale_min"
    return (
        f"INSERT INTO score_bins (score_name, bin, scale_min, scale_max, scores) SELECT {r}.score_name, "
        f"{_BIN.format(r=r)}, {r}.scale_min, {r}.scale_max, 0 WHERE {valid} "
        f"AND NOT EXISTS (SELECT 1 FROM score_bins WHERE {_bin_key(r)});\n"
        f"UPDATE score_bins SET scores = scores + 1 WHERE {valid} AND {_bin_key(r)};\n"
    )


def _bin_loss(r: str) -> str:
    valid = f"{r}.scale_max > {r}.scale_min"
    return (
        f"UPDATE score_bins SET scores = scores - 1 WHERE {valid} AND {_bin_key(r)};\n"
        f"DELETE FROM score_bins WHERE {valid} AND {_bin_key(r)} AND scores <= 0;\n"
    )


_RATING_CHANGED = f"{_EFFECTIVE.format(r='OLD')} IS NOT {_EFFECTIVE.format(r='NEW')}"

#: The statistics view's counters (alembic 0015), name -> CREATE TRIGGER, in creation order.
STATS_TRIGGERS: dict[str, str] = {
    "trg_ratings_last_insert": (
        "CREATE TRIGGER trg_ratings_last_insert AFTER INSERT ON ratings BEGIN\n" + _last_rating("NEW.image_id") + "END"
    ),
    "trg_ratings_last_delete": (
        "CREATE TRIGGER trg_ratings_last_delete AFTER DELETE ON ratings BEGIN\n" + _last_rating("OLD.image_id") + "END"
    ),
    "trg_ratings_last_update": (
        "CREATE TRIGGER trg_ratings_last_update AFTER UPDATE OF id, image_id, label ON ratings BEGIN\n"
        + _last_rating("OLD.image_id")
        + _last_rating("NEW.image_id")
        + "END"
    ),
    "trg_images_rating_insert": (
        "CREATE TRIGGER trg_images_rating_insert AFTER INSERT ON images BEGIN\n" + _rating_gain("NEW") + "END"
    ),
    "trg_images_rating_delete": (
        "CREATE TRIGGER trg_images_rating_delete AFTER DELETE ON images BEGIN\n" + _rating_loss("OLD") + "END"
    ),
    "trg_images_rating_update": (
        "CREATE TRIGGER trg_images_rating_update AFTER UPDATE OF manual_rating, last_rating ON images "
        f"WHEN {_RATING_CHANGED} BEGIN\n" + _rating_loss("OLD") + _rating_gain("NEW") + "END"
    ),
    "trg_scores_bins_insert": (
        "CREATE TRIGGER trg_scores_bins_insert AFTER INSERT ON quality_scores BEGIN\n" + _bin_gain("NEW") + "END"
    ),
    "trg_scores_bins_delete": (
        "CREATE TRIGGER trg_scores_bins_delete AFTER DELETE ON quality_scores BEGIN\n" + _bin_loss("OLD") + "END"
    ),
    "trg_scores_bins_update": (
        "CREATE TRIGGER trg_scores_bins_update AFTER UPDATE OF score_name, value, scale_min, scale_max "
        "ON quality_scores BEGIN\n" + _bin_loss("OLD") + _bin_gain("NEW") + "END"
    ),
}

#: Fill the statistics counters from the rows (alembic 0015 on an existing project).
STATS_BACKFILL: tuple[str, ...] = (
    "UPDATE images SET last_rating = (SELECT r.label FROM ratings r WHERE r.image_id = images.id "
    "ORDER BY r.id DESC LIMIT 1)",
    "DELETE FROM rating_stats",
    f"INSERT INTO rating_stats (label, images) SELECT {_EFFECTIVE.format(r='images')}, count(*) FROM images GROUP BY 1",
    "DELETE FROM score_bins",
    f"INSERT INTO score_bins (score_name, bin, scale_min, scale_max, scores) SELECT q.score_name, "
    f"{_BIN.format(r='q')}, q.scale_min, q.scale_max, count(*) FROM quality_scores q "
    "WHERE q.scale_max > q.scale_min GROUP BY 1, 2, 3, 4",
)


# The image already holds the log's newest row: nothing to add (a reader re-reads the images of rows with
# rev >= the revision it was built at, so the newest row's image is always re-read). An import or annotate run
# writes an image's tag rows one after the other: one row logged per image, not per tag row.
_NEWEST = "EXISTS (SELECT 1 FROM {log} WHERE rev = (SELECT max(rev) FROM {log}) AND image_id = {i})"


def _dirty(image_id: str, log: str = "tag_dirty") -> str:
    """Record that the image's tag rows changed: a new row with the next revision and the image's older row
    gone (at most one row per image), unless its row is already the newest. The new row is inserted before the
    old one is deleted, so the revision never goes back to one a reader has seen."""
    return (
        f"INSERT INTO {log} (image_id) SELECT {image_id} WHERE NOT {_NEWEST.format(log=log, i=image_id)};\n"
        f"DELETE FROM {log} WHERE image_id = {image_id} AND rev < (SELECT max(rev) FROM {log});\n"
    )


#: The images whose tag rows changed, by revision (alembic 0016), for the in-memory tag index
#: (services/live_tag_index.py): an index built when the newest revision was R re-reads only the images of rows
#: with rev >= R. Any change of a tag row counts (a rejected row too: simpler, and rejections are rare); an FK
#: cascade of an image delete fires the delete trigger per tag row, so deleted images are seen (tag_dirty has
#: no foreign key).
DIRTY_TRIGGERS: dict[str, str] = {
    "trg_tags_dirty_insert": (
        "CREATE TRIGGER trg_tags_dirty_insert AFTER INSERT ON tags "
        f"WHEN NOT {_NEWEST.format(log='tag_dirty', i='NEW.image_id')} BEGIN\n" + _dirty("NEW.image_id") + "END"
    ),
    "trg_tags_dirty_delete": (
        "CREATE TRIGGER trg_tags_dirty_delete AFTER DELETE ON tags "
        f"WHEN NOT {_NEWEST.format(log='tag_dirty', i='OLD.image_id')} BEGIN\n" + _dirty("OLD.image_id") + "END"
    ),
    "trg_tags_dirty_update": (
        "CREATE TRIGGER trg_tags_dirty_update AFTER UPDATE OF tag, tag_key, image_id, is_rejected ON tags "
        "WHEN OLD.tag IS NOT NEW.tag OR OLD.tag_key IS NOT NEW.tag_key OR OLD.image_id IS NOT NEW.image_id "
        "OR OLD.is_rejected IS NOT NEW.is_rejected BEGIN\n" + _dirty("OLD.image_id") + _dirty("NEW.image_id") + "END"
    ),
}


def _image_logged(event: str, table: str, image_id: str) -> str:
    return (
        f"CREATE TRIGGER trg_{table}_figures_{event.lower()} AFTER {event} ON {table} "
        f"WHEN NOT {_NEWEST.format(log='image_dirty', i=image_id)} BEGIN\n" + _dirty(image_id, "image_dirty") + "END"
    )


_IMAGE_CHANGED = " OR ".join(
    f"OLD.{c} IS NOT NEW.{c}" for c in ("id", "width", "height", "excluded", "manual_rating", "last_rating")
)
_SCORE_CHANGED = " OR ".join(
    f"OLD.{c} IS NOT NEW.{c}" for c in ("image_id", "score_name", "value", "scale_min", "scale_max")
)

#: The images whose statistics figures changed, by revision (alembic 0016), for the in-memory figures index
#: (services/live_image_index.py), logged as tag_dirty is: an image's row inserted or deleted, its size,
#: exclusion or effective rating columns updated (a `ratings` row changes `images.last_rating` through 0015's
#: triggers, which fire these), any change of its `quality_scores` rows. One row per image at most.
FIGURES_DIRTY_TRIGGERS: dict[str, str] = {
    "trg_images_figures_insert": _image_logged("INSERT", "images", "NEW.id"),
    "trg_images_figures_delete": _image_logged("DELETE", "images", "OLD.id"),
    "trg_images_figures_update": (
        "CREATE TRIGGER trg_images_figures_update AFTER UPDATE OF id, width, height, excluded, manual_rating, "
        f"last_rating ON images WHEN {_IMAGE_CHANGED} BEGIN\n"
        + _dirty("OLD.id", "image_dirty")
        + _dirty("NEW.id", "image_dirty")
        + "END"
    ),
    "trg_quality_scores_figures_insert": _image_logged("INSERT", "quality_scores", "NEW.image_id"),
    "trg_quality_scores_figures_delete": _image_logged("DELETE", "quality_scores", "OLD.image_id"),
    "trg_quality_scores_figures_update": (
        "CREATE TRIGGER trg_quality_scores_figures_update AFTER UPDATE OF image_id, score_name, value, scale_min, "
        f"scale_max ON quality_scores WHEN {_SCORE_CHANGED} BEGIN\n"
        + _dirty("OLD.image_id", "image_dirty")
        + _dirty("NEW.image_id", "image_dirty")
        + "END"
    ),
}

#: The images any of whose `ratings` rows changed (alembic 0017), logged in `image_dirty` like the above. A filter's
#: `rating:` term matches ANY of an image's model ratings (filter_sql._rating_condition), not only the newest that
#: `images.last_rating` holds, so the in-memory index keeps every label of an image (live_image_index) and must
#: see a change of a row that is not the newest (deleting a second model's rating leaves last_rating as it was).
RATINGS_DIRTY_TRIGGERS: dict[str, str] = {
    "trg_ratings_figures_insert": _image_logged("INSERT", "ratings", "NEW.image_id"),
    "trg_ratings_figures_delete": _image_logged("DELETE", "ratings", "OLD.image_id"),
    "trg_ratings_figures_update": (
        "CREATE TRIGGER trg_ratings_figures_update AFTER UPDATE OF image_id, label ON ratings "
        "WHEN OLD.image_id IS NOT NEW.image_id OR OLD.label IS NOT NEW.label BEGIN\n"
        + _dirty("OLD.image_id", "image_dirty")
        + _dirty("NEW.image_id", "image_dirty")
        + "END"
    ),
}

#: Every trigger a project has (0013's, 0015's, 0016's and 0017's), in creation order.
ALL_TRIGGERS: dict[str, str] = {
    **TRIGGERS,
    **STATS_TRIGGERS,
    **DIRTY_TRIGGERS,
    **FIGURES_DIRTY_TRIGGERS,
    **RATINGS_DIRTY_TRIGGERS,
}

#: Fill the counters from the rows (the migration of an existing project; `lorairo` never needs it otherwise).
BACKFILL: tuple[str, ...] = (
    "DELETE FROM tag_stats",
    "INSERT INTO tag_stats (tag, images, first_id) SELECT tag, count(DISTINCT image_id), min(id) FROM tags "
    "WHERE is_rejected = 0 GROUP BY tag",
    "UPDATE images SET tag_count = (SELECT count(DISTINCT t.tag) FROM tags t WHERE t.image_id = images.id "
    "AND t.is_rejected = 0)",
    f"UPDATE images SET best_score = (SELECT max({_SCORE}) FROM quality_scores q WHERE q.image_id = images.id "
    "AND (q.score_name LIKE 'aesthetic%' OR q.source = 'manual')), "
    f"best_aesthetic = (SELECT max({_SCORE}) FROM quality_scores q WHERE q.image_id = images.id "
    "AND q.score_name LIKE 'aesthetic%')",
)

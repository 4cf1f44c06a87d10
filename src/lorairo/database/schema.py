"""SQLAlchemy 2 ORM schema of a project database.

The seed's tables (`images`, `annotations`, `quality_scores`, `annotation_failures`) plus what filtering in SQL
needs: tags, captions and ratings as indexed rows, each with provenance (`source` = manual / sidecar / model and
the `model_id` that produced it), a confidence where the model gives one, and timestamps. Raw per-model output
(all probabilities above the keep floor) lives in `annotations.raw_json` so thresholds can change later without
re-running a model.

Every schema change needs an Alembic migration in `alembic/versions/` (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime

from genai_tag_db_tools.normalize import tag_key
from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    column,
    event,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lorairo.database import counters
from lorairo.storage.names import from_db_text, to_db_text


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class FsPath(TypeDecorator[str]):
    """A file path or name as Python's ``os.fsdecode`` gives it, stored losslessly.

    Names that are not valid UTF-8 carry lone surrogates, which SQLite's driver refuses ("surrogates not
    allowed": one such name used to abort a whole import batch). They are stored in the escaped form of
    `lorairo.storage.names` and come back exactly as they went in; every other path is stored as it is.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else to_db_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else from_db_text(value)


# Provenance of a tag / caption / score / rating.
SOURCE_MANUAL = "manual"
SOURCE_SIDECAR = "sidecar"
SOURCE_MODEL = "model"
SOURCES = (SOURCE_MANUAL, SOURCE_SIDECAR, SOURCE_MODEL)


class ImageRecord(Base):
    """One unique image (by SHA-256 of its bytes) in the project."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Where the project keeps it: relative to the project folder when copied ("images/ab/abcd....png"),
    # absolute when referenced in place.
    file_path: Mapped[str] = mapped_column(FsPath, nullable=False, unique=True)
    # The original file name for display/export; names that were not UTF-8 are stored with U+FFFD in place of
    # the undecodable bytes (storage/names.display_name): original_path keeps them exactly.
    file_name: Mapped[str] = mapped_column(String, nullable=False)
    original_path: Mapped[str] = mapped_column(FsPath, nullable=False)  # first source path it was imported from
    stored_in_project: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    file_size: Mapped[int] = mapped_column(Integer, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)  # as displayed (EXIF orientation applied)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    format: Mapped[str] = mapped_column(String, nullable=False)  # Pillow format name: JPEG, PNG, WEBP, ...
    mode: Mapped[str] = mapped_column(String, nullable=False)
    has_alpha: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    exif_orientation: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    file_mtime: Mapped[float | None] = mapped_column(Float)
    hash_value: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # SHA-256 hex
    phash: Mapped[str] = mapped_column(String(16), nullable=False)  # 64-bit pHash, hex
    phash_int: Mapped[int] = mapped_column(Integer, nullable=False)  # same, as signed int64 for vector search
    excluded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # left out of exports
    manual_rating: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # Sort keys kept by triggers (database/counters.py; never written by the application): distinct live tag
    # texts, and the best aesthetic-or-manual / aesthetic score on 0..1 (NULL: none).
    tag_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    best_score: Mapped[float | None] = mapped_column(Float)
    best_aesthetic: Mapped[float | None] = mapped_column(Float)
    # The label of the newest `ratings` row (highest id), kept by triggers (alembic 0015): the effective rating
    # `coalesce(manual_rating, last_rating)` without a look-up per image (the statistics view at 1M images).
    last_rating: Mapped[str | None] = mapped_column(String)

    tags: Mapped[list[TagRecord]] = relationship(back_populates="image", cascade="all, delete-orphan")
    captions: Mapped[list[CaptionRecord]] = relationship(back_populates="image", cascade="all, delete-orphan")
    sources: Mapped[list[ImageSourceRecord]] = relationship(cascade="all, delete-orphan")
    sidecar_files: Mapped[list[SidecarFileRecord]] = relationship(cascade="all, delete-orphan")

    __table_args__ = (
        Index("idx_images_phash_int", "phash_int"),
        Index("idx_images_created_at", "created_at"),
        Index("idx_images_width_height", "width", "height"),
        # One index per grid order (ImageQueryService SORTS; alembic 0013): the first page walks it with LIMIT and
        # the full id list reads it in order instead of sorting 1M rows. The row id ends every entry, so ties come
        # in import order as the ORDER BY asks. DESC keys sort NULL last, as the grid wants.
        Index("idx_images_sort_name", column("file_name").collate("NOCASE")),
        Index("idx_images_sort_date", column("file_mtime").desc()),
        Index("idx_images_sort_resolution", text("(width * height) DESC")),
        Index("idx_images_sort_tags", column("tag_count").desc()),
        Index("idx_images_sort_score", column("best_score").desc()),
        Index("idx_images_sort_aesthetic", column("best_aesthetic").desc()),
    )


# Near-duplicate search without reading the whole project (multi-index hashing): the 64-bit pHash is cut into
# three bands of 22 / 21 / 21 bits, each with an expression index carrying the full hash. Two hashes within
# Hamming distance 3t+2 agree to within t bits on at least one band (pigeonhole), so a query enumerates the
# band values within t bits of its own (254 or 232 per band for t = 2, i.e. thresholds up to 8) and reads only those
# index entries. Shifts of the signed int64 are arithmetic in SQLite; the mask keeps the band bits either way.
# The expressions are compared as text by SQLite's planner: queries must use exactly these strings.
PHASH_BANDS: tuple[tuple[int, int], ...] = ((0, 22), (22, 21), (43, 21))  # (shift, width) of each band


def phash_band_sql(shift: int, width: int) -> str:
    """The SQL expression of one pHash band of ``images.phash_int`` (as its index and queries spell it)."""
    mask = (1 << width) - 1
    return f"(phash_int & {mask})" if shift == 0 else f"((phash_int >> {shift}) & {mask})"


for _number, (_shift, _width) in enumerate(PHASH_BANDS):
    Index(f"idx_images_phash_band{_number}", text(phash_band_sql(_shift, _width)), ImageRecord.phash_int)


class ImageSourceRecord(Base):
    """Every path an image was found at (exact duplicates record their other paths here)."""

    __tablename__ = "image_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    source_path: Mapped[str] = mapped_column(FsPath, nullable=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("image_id", "source_path", name="uq_image_sources_image_path"),
        Index("idx_image_sources_path", "source_path"),
    )


class SidecarFileRecord(Base):
    """A sidecar (``<stem>.txt`` / ``<stem>.caption``) as last read for an image, so a re-import notices edits."""

    __tablename__ = "sidecar_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    path: Mapped[str] = mapped_column(FsPath, nullable=False)
    file_size: Mapped[int] = mapped_column(Integer, nullable=False)
    file_mtime: Mapped[float | None] = mapped_column(Float)
    read_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("image_id", "path", name="uq_sidecar_files_image_path"),
        Index("idx_sidecar_files_path", "path"),
    )


class ImageRegionRecord(Base):
    """Per-image crop rectangle and mask (issue 17). One row per image at most; no row = no crop, no mask.

    The crop is in the upright image's pixels (EXIF orientation applied), as the viewer shows it; export applies
    it to the image, its mask and its size, never to the stored original. The mask is a greyscale PNG in
    ``<project>/masks/<image hash>.png`` at the upright image's size (white = train on this).
    """

    __tablename__ = "image_regions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False, unique=True)
    crop_left: Mapped[int | None] = mapped_column(Integer)
    crop_top: Mapped[int | None] = mapped_column(Integer)
    crop_width: Mapped[int | None] = mapped_column(Integer)
    crop_height: Mapped[int | None] = mapped_column(Integer)
    mask_file: Mapped[str | None] = mapped_column(String)  # relative to the project root: masks/<hash>.png
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ImageQualityRecord(Base):
    """Quality metrics of one image, measured without a model (issue 16): at import from the reduced decode, or by
    `lorairo quality` for images imported before. One row per image at most; no row = not measured yet. A row
    with `error` set records an image that could not be measured (its metrics are NULL). The checks
    (`quality:blurry` ...) compare these with thresholds from the configuration: lorairo.services.quality_rules.
    """

    __tablename__ = "image_quality"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    sharpness: Mapped[float | None] = mapped_column(Float)  # variance of the Laplacian of the grey thumbnail
    brightness: Mapped[float | None] = mapped_column(Float)  # mean luminance 0-1
    clipped_dark: Mapped[float | None] = mapped_column(Float)  # share of pixels crushed to black
    clipped_bright: Mapped[float | None] = mapped_column(Float)  # share of pixels blown to white
    entropy: Mapped[float | None] = mapped_column(Float)  # bits of the grey histogram
    saturation: Mapped[float | None] = mapped_column(Float)  # mean colour spread 0-1
    jpeg_quality: Mapped[int | None] = mapped_column(Integer)  # estimated libjpeg quality; NULL: not a JPEG
    border_fraction: Mapped[float | None] = mapped_column(Float)  # share in uniform bands at opposite edges
    error: Mapped[str | None] = mapped_column(Text)  # why it could not be measured
    measured_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("idx_image_quality_sharpness", "sharpness"),)


class ModelRecord(Base):
    """An annotation model (local or cloud) that produced rows in this project."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String, nullable=False, unique=True)
    provider: Mapped[str] = mapped_column(String, nullable=False, default="local")
    kind: Mapped[str] = mapped_column(String, nullable=False)  # tagger / scorer / rating / captioner / cloud
    framework: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class AnnotationRecord(Base):
    """One model run on one image (the seed's `annotations` table), with its raw output for re-thresholding."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), nullable=False)
    provider: Mapped[str] = mapped_column(String, nullable=False)
    model: Mapped[str] = mapped_column(String, nullable=False)
    caption: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[str | None] = mapped_column(Text)  # JSON array of the tag names selected at the time
    confidence: Mapped[float | None] = mapped_column(Float)
    processing_time: Mapped[float | None] = mapped_column(Float)
    framework: Mapped[str | None] = mapped_column(String)
    device: Mapped[str | None] = mapped_column(String)
    raw_json: Mapped[str | None] = mapped_column(Text)  # candidates with probabilities, rating probs, scores
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("idx_annotations_image_id", "image_id"),
        Index("idx_annotations_provider", "provider"),
        Index("idx_annotations_model_image", "model_id", "image_id"),
    )


def _tag_key_of_row(context: DefaultExecutionContext) -> str:
    """`tags.tag_key` of the row being inserted, from its `tag` (every insert path: ORM, Core, bulk)."""
    return str(tag_key(context.get_current_parameters()["tag"]))


class TagRecord(Base):
    """One tag on one image with its provenance. Filtering by tag joins this table."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    tag: Mapped[str] = mapped_column(String, nullable=False)  # normalised display form: spaces, kaomoji verbatim
    # What filters and autocomplete match by: genai-tag-db-tools' tag_key (lowercase, underscores), so
    # `Green Eyes`, `green eyes` and `green_eyes` are one tag. Filled from `tag` on insert; nothing updates
    # `tag` in place (a rename is a delete + insert). NOT NULL: a raw INSERT that forgets it fails loudly
    # instead of adding a tag no filter can find.
    tag_key: Mapped[str] = mapped_column(String, nullable=False, default=_tag_key_of_row)
    category: Mapped[str | None] = mapped_column(String)  # general / character / copyright / artist / meta / ...
    source: Mapped[str] = mapped_column(String, nullable=False)  # manual / sidecar / model
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id", ondelete="SET NULL"))
    confidence: Mapped[float | None] = mapped_column(Float)
    is_rejected: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # user removed it
    # The user's order of the image's tags in its caption (drag a chip): lower first, NULL after the placed ones.
    position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    image: Mapped[ImageRecord] = relationship(back_populates="tags")

    __table_args__ = (
        Index("idx_tags_tag_image", "tag", "image_id"),
        # Tag filters read only live tags: this covers `tag_key = ? AND is_rejected = 0` (and `tag_key GLOB
        # 'prefix*'`) without touching the table (tag queries ~40% faster at 100k images, docs/benchmarks.md).
        # is_rejected is a column too: SQLite reads the table for a partial index's WHERE column otherwise
        # (alembic 0012; the plan says USING COVERING INDEX).
        Index("idx_tags_live", "tag_key", "image_id", "is_rejected", sqlite_where=text("is_rejected = 0")),
        Index("idx_tags_image_id", "image_id"),
        # A filter's other tag terms (AND after the rarest, OR groups, NOT) are probed per candidate image:
        # covering, so a probe never reads the table (alembic 0012).
        Index("idx_tags_image_live", "image_id", "tag_key", "is_rejected", sqlite_where=text("is_rejected = 0")),
        # The lowest live row of a tag text (tag_stats.first_id, kept by triggers): one seek, the row id being the
        # last key (alembic 0013; 0012 had image_id here for the panel's GROUP BY, which tag_stats replaced).
        Index("idx_tags_live_tag", "tag", "is_rejected", sqlite_where=text("is_rejected = 0")),
        Index("idx_tags_model", "model_id"),
        # The rejected rows (few): the in-memory tag index (services/live_tag_index.py) reads every (tag, image)
        # pair off idx_tags_tag_image without the table and takes out the pairs with only rejected rows, found
        # here (alembic 0016). Covering for the same reason as idx_tags_live.
        Index("idx_tags_rejected", "tag", "image_id", "is_rejected", sqlite_where=text("is_rejected = 1")),
    )


class TagDirtyRecord(Base):
    """The images whose tag rows changed, newest revision last, written only by triggers on `tags`
    (database/counters.py DIRTY_TRIGGERS, alembic 0016): at most one row per image. The in-memory tag index
    remembers the revision it was built at and re-reads the images of newer rows. No foreign key: a deleted
    image's row stays, so its tags are known to be gone."""

    __tablename__ = "tag_dirty"
    __table_args__ = (Index("idx_tag_dirty_image", "image_id"), {"sqlite_autoincrement": True})

    # AUTOINCREMENT: a revision is never reused, even if the table is emptied while an index remembers one.
    rev: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(Integer, nullable=False)


class ImageDirtyRecord(Base):
    """The images whose statistics figures changed (size, effective rating, quality scores), newest revision
    last, written only by triggers (database/counters.py FIGURES_DIRTY_TRIGGERS, alembic 0016): at most one row
    per image, read by the in-memory figures index (services/live_image_index.py) as tag_dirty is."""

    __tablename__ = "image_dirty"
    __table_args__ = (Index("idx_image_dirty_image", "image_id"), {"sqlite_autoincrement": True})

    rev: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(Integer, nullable=False)


class TagStatsRecord(Base):
    """How many images carry each live tag text, kept by triggers on `tags` (database/counters.py, alembic 0013).

    The tags panel and the statistics view read it instead of grouping every tag row (6.4 s at 1M images)."""

    __tablename__ = "tag_stats"
    __table_args__ = ({"sqlite_with_rowid": False},)

    tag: Mapped[str] = mapped_column(String, primary_key=True)
    images: Mapped[int] = mapped_column(Integer, nullable=False)
    first_id: Mapped[int | None] = mapped_column(Integer)  # lowest live tags.id: its category is the tag's


class RatingStatsRecord(Base):
    """Images per effective rating (`coalesce(manual_rating, last_rating, 'none')`), kept by triggers on `images`
    and `ratings` (database/counters.py, alembic 0015): the statistics view reads a few rows, not 1M images."""

    __tablename__ = "rating_stats"
    __table_args__ = ({"sqlite_with_rowid": False},)

    label: Mapped[str] = mapped_column(String, primary_key=True)
    images: Mapped[int] = mapped_column(Integer, nullable=False)


class ScoreBinRecord(Base):
    """`quality_scores` rows per score name, histogram bin (counters.STATS_BINS per scale) and scale, kept by
    triggers on `quality_scores` (database/counters.py, alembic 0015): the statistics view's score histograms."""

    __tablename__ = "score_bins"
    __table_args__ = ({"sqlite_with_rowid": False},)

    score_name: Mapped[str] = mapped_column(String, primary_key=True)
    bin: Mapped[int] = mapped_column(Integer, primary_key=True)
    scale_min: Mapped[float] = mapped_column(Float, primary_key=True)
    scale_max: Mapped[float] = mapped_column(Float, primary_key=True)
    scores: Mapped[int] = mapped_column(Integer, nullable=False)


def _create_triggers(target: object, connection: Connection, **_kw: object) -> None:
    for statement in counters.ALL_TRIGGERS.values():
        connection.exec_driver_sql(statement)


# Tables made by create_all (tests, tools) get the triggers too; projects get them from alembic 0013, 0015-0017.
event.listen(Base.metadata, "after_create", _create_triggers)


class CaptionRecord(Base):
    """A caption for an image with its provenance."""

    __tablename__ = "captions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(String, nullable=False)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    image: Mapped[ImageRecord] = relationship(back_populates="captions")

    __table_args__ = (Index("idx_captions_image_id", "image_id"),)


class QualityScoreRecord(Base):
    """A score (aesthetic, NSFW probability, manual ...) with the scale it lives on (the seed's quality_scores)."""

    __tablename__ = "quality_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    score_name: Mapped[str] = mapped_column(String, nullable=False)  # "aesthetic_v2", "nsfw", "manual", ...
    value: Mapped[float] = mapped_column(Float, nullable=False)
    scale_min: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    scale_max: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    scoring_model: Mapped[str | None] = mapped_column(String)
    source: Mapped[str] = mapped_column(String, nullable=False, default=SOURCE_MODEL)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("idx_quality_scores_image_id", "image_id"),
        Index("idx_quality_scores_name_value", "score_name", "value"),
    )


class RatingRecord(Base):
    """A content rating (general / sensitive / questionable / explicit, or sfw / nsfw) with probabilities."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    label: Mapped[str] = mapped_column(String, nullable=False)
    probabilities_json: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String, nullable=False, default=SOURCE_MODEL)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("idx_ratings_image_id", "image_id"),
        Index("idx_ratings_label", "label"),
    )


class AnnotationFailure(Base):
    """A model that failed on an image (the seed's table, with `is_policy_violation`)."""

    __tablename__ = "annotation_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    model_name: Mapped[str] = mapped_column(String, nullable=False)
    provider: Mapped[str] = mapped_column(String, nullable=False)
    failure_reason: Mapped[str] = mapped_column(String, nullable=False)  # an ErrorCode value
    error_message: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    is_policy_violation: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (
        Index("idx_annotation_failures_image_model", "image_id", "model_name"),
        Index("idx_annotation_failures_policy", "model_name", "is_policy_violation"),
    )


class ImportRunRecord(Base):
    """One import run (resumable: a re-run skips what is registered)."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    roots_json: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of the paths given
    status: Mapped[str] = mapped_column(String, nullable=False, default="running")  # running/completed/cancelled/failed
    total_files: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class ImportOutcomeRecord(Base):
    """What happened to one file of an import run."""

    __tablename__ = "import_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("import_runs.id", ondelete="CASCADE"), nullable=False)
    source_path: Mapped[str] = mapped_column(FsPath, nullable=False)
    outcome: Mapped[str] = mapped_column(String, nullable=False)  # imported / duplicate / near_duplicate / skipped
    reason: Mapped[str | None] = mapped_column(Text)  # why skipped, or which image it duplicates
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("idx_import_outcomes_run", "run_id", "outcome"),
        Index("idx_import_outcomes_path", "source_path"),
    )


class NearDuplicateRecord(Base):
    """A link between two near-identical images: `kind` "phash" (Hamming distance <= threshold, found at import)
    or "semantic" (embedding cosine >= threshold; distance = (1 - cosine) x 1000)."""

    __tablename__ = "near_duplicates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    match_image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    distance: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String, nullable=False, default="pending")  # pending / reviewed
    kind: Mapped[str] = mapped_column(String, nullable=False, default="phash", server_default="phash")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("image_id", "match_image_id", name="uq_near_duplicates_pair"),
        Index("idx_near_duplicates_match", "match_image_id"),
    )


class BatchJobRecord(Base):
    """A cloud Batch API job (OpenAI Batch / Anthropic Message Batches) submitted from this project."""

    __tablename__ = "batch_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    remote_id: Mapped[str] = mapped_column(String, nullable=False, unique=True)  # the provider's batch id
    provider: Mapped[str] = mapped_column(String, nullable=False)
    model_name: Mapped[str] = mapped_column(String, nullable=False)
    status: Mapped[str] = mapped_column(String, nullable=False)  # in_progress / completed / failed / ...
    n_requests: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    image_ids_json: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of image ids sent
    job_json: Mapped[str] = mapped_column(Text, nullable=False)  # the library's job manifest
    submitted_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    imported_at: Mapped[datetime | None] = mapped_column(DateTime)

"""SQLAlchemy table definitions for the base database and the user overlay.

The base database is replaceable vocabulary data (imports and downloads). The overlay refers to tags by
name, never by id, so it stays valid when the base is deleted and rebuilt.

Tag names are stored in source form (``long_hair``); ``key`` is the lookup form from
:func:`genai_tag_db_tools.normalize.tag_key`.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.exc import IntegrityError, OperationalError

SCHEMA_VERSION = 1

base_metadata = MetaData()

tags = Table(
    "tags",
    base_metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("deprecated", Boolean, nullable=False, default=False, server_default="0"),
)

tag_formats = Table(
    "tag_formats",
    base_metadata,
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    Column("format", String(32), nullable=False),
    Column("category", String(32), nullable=False),
    Column("count", Integer, nullable=False, default=0),
    # Which importer wrote the row ("tagcomplete", "wd"): a re-import replaces only its own rows.
    Column("source", String(32), nullable=False),
    Column("import_id", Integer, nullable=True),  # the `imports` row that wrote it (undo); NULL = before tracking
    PrimaryKeyConstraint("tag_id", "format"),
    # Clustered on the primary key: one b-tree per table instead of rowid table + PK index.
    sqlite_with_rowid=False,
)

aliases = Table(
    "aliases",
    base_metadata,
    Column("alias", Text, nullable=False),
    Column("format", String(32), nullable=False),
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    Column("import_id", Integer, nullable=True),
    PrimaryKeyConstraint("alias", "format"),
    Index("ix_aliases_tag", "tag_id"),
    # Clustered on the primary key: one b-tree per table instead of rowid table + PK index.
    sqlite_with_rowid=False,
)

implications = Table(
    "implications",
    base_metadata,
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    Column("implied_tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    Column("format", String(32), nullable=False),
    Column("import_id", Integer, nullable=True),
    PrimaryKeyConstraint("tag_id", "implied_tag_id", "format"),
    # Clustered on the primary key: one b-tree per table instead of rowid table + PK index.
    sqlite_with_rowid=False,
)

translations = Table(
    "translations",
    base_metadata,
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    Column("language", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("import_id", Integer, nullable=True),
    PrimaryKeyConstraint("tag_id", "language", "text"),
    # Clustered on the primary key: one b-tree per table instead of rowid table + PK index.
    sqlite_with_rowid=False,
)

imports = Table(
    "imports",
    base_metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("format", String(32), nullable=True),
    Column("path", Text, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("imported_at", String(32), nullable=False),
    # False for imports recorded before rows carried their import_id: those cannot be undone one by one.
    Column("undoable", Boolean, nullable=False, default=False, server_default="0"),
)

# Why a tag is deprecated: one row per deprecation list that named it (import_id), or import_id 0 when set
# through `set_deprecated`. `tags.deprecated` stays the flag readers use; removing an import clears it only
# for tags no other source names.
deprecations = Table(
    "deprecations",
    base_metadata,
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    Column("import_id", Integer, nullable=False),
    PrimaryKeyConstraint("tag_id", "import_id"),
    Index("ix_deprecations_import", "import_id"),
    sqlite_with_rowid=False,
)

# Tables whose rows carry the import that wrote them (added in place to databases from before undo existed).
IMPORT_OWNED = ("tag_formats", "aliases", "implications", "translations")

overlay_metadata = MetaData()

user_tags = Table(
    "user_tags",
    overlay_metadata,
    Column("name", Text, nullable=False),
    Column("format", String(32), nullable=False),
    Column("category", String(32), nullable=False),
    Column("count", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("name", "format"),
)

user_aliases = Table(
    "user_aliases",
    overlay_metadata,
    Column("alias", Text, nullable=False),
    Column("format", String(32), nullable=False),
    Column("canonical", Text, nullable=False),
    PrimaryKeyConstraint("alias", "format"),
)

user_translations = Table(
    "user_translations",
    overlay_metadata,
    Column("name", Text, nullable=False),
    Column("language", String(16), nullable=False),
    Column("text", Text, nullable=False),
    PrimaryKeyConstraint("name", "language", "text"),
)

blacklist = Table(
    "blacklist",
    overlay_metadata,
    Column("name", Text, primary_key=True),
)


def _schema_info(metadata: MetaData) -> Table:
    # One row: schema version and a revision counter bumped by every write, so other processes (and
    # in-process caches such as the search index) can tell that the data changed.
    return Table(
        "schema_info",
        metadata,
        Column("version", Integer, nullable=False, primary_key=True),
        Column("revision", Integer, nullable=False, default=0, server_default="0"),
    )


meta_tables = {id(base_metadata): _schema_info(base_metadata), id(overlay_metadata): _schema_info(overlay_metadata)}


def bump_revision(conn: Connection) -> None:
    """Increment the data revision inside the caller's write transaction."""
    conn.exec_driver_sql("UPDATE schema_info SET revision = revision + 1")


def read_revision(engine: Engine) -> int:
    """Return the data revision of a database (changes whenever any process writes to it)."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT revision FROM schema_info").scalar_one())


def _set_sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL + NORMAL: bulk imports are fast and readers are not blocked by a writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk imports touch the whole tags index
    cursor.close()


SETUP_ATTEMPTS = 3  # each failed attempt means another opener finished a step: the next sees it


def create_sqlite_engine(path: str | os.PathLike[str], metadata: MetaData) -> Engine:
    """Create (if needed) and open an SQLite database file with the given schema."""
    db_path = Path(path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{db_path}", future=True)
    event.listen(engine, "connect", _set_sqlite_pragmas)
    for attempt in range(SETUP_ATTEMPTS):
        try:
            _prepare(engine, metadata, db_path)
            break
        except (OperationalError, IntegrityError):
            # Creating the tables and the first schema_info row is check-then-write: a second thread or process
            # opening the same new folder at the same moment may write them between our check and our write
            # ("table tags already exists"). Every step is idempotent, so another look finds them done.
            if attempt == SETUP_ATTEMPTS - 1:
                engine.dispose()
                raise
    return engine


def _prepare(engine: Engine, metadata: MetaData, db_path: Path) -> None:
    """The schema of `metadata` in the database, old files brought up to date, its schema_info row written."""
    with engine.begin() as conn:
        # Databases written before the revision counter existed get the column added in place.
        existing = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(schema_info)")}
        if existing and "revision" not in existing:
            conn.exec_driver_sql("ALTER TABLE schema_info ADD COLUMN revision INTEGER NOT NULL DEFAULT 0")
        if metadata is base_metadata:
            # Additive: readers that do not know the column are unaffected, so the schema version stays.
            for table in IMPORT_OWNED:
                columns = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")}
                if columns and "import_id" not in columns:
                    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN import_id INTEGER")
            columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(imports)")}
            if columns and "undoable" not in columns:
                conn.exec_driver_sql("ALTER TABLE imports ADD COLUMN undoable BOOLEAN NOT NULL DEFAULT 0")
    metadata.create_all(engine)
    info = meta_tables[id(metadata)]
    with engine.begin() as conn:
        row = conn.execute(info.select()).first()
        if row is None:
            conn.execute(info.insert().values(version=SCHEMA_VERSION, revision=0))
        elif row.version > SCHEMA_VERSION:
            engine.dispose()
            raise RuntimeError(
                f"{db_path} was written by a newer genai-tag-db-tools (schema {row.version} > {SCHEMA_VERSION})"
            )

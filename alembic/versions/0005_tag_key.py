"""tag key: tags.tag_key (lowercase, underscores) for case-insensitive tag filters, indexed for live tags

Every tag filter now compares `tags.tag_key` (genai-tag-db-tools' tag_key: `Green Eyes` / `green_eyes` ->
`green_eyes`), through the partial index idx_tags_live, which moves from `tag` to `tag_key`. The column is
NOT NULL so a raw INSERT that forgets it fails instead of adding a tag no filter can find.

The table is rebuilt in one pass (SQLite cannot add a NOT NULL column without a default): the rows are copied
with their key computed by the same Python function new rows get, registered on this connection for the
migration only. Measured at 100k images / 835k tag rows: see docs/benchmarks.md ("Filters"). The project was
backed up before the upgrade (lorairo.database.migrations).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from genai_tag_db_tools.normalize import tag_key

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = (
    "id, image_id, tag, category, source, model_id, annotation_id, confidence, is_rejected, created_at, updated_at"
)


def _create_tags(name: str, *, with_key: bool) -> None:
    key = "\n\ttag_key VARCHAR NOT NULL, " if with_key else ""
    op.execute(
        f'CREATE TABLE "{name}" (\n\tid INTEGER NOT NULL, \n\timage_id INTEGER NOT NULL, \n\ttag VARCHAR NOT NULL, '
        "\n\tcategory VARCHAR, \n\tsource VARCHAR NOT NULL, \n\tmodel_id INTEGER, \n\tannotation_id INTEGER, "
        f"\n\tconfidence FLOAT, \n\tis_rejected BOOLEAN NOT NULL, \n\tcreated_at DATETIME NOT NULL, "
        f"\n\tupdated_at DATETIME NOT NULL, {key}\n\tPRIMARY KEY (id), "
        "\n\tFOREIGN KEY(image_id) REFERENCES images (id) ON DELETE CASCADE, "
        "\n\tFOREIGN KEY(annotation_id) REFERENCES annotations (id) ON DELETE SET NULL, "
        "\n\tFOREIGN KEY(model_id) REFERENCES models (id)\n)"
    )


def _create_indexes(live_column: str) -> None:
    op.create_index("idx_tags_image_id", "tags", ["image_id"], unique=False)
    op.create_index("idx_tags_model", "tags", ["model_id"], unique=False)
    op.create_index("idx_tags_tag_image", "tags", ["tag", "image_id"], unique=False)
    op.create_index(
        "idx_tags_live", "tags", [live_column, "image_id"], unique=False, sqlite_where=sa.text("is_rejected = 0")
    )


def upgrade() -> None:
    raw = op.get_bind().connection.driver_connection
    raw.create_function("lorairo_tag_key", 1, tag_key, deterministic=True)
    _create_tags("_tags_new", with_key=True)
    op.execute(f"INSERT INTO _tags_new ({_COLUMNS}, tag_key) SELECT {_COLUMNS}, lorairo_tag_key(tag) FROM tags")
    op.execute("DROP TABLE tags")  # its indexes go with it; nothing references tags
    op.execute("ALTER TABLE _tags_new RENAME TO tags")
    _create_indexes("tag_key")


def downgrade() -> None:
    _create_tags("_tags_old", with_key=False)
    op.execute(f"INSERT INTO _tags_old ({_COLUMNS}) SELECT {_COLUMNS} FROM tags")
    op.execute("DROP TABLE tags")
    op.execute("ALTER TABLE _tags_old RENAME TO tags")
    _create_indexes("tag")

"""tag key: tags.tag_key (lowercase, underscores) for case-insensitive tag filters, indexed for live tags

Every tag filter now compares `tags.tag_key` (genai-tag-db-tools' tag_key: `Green Eyes` / `green_eyes` ->
`green_eyes`), through the partial index idx_tags_live, which moves from `tag` to `tag_key`. The column is
NOT NULL so a raw INSERT that forgets it fails instead of adding a tag no filter can find.

SQLite cannot add a NOT NULL column without a default, so the table is rebuilt, in one pass: the rows are copied
with their key computed by the same Python function new rows get (registered on this connection for the
migration only). The new table's definition is the current one read from sqlite_master plus the key column, and
every other index is recreated as it was, so columns or indexes other revisions add to `tags` are kept whatever
order the revisions run in. Measured at 100k images / 835k tag rows: docs/benchmarks.md ("Filters"). The project
was backed up before the upgrade (lorairo.database.migrations).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:40:00.000000
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from genai_tag_db_tools.normalize import tag_key

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _table_sql(bind: sa.Connection) -> str:
    return str(bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tags'").scalar())


def _other_indexes(bind: sa.Connection) -> list[str]:
    rows = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tags' AND sql IS NOT NULL "
        "AND name != 'idx_tags_live'"
    )
    return [str(row[0]) for row in rows]


def _columns(bind: sa.Connection) -> list[str]:
    return [str(row[1]) for row in bind.exec_driver_sql("PRAGMA table_info(tags)")]


def upgrade() -> None:
    bind = op.get_bind()
    bind.connection.driver_connection.create_function("lorairo_tag_key", 1, tag_key, deterministic=True)
    table_sql, indexes, columns = _table_sql(bind), _other_indexes(bind), _columns(bind)
    create, count = re.subn(
        r'^CREATE TABLE\s+"?tags"?\s*\(', 'CREATE TABLE "_tags_new" (\n\ttag_key VARCHAR NOT NULL, ', table_sql
    )
    assert count == 1, table_sql
    listed = ", ".join(f'"{c}"' for c in columns)
    op.execute(create)
    op.execute(f'INSERT INTO "_tags_new" ({listed}, tag_key) SELECT {listed}, lorairo_tag_key(tag) FROM tags')
    op.execute("DROP TABLE tags")  # its indexes go with it; no table references tags
    op.execute('ALTER TABLE "_tags_new" RENAME TO tags')
    for sql in indexes:
        op.execute(sql)
    op.create_index(
        "idx_tags_live", "tags", ["tag_key", "image_id"], unique=False, sqlite_where=sa.text("is_rejected = 0")
    )


def downgrade() -> None:
    op.drop_index("idx_tags_live", table_name="tags")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_column("tag_key")
    op.create_index("idx_tags_live", "tags", ["tag", "image_id"], unique=False, sqlite_where=sa.text("is_rejected = 0"))

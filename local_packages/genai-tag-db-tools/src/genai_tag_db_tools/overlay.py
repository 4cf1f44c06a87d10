"""The user overlay: the user's own tags, aliases, translations and blacklist.

Kept in its own SQLite file and keyed by tag name, so replacing or deleting the base database never loses
these edits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from . import schema as s
from .errors import TagDbError
from .normalize import tag_key


class UserOverlay:
    """Read and write the user overlay database. Safe to share between threads (each call opens a connection)."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine created with :data:`schema.overlay_metadata`."""
        self.engine = engine
        #: Writes made through this object (lets TagDatabase notice them without a query).
        self.local_writes = 0

    @property
    def revision(self) -> int:
        """Data revision of the overlay; changes on every write by any process."""
        return s.read_revision(self.engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn
            s.bump_revision(conn)
        self.local_writes += 1

    def add_tag(self, name: str, category: str = "general", *, format_name: str = "danbooru", count: int = 0) -> str:
        """Add or update a user tag; returns its stored name."""
        key = _required_key(name, "tag name")
        stmt = sqlite_insert(s.user_tags).values(name=key, format=format_name, category=category, count=count)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name", "format"], set_={"category": category, "count": count}
        )
        with self._write() as conn:
            conn.execute(stmt)
        return key

    def remove_tag(self, name: str, *, format_name: str = "danbooru") -> None:
        """Remove a user tag (base data is not touched)."""
        with self._write() as conn:
            conn.execute(
                delete(s.user_tags).where(s.user_tags.c.name == tag_key(name), s.user_tags.c.format == format_name)
            )

    def add_alias(self, alias: str, canonical: str, *, format_name: str = "danbooru") -> None:
        """Map ``alias`` to ``canonical`` for ``format_name``; user aliases win over base aliases."""
        a_key, c_key = _required_key(alias, "alias"), _required_key(canonical, "canonical tag")
        if a_key == c_key:
            raise TagDbError(f"alias {alias!r} and canonical tag {canonical!r} are the same tag")
        stmt = sqlite_insert(s.user_aliases).values(alias=a_key, format=format_name, canonical=c_key)
        stmt = stmt.on_conflict_do_update(index_elements=["alias", "format"], set_={"canonical": c_key})
        with self._write() as conn:
            conn.execute(stmt)

    def remove_alias(self, alias: str, *, format_name: str = "danbooru") -> None:
        """Remove a user alias."""
        with self._write() as conn:
            conn.execute(
                delete(s.user_aliases).where(
                    s.user_aliases.c.alias == tag_key(alias), s.user_aliases.c.format == format_name
                )
            )

    def add_translation(self, name: str, language: str, text: str) -> None:
        """Add a translation of a tag (several per language are allowed)."""
        key = _required_key(name, "tag name")
        value = " ".join(text.split())
        if not value or not language.strip():
            raise TagDbError(f"translation of {name!r} needs a language and a non-empty text")
        with self._write() as conn:
            conn.execute(
                sqlite_insert(s.user_translations)
                .values(name=key, language=language.strip().lower(), text=value)
                .on_conflict_do_nothing()
            )

    def blacklist_add(self, names: Iterable[str]) -> int:
        """Blacklist tags (cleaning drops them, search hides them); returns how many keys were given."""
        keys = {tag_key(n) for n in names} - {""}
        if keys:
            with self._write() as conn:
                conn.execute(sqlite_insert(s.blacklist).on_conflict_do_nothing(), [{"name": k} for k in keys])
        return len(keys)

    def blacklist_remove(self, names: Iterable[str]) -> None:
        """Remove tags from the blacklist."""
        keys = [tag_key(n) for n in names]
        with self._write() as conn:
            conn.execute(delete(s.blacklist).where(s.blacklist.c.name.in_(keys)))

    def blacklist(self) -> set[str]:
        """Return the blacklisted tag keys."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(s.blacklist.c.name)).scalars())

    def tags(self, format_name: str) -> list[tuple[str, str, int]]:
        """Return (name, category, count) of the user's tags for a format."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.user_tags.c.name, s.user_tags.c.category, s.user_tags.c.count).where(
                    s.user_tags.c.format == format_name
                )
            )
            return [(r[0], r[1], r[2]) for r in rows]

    def aliases(self, format_name: str) -> dict[str, str]:
        """Return alias -> canonical for a format."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.user_aliases.c.alias, s.user_aliases.c.canonical).where(s.user_aliases.c.format == format_name)
            )
            return {r[0]: r[1] for r in rows}

    def translations(self) -> list[tuple[str, str, str]]:
        """Return (name, language, text) of all user translations."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.user_translations.c.name, s.user_translations.c.language, s.user_translations.c.text)
            )
            return [(r[0], r[1], r[2]) for r in rows]

    def counts(self) -> dict[str, int]:
        """Return row counts of each overlay table."""
        with self.engine.connect() as conn:
            return {
                table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (s.user_tags, s.user_aliases, s.user_translations, s.blacklist)
            }


def _required_key(text: str, what: str) -> str:
    key = tag_key(text)
    if not key:
        raise TagDbError(f"{what} is empty")
    return key

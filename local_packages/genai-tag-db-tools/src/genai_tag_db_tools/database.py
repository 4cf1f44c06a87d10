"""TagDatabase: the base vocabulary database plus the user overlay, behind one object."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, update

from . import categories as cats
from . import import_files, import_history, import_watch, importers, index_cache
from . import schema as s
from .errors import ImportFormatError, TagDbError
from .importers import ImportReport
from .normalize import tag_key, to_spaces
from .overlay import UserOverlay
from .paths import BASE_DB_NAME, OVERLAY_DB_NAME, resolve_data_dir
from .search import SearchIndex, SearchResult

_BATCH = 500


@dataclass(frozen=True)
class TagInfo:
    """What the database knows about one tag in one format.

    Attributes:
        name: Canonical stored form (``long_hair``), after alias resolution.
        display: Display form (``long hair``).
        category: Category name in ``format`` (``unknown`` when the tag has no data for any format).
        count: Usage count in ``format`` (0 when unknown).
        format: The format the category and count come from.
        deprecated: The tag is deprecated (flagged, or e621 "invalid").
        blacklisted: The user blacklisted the tag.
        alias_of_input: True when the input was an alias that was resolved to ``name``.
        user: The category/count come from the user overlay.
    """

    name: str
    display: str
    category: str
    count: int
    format: str
    deprecated: bool = False
    blacklisted: bool = False
    alias_of_input: bool = False
    user: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return plain JSON-serialisable data."""
        return dict(self.__dict__)


class TagDatabase:
    """Tag vocabulary (base SQLite file) plus the user's edits (overlay SQLite file).

    Thread-safety: all methods may be called from any thread; each call uses its own connection, and the
    search index is built once under a lock and then read without locking.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        base_path: str | os.PathLike[str] | None = None,
        overlay_path: str | os.PathLike[str] | None = None,
        default_format: str = "danbooru",
        change_check_interval: float = 0.5,
    ) -> None:
        """Open (creating if needed) the databases.

        Args:
            data_dir: Folder for both files; default ``$GENAI_TAG_DB_DIR`` or the user data dir.
            base_path: Path of the base database (default ``<data_dir>/tags_base.sqlite``).
            overlay_path: Path of the user overlay (default ``<data_dir>/tags_user.sqlite``).
            default_format: Format used when a method is not given one.
            change_check_interval: Seconds between checks for writes made by *other* processes (writes
                through this object are seen at once). 0 checks on every call.
        """
        self.data_dir = resolve_data_dir(data_dir)
        self.base_path = Path(base_path) if base_path else self.data_dir / BASE_DB_NAME
        self.overlay_path = Path(overlay_path) if overlay_path else self.data_dir / OVERLAY_DB_NAME
        self.default_format = default_format
        self.change_check_interval = change_check_interval
        self._local_writes = 0
        self._stamp_cache: tuple[tuple[int, int], tuple[int, int], float] | None = None
        try:
            self.engine: Engine = s.create_sqlite_engine(self.base_path, s.base_metadata)
            self.overlay = UserOverlay(s.create_sqlite_engine(self.overlay_path, s.overlay_metadata))
        except Exception as exc:  # sqlalchemy.exc.DatabaseError, OSError
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise TagDbError(f"cannot open tag database in {self.data_dir}: {reason}") from exc
        self._lock = threading.Lock()
        self._indexes: dict[str, tuple[tuple[int, int], SearchIndex]] = {}
        self._user_cache: dict[str, tuple[int, tuple[dict[str, str], dict[str, tuple[str, int]], set[str]]]] = {}

    # ----------------------------------------------------------------- import
    def import_file(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str | None = None,
        format_name: str | None = None,
        watch: import_watch.ImportWatch | None = None,
    ) -> ImportReport:
        """Import a vocabulary file; the kind is detected from the content when not given.

        ``watch`` reports progress and lets the caller cancel (see :class:`import_watch.ImportWatch`).

        Raises:
            ImportFormatError: The file is missing, unreadable or has no usable rows.
            ImportCancelled: ``watch.cancelled()`` returned True; nothing was written.
        """
        token = import_watch.watched(watch)
        try:
            return self._import_file(path, kind, format_name)
        finally:
            import_watch.unwatch(token)

    def _import_file(self, path: str | os.PathLike[str], kind: str | None, format_name: str | None) -> ImportReport:
        kind = kind or import_files.detect_kind(path)
        if kind not in import_files.KINDS:
            raise ImportFormatError(f"{path}: unknown import kind {kind!r}; use one of {', '.join(import_files.KINDS)}")
        try:
            if kind == "tagcomplete":
                fmt = format_name or import_files.format_from_filename(path)
                if fmt is None:
                    raise ImportFormatError(
                        f"{path}: cannot tell the tag format from the file name; pass format (danbooru or e621)"
                    )
                return importers.import_tagcomplete(self.engine, path, fmt)
            if kind == "wd":
                return importers.import_wd_tags(self.engine, path, format_name or "danbooru")
            if kind == "translations":
                return importers.import_translations(self.engine, path)
            if kind == "implications":
                return importers.import_implications(self.engine, path, format_name or self.default_format)
            return importers.import_deprecated(self.engine, path)
        finally:
            self._bump()

    def _bump(self) -> None:
        with self.engine.begin() as conn:
            s.bump_revision(conn)
        self._local_writes += 1

    def data_stamp(self) -> tuple[int, int]:
        """Return (base revision, overlay revision); caches compare it to know when to rebuild.

        Reading both revisions costs two small queries, so between writes made through this object the
        value is re-read at most every ``change_check_interval`` seconds.
        """
        now = time.monotonic()
        local = (self._local_writes, self.overlay.local_writes)
        cached = self._stamp_cache
        if cached is not None and cached[1] == local and now - cached[2] < self.change_check_interval:
            return cached[0]
        stamp = (self.revision, self.overlay.revision)
        self._stamp_cache = (stamp, local, now)
        return stamp

    @property
    def revision(self) -> int:
        """Data revision of the base database; changes on every write by any process."""
        return s.read_revision(self.engine)

    # ----------------------------------------------------------------- lookups
    def _batched(self, sql: str, keys: Sequence[str], *params: Any) -> list[tuple[Any, ...]]:
        """Run ``sql`` (with ``{marks}`` for an IN list) over ``keys`` in batches; plain driver SQL.

        Lookups run on every caption that gets cleaned; compiling Core expressions with expanding IN
        parameters cost more than the queries themselves.
        """
        out: list[tuple[Any, ...]] = []
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _BATCH):
                part = tuple(keys[i : i + _BATCH])
                query = sql.format(marks=",".join("?" * len(part)))
                out.extend(tuple(r) for r in conn.exec_driver_sql(query, (*params, *part)).fetchall())
        return out

    def _rows_for(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return key -> {"deprecated": bool, "formats": {format: (category, count)}} for existing tags."""
        out: dict[str, dict[str, Any]] = {}
        sql = (
            "SELECT t.name, t.deprecated, f.format, f.category, f.count FROM tags t "
            "LEFT JOIN tag_formats f ON f.tag_id = t.id WHERE t.name IN ({marks})"
        )
        for name, deprecated, fmt, category, count in self._batched(sql, keys):
            row = out.setdefault(name, {"deprecated": bool(deprecated), "formats": {}})
            if fmt is not None:
                row["formats"][fmt] = (category, count)
        return out

    def _base_aliases(self, keys: Sequence[str], format_name: str) -> dict[str, str]:
        sql = (
            "SELECT a.alias, t.name FROM aliases a JOIN tags t ON t.id = a.tag_id "
            "WHERE a.format = ? AND a.alias IN ({marks})"
        )
        return {str(alias): str(name) for alias, name in self._batched(sql, keys, format_name)}

    def _user_snapshot(self, fmt: str) -> tuple[dict[str, str], dict[str, tuple[str, int]], set[str]]:
        """Return (user aliases, user tags, blacklist) for a format, cached until the overlay changes."""
        stamp = self.data_stamp()[1]
        cached = self._user_cache.get(fmt)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        snapshot = (
            self.overlay.aliases(fmt),
            {name: (cat, cnt) for name, cat, cnt in self.overlay.tags(fmt)},
            self.overlay.blacklist(),
        )
        self._user_cache[fmt] = (stamp, snapshot)
        return snapshot

    def _resolve(self, keys: Iterable[str], fmt: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """Return (key -> canonical key, rows fetched so far) for lookup keys."""
        distinct = sorted(set(keys) - {""})
        user_aliases, user_tags, _ = self._user_snapshot(fmt)
        rows = self._rows_for(distinct)
        canonical = {k for k, r in rows.items() if fmt in r["formats"]} | (user_tags.keys() & set(distinct))
        base = self._base_aliases([k for k in distinct if k not in canonical and k not in user_aliases], fmt)
        resolved: dict[str, str] = {}
        for key in distinct:
            if key in user_aliases:
                resolved[key] = user_aliases[key]
            elif key in canonical:
                resolved[key] = key
            else:
                resolved[key] = base.get(key, key)
        return resolved, rows

    def resolve_aliases(self, names: Iterable[str], *, format_name: str | None = None) -> dict[str, str]:
        """Return input name -> canonical key (user aliases first, then base aliases of ``format_name``).

        A name that is itself a tag of the format is never rewritten, even if another tag lists it as alias.
        """
        keys = {n: tag_key(n) for n in names}
        resolved, _ = self._resolve(keys.values(), format_name or self.default_format)
        return {name: resolved.get(key, key) for name, key in keys.items()}

    def get_tag_info(
        self, names: Iterable[str], *, format_name: str | None = None, resolve_aliases: bool = True
    ) -> dict[str, TagInfo]:
        """Look up category, count and flags of many tags at once.

        Args:
            names: Tags in any spelling (``long hair``, ``Long_Hair``, aliases such as ``1girls``).
            format_name: Format whose category/count to report; tags missing from it fall back to the format
                where they are most used.
            resolve_aliases: Report the canonical tag for aliases.

        Returns:
            Input name -> :class:`TagInfo`. Names unknown to both databases are left out.
        """
        fmt = format_name or self.default_format
        input_keys = {n: tag_key(n) for n in names}
        if resolve_aliases:
            resolved, rows = self._resolve(input_keys.values(), fmt)
            mapping = {n: resolved.get(k, k) for n, k in input_keys.items()}
            # Alias targets were not part of the first read (the other keys were, found or not).
            missing = sorted({target for key, target in resolved.items() if target != key and target not in rows})
            rows.update(self._rows_for(missing))
        else:
            mapping = input_keys
            rows = self._rows_for(sorted(set(mapping.values()) - {""}))
        _, user, blocked = self._user_snapshot(fmt)
        out: dict[str, TagInfo] = {}
        for name, key in mapping.items():
            row = rows.get(key)
            if row is None and key not in user:
                continue
            formats: dict[str, tuple[str, int]] = row["formats"] if row else {}
            from_user = key in user
            if from_user:
                category, count, used = user[key][0], user[key][1], fmt
            elif fmt in formats:
                (category, count), used = formats[fmt], fmt
            elif formats:
                used = max(formats, key=lambda f: formats[f][1])
                category, count = formats[used]
            else:
                category, count, used = cats.UNKNOWN, 0, fmt
            out[name] = TagInfo(
                name=key,
                display=to_spaces(key),
                category=category,
                count=count,
                format=used,
                deprecated=bool(row and row["deprecated"]) or category in cats.DEPRECATED_CATEGORIES,
                blacklisted=key in blocked or input_keys[name] in blocked,
                alias_of_input=key != input_keys[name],
                user=from_user,
            )
        return out

    def aliases_of(self, names: Iterable[str], *, format_name: str | None = None) -> dict[str, list[str]]:
        """Return canonical key -> its aliases (base and user) for a format."""
        fmt = format_name or self.default_format
        keys = sorted({tag_key(n) for n in names} - {""})
        out: dict[str, list[str]] = {k: [] for k in keys}
        query = (
            select(s.tags.c.name, s.aliases.c.alias)
            .join(s.aliases, s.aliases.c.tag_id == s.tags.c.id)
            .where(s.aliases.c.format == fmt, s.tags.c.name.in_(bindparam("names", expanding=True)))
            .order_by(s.aliases.c.alias)
        )
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _BATCH):
                for name, alias in conn.execute(query, {"names": keys[i : i + _BATCH]}):
                    out[name].append(alias)
        for alias, canonical in self.overlay.aliases(fmt).items():
            if canonical in out:
                out[canonical].append(alias)
        return out

    def translations_of(self, names: Iterable[str]) -> dict[str, dict[str, list[str]]]:
        """Return key -> language -> translations (base and user)."""
        keys = sorted({tag_key(n) for n in names} - {""})
        out: dict[str, dict[str, list[str]]] = {k: {} for k in keys}
        query = (
            select(s.tags.c.name, s.translations.c.language, s.translations.c.text)
            .join(s.translations, s.translations.c.tag_id == s.tags.c.id)
            .where(s.tags.c.name.in_(bindparam("names", expanding=True)))
        )
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _BATCH):
                for name, lang, text in conn.execute(query, {"names": keys[i : i + _BATCH]}):
                    out[name].setdefault(lang, []).append(text)
        for name, lang, text in self.overlay.translations():
            if name in out and text not in out[name].setdefault(lang, []):
                out[name][lang].append(text)
        return out

    def implications_of(self, names: Iterable[str], *, format_name: str | None = None) -> dict[str, list[str]]:
        """Return key -> tags it implies in a format."""
        fmt = format_name or self.default_format
        keys = sorted({tag_key(n) for n in names} - {""})
        implied = s.tags.alias("implied")
        query = (
            select(s.tags.c.name, implied.c.name)
            .join(s.implications, s.implications.c.tag_id == s.tags.c.id)
            .join(implied, implied.c.id == s.implications.c.implied_tag_id)
            .where(s.implications.c.format == fmt, s.tags.c.name.in_(bindparam("names", expanding=True)))
        )
        out: dict[str, list[str]] = {k: [] for k in keys}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _BATCH):
                for name, target in conn.execute(query, {"names": keys[i : i + _BATCH]}):
                    out[name].append(target)
        return out

    def set_deprecated(self, names: Iterable[str], deprecated: bool = True) -> int:
        """Set or clear the deprecated flag of existing tags; returns how many tags changed."""
        keys = sorted({tag_key(n) for n in names} - {""})
        with self.engine.begin() as conn:
            result = conn.execute(update(s.tags).where(s.tags.c.name.in_(keys)).values(deprecated=deprecated))
            # Remember the hand-set flag as its own source (import_id 0), so undoing a deprecation list that
            # also named the tag leaves it deprecated; clearing by hand clears every source.
            ids = [row[0] for row in conn.execute(select(s.tags.c.id).where(s.tags.c.name.in_(keys)))]
            if deprecated and ids:
                conn.exec_driver_sql(
                    "INSERT OR IGNORE INTO deprecations (tag_id, import_id) VALUES (?, 0)", [(i,) for i in ids]
                )
            elif ids:
                conn.exec_driver_sql("DELETE FROM deprecations WHERE tag_id = ?", [(i,) for i in ids])
            s.bump_revision(conn)
        self._local_writes += 1
        return int(result.rowcount or 0)

    # ----------------------------------------------------------------- import history
    def imports(self) -> list[import_history.ImportRecord]:
        """Every recorded import, oldest first, with the rows each still owns."""
        return import_history.list_imports(self.engine)

    def remove_import(self, which: str | int) -> dict[str, Any]:
        """Undo one import (``"last"`` or its ID); see :func:`import_history.remove_import`. Overlay untouched."""
        import_id = import_history.resolve_import_id(self.engine, which)
        try:
            return import_history.remove_import(self.engine, import_id)
        finally:
            self._local_writes += 1

    # ----------------------------------------------------------------- search
    def _index(self, format_name: str) -> SearchIndex:
        stamp = self.data_stamp()
        cached = self._indexes.get(format_name)
        if cached and cached[0] == stamp:
            return cached[1]
        with self._lock:
            cached = self._indexes.get(format_name)
            if cached and cached[0] == stamp:
                return cached[1]
            index = self._cached_or_built_index(format_name, stamp)
            self._indexes[format_name] = (stamp, index)
            return index

    def _cached_or_built_index(self, fmt: str, stamp: tuple[int, int]) -> SearchIndex:
        """The index from the on-disk cache when it matches the data, else built (and cached for next time).

        The key is taken before reading the data: if another process writes meanwhile, the revision moves
        on and the next process rebuilds rather than trusting a cache of mixed data.
        """
        path = index_cache.cache_path(self.base_path, fmt)
        with self.engine.connect() as conn:
            last_import = conn.exec_driver_sql(
                "SELECT id, imported_at, rows, seconds FROM imports ORDER BY id DESC LIMIT 1"
            ).fetchone()
        key = index_cache.cache_key(self.base_path, self.overlay_path, fmt, stamp, tuple(last_import or ()))
        index = index_cache.load(path, key)
        if index is None:
            index = self._build_index(fmt)
            index_cache.save(path, key, index)
        return index

    def _build_index(self, fmt: str) -> SearchIndex:
        blocked = self.overlay.blacklist()
        dropped = tuple(cats.DEPRECATED_CATEGORIES)
        # Plain SQL through the driver: these reads return ~200k rows and SQLAlchemy's per-row result
        # processing would double the index build time.
        with self.engine.connect() as conn:
            entries: list[tuple[str, str, int]] = [
                (name, cat, cnt)
                for name, cat, cnt in conn.exec_driver_sql(
                    "SELECT t.name, f.category, f.count FROM tag_formats f JOIN tags t ON t.id = f.tag_id "
                    f"WHERE f.format = ? AND t.deprecated = 0 AND f.category NOT IN ({','.join('?' * len(dropped))})",
                    (fmt, *dropped),
                ).fetchall()
                if name not in blocked
            ]
            alias_rows: list[tuple[str, str]] = [
                (alias, name)
                for alias, name in conn.exec_driver_sql(
                    "SELECT a.alias, t.name FROM aliases a JOIN tags t ON t.id = a.tag_id WHERE a.format = ?", (fmt,)
                ).fetchall()
            ]
            tr_rows: list[tuple[str, str]] = [
                (text, name)
                for text, name in conn.exec_driver_sql(
                    "SELECT r.text, t.name FROM translations r JOIN tags t ON t.id = r.tag_id"
                )
            ]
        entries += [(n, c, cnt) for n, c, cnt in self.overlay.tags(fmt) if n not in blocked]
        alias_rows += list(self.overlay.aliases(fmt).items())
        tr_rows += [(text, name) for name, _, text in self.overlay.translations()]
        return SearchIndex(entries, alias_rows, tr_rows)

    def search(
        self, query: str, *, limit: int = 20, format_name: str | None = None, prefix_first: bool = False
    ) -> list[SearchResult]:
        """Autocomplete: see :meth:`SearchIndex.search`. The index is built on first use (about a second)."""
        return self._index(format_name or self.default_format).search(query, limit=limit, prefix_first=prefix_first)

    def warm_up(self, format_name: str | None = None) -> None:
        """Build the search index now (call from a worker thread at start-up)."""
        self._index(format_name or self.default_format)

    # ----------------------------------------------------------------- stats
    def formats(self) -> list[str]:
        """Return the formats that have data."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(s.tag_formats.c.format).distinct()).scalars())

    def stats(self) -> dict[str, Any]:
        """Return counts per table and format, and the database paths."""
        with self.engine.connect() as conn:
            per_format = {
                fmt: {"tags": int(n), "total_count": int(total or 0)}
                for fmt, n, total in conn.execute(
                    select(s.tag_formats.c.format, func.count(), func.sum(s.tag_formats.c.count)).group_by(
                        s.tag_formats.c.format
                    )
                )
            }
            for fmt, n in conn.execute(select(s.aliases.c.format, func.count()).group_by(s.aliases.c.format)):
                per_format.setdefault(fmt, {"tags": 0, "total_count": 0})["aliases"] = int(n)

            def count(table: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

            deprecated = int(
                conn.execute(select(func.count()).select_from(s.tags).where(s.tags.c.deprecated.is_(True))).scalar_one()
            )
            base = {
                "tags": count(s.tags),
                "aliases": count(s.aliases),
                "translations": count(s.translations),
                "implications": count(s.implications),
                "deprecated": deprecated,
                "imports": count(s.imports),
            }
        return {
            "base_path": str(self.base_path),
            "overlay_path": str(self.overlay_path),
            "base": base,
            "formats": per_format,
            "user": self.overlay.counts(),
        }

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()
        self.overlay.engine.dispose()

    def __enter__(self) -> TagDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Two openers of one new tag database folder at the same moment (the app's vocabulary dialog and its tag
completer do this on a first run; so can the CLI beside the app): both open it, nothing is lost."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from genai_tag_db_tools import TagDatabase
from genai_tag_db_tools import schema as s


def test_two_threads_opening_a_new_folder_together_both_get_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both openers pass SQLAlchemy's "does the table exist?" check before either creates it: the race the
    # CI run hit ("cannot open tag database ...: table tags already exists"), made certain by a barrier.
    barrier = threading.Barrier(2, timeout=2)  # a retry comes back alone: it waits this long, then goes on
    real = type(s.base_metadata).create_all

    def create_all_together(self: Any, bind: Any, *args: Any, **kwargs: Any) -> None:
        if self is s.base_metadata:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:  # the other opener is done already
                pass
        real(self, bind, *args, **kwargs)

    monkeypatch.setattr(type(s.base_metadata), "create_all", create_all_together)
    opened: list[TagDatabase] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            opened.append(TagDatabase(tmp_path / "tagdb"))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(opened) == 2
    for db in opened:
        assert db.search("cat") == [] and db.formats() == []  # an empty vocabulary that answers

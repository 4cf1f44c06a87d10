"""Sidecar text: every encoding a tag file turns up in reads as the user wrote it; names that are not UTF-8."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lorairo.storage.names import display_name, from_db_text, safe_name, to_db_text
from lorairo.storage.sidecars import (
    NOTE_CONTROL,
    NOTE_ENCODING,
    NOTE_TOO_LARGE,
    decode_text,
    read_sidecar_text,
    read_sidecars,
)


def _sidecar(tmp_path: Path, data: bytes) -> Path:
    image = tmp_path / "pic.png"
    image.write_bytes(b"not read here")
    (tmp_path / "pic.txt").write_bytes(data)
    return image


def test_latin1_tags_come_out_as_written_and_are_reported(tmp_path: Path) -> None:
    sidecar = read_sidecars(_sidecar(tmp_path, "café, rétine".encode("latin-1")))
    assert sidecar.tags == ("café", "rétine")  # was ('caf\ufffd', 'r\ufffdtine')
    assert [(n.kind, n.detail) for n in sidecar.notes] == [(NOTE_ENCODING, "decoded as cp1252")]


def test_windows_1252_and_longer_western_text(tmp_path: Path) -> None:
    text = "naïve, crème brûlée, Größe, smile"
    assert read_sidecars(_sidecar(tmp_path, text.encode("cp1252"))).tags == ("naïve", "crème brûlée", "Größe", "smile")


def test_boms_are_honoured_and_utf8_is_not_reported(tmp_path: Path) -> None:
    text = "long hair, 笑顔, café"
    for data, note in [
        (text.encode("utf-8"), None),
        (codecs.BOM_UTF8 + text.encode("utf-8"), None),
        (text.encode("utf-16"), "decoded as UTF-16"),  # with the platform's BOM
        (codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "decoded as UTF-16"),
        (codecs.BOM_UTF16_LE + text.encode("utf-16-le"), "decoded as UTF-16"),
    ]:
        sidecar = read_sidecars(_sidecar(tmp_path, data))
        assert sidecar.tags == ("long hair", "笑顔", "café"), data[:4]
        assert [n.detail for n in sidecar.notes] == ([note] if note else [])


def test_shift_jis_is_detected() -> None:
    text, encoding = decode_text("長い髪, 笑顔, 青い目".encode("shift_jis"))
    assert text == "長い髪, 笑顔, 青い目" and encoding is not None


def test_nul_and_control_characters_are_removed_with_a_note(tmp_path: Path) -> None:
    sidecar = read_sidecars(_sidecar(tmp_path, b"sm\x00ile, blue\x07 eyes\x1b, ok\r\nnext"))
    assert sidecar.tags == ("smile", "blue eyes", "ok", "next")
    assert [(n.kind, n.detail) for n in sidecar.notes] == [(NOTE_CONTROL, "3 NUL / control character(s) removed")]


def test_a_sidecar_over_the_limit_is_skipped_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"tag, " * 300)
    text, notes = read_sidecar_text(path, max_bytes=1000)
    assert text is None
    assert [(n.kind, n.detail) for n in notes] == [(NOTE_TOO_LARGE, "1,500 bytes > the 1,000-byte limit: not read")]
    assert read_sidecar_text(path, max_bytes=2000)[0] is not None


def test_sidecar_files_carry_their_stamp_for_the_reimport_check(tmp_path: Path) -> None:
    image = _sidecar(tmp_path, b"a, b")
    (tmp_path / "pic.caption").write_text("a caption", encoding="utf-8")
    sidecar = read_sidecars(image)
    assert [(Path(f.path).name, f.size) for f in sidecar.files] == [("pic.txt", 4), ("pic.caption", 9)]
    assert sidecar.caption == "a caption"


_NAME_BYTES = st.binary(min_size=1, max_size=40).filter(lambda b: b"\x00" not in b and b"/" not in b)


@given(_NAME_BYTES)
def test_any_file_name_round_trips_through_the_database_form(raw: bytes) -> None:
    name = os.fsdecode(raw)
    stored = to_db_text(name)
    stored.encode("utf-8")  # what SQLite's driver does: must not raise "surrogates not allowed"
    assert from_db_text(stored) == name
    assert os.fsencode(from_db_text(stored)) == raw
    display_name(name).encode("utf-8")
    safe = safe_name(name)
    safe.encode("utf-8")
    assert "/" not in safe and safe


def test_display_and_safe_forms_of_a_latin1_name() -> None:
    name = os.fsdecode("caméra.png".encode("latin-1"))
    assert display_name(name) == "cam\ufffdra.png"
    assert safe_name(name) == "cam_ra.png"
    assert safe_name(display_name(name)) == "cam_ra.png"  # what export gets from images.file_name
    assert display_name("café.png") == "café.png"
    assert display_name(to_db_text(name)) == "cam\ufffdra.png"  # the form raw SQL reads return


_TAG_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=60
)  # any text a person can type (no lone surrogates, no control characters)


@given(_TAG_TEXT, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom", "utf-32"]))
def test_unicode_encodings_decode_to_exactly_the_text_written(text: str, encoding: str) -> None:
    if encoding == "utf-16-le-bom":
        data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    decoded, used = decode_text(data)
    assert decoded == text
    assert (used is None) == encoding.startswith("utf-8")


_WESTERN_WORDS = st.lists(
    st.sampled_from(["café", "rétine", "naïve", "crème", "brûlée", "Größe", "smile", "long hair", "façade", "señor"]),
    min_size=1,
    max_size=6,
)


@given(_WESTERN_WORDS, st.sampled_from(["latin-1", "cp1252"]))
def test_western_legacy_tag_files_decode_to_the_words_written(words: list[str], encoding: str) -> None:
    text = ", ".join(words)
    decoded, _used = decode_text(text.encode(encoding))
    assert decoded == text


@given(_TAG_TEXT)
def test_parse_tags_matches_a_plain_reference(text: str) -> None:
    from genai_tag_db_tools.normalize import normalize_tag

    reference: list[str] = []
    for part in text.replace("\r", ",").replace("\n", ",").split(","):
        tag = normalize_tag(part)
        if tag and tag not in reference:
            reference.append(tag)
    from lorairo.storage.sidecars import parse_tags

    assert list(parse_tags(text)) == reference


def test_cyrillic_and_cjk_legacy_files_are_not_taken_for_western_text() -> None:
    """The Western reading is tried first; it must not swallow other scripts' code pages."""
    for text, encoding in [
        ("длинные волосы, улыбка", "cp1251"),
        ("кошка", "cp1251"),
        ("日本語のタグ, 笑顔", "euc_jp"),
        ("长发, 微笑", "gbk"),
    ]:
        decoded, used = decode_text(text.encode(encoding))
        assert decoded == text, (encoding, decoded)
        assert used != "cp1252"

"""Image embeddings end to end: real import, a generated tiny CLIP (vision + text towers, tokenizer.json) registered
the way a user registers a model, the embeddings store on disk, and the curation commands a user runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from image_annotator_lib.testing.tiny_models import TinyClip, make_aesthetic_model
from PIL import Image
from sqlalchemy import delete, select

from lorairo.database.schema import ImageRecord, NearDuplicateRecord
from lorairo.main import main
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditService
from lorairo.services.embeddings.service import EmbeddingError, EmbeddingService, rank_by_text
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import Project, ProjectService
from lorairo.storage.embeddings import EmbeddingStore
from tests.support.models import config_dir, register_tiny_clip

# Three planted colour clusters (two images each), a resized copy of red_a, and a white outlier.
COLOURS = {
    "red_a.png": (230, 20, 20),
    "red_b.png": (240, 60, 10),
    "green_a.png": (20, 200, 40),
    "green_b.png": (50, 170, 30),
    "blue_a.png": (20, 30, 220),
    "blue_b.png": (70, 40, 180),
    "white.png": (250, 250, 250),
}
CLUSTER = {"red_a.png": "red", "red_b.png": "red", "red_copy.png": "red", "green_a.png": "green"}
CLUSTER |= {"green_b.png": "green", "blue_a.png": "blue", "blue_b.png": "blue"}


def make_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> None:
    image = Image.new("RGB", size, colour)
    image.paste((0, 0, 0), (0, 0, size[0] // 12, size[1] // 8))  # a little structure beyond the colour
    image.save(path)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[ConfigurationService, Project, TinyClip]]:
    src = tmp_path / "src"
    src.mkdir()
    for name, colour in COLOURS.items():
        make_image(src / name, colour)
    with Image.open(src / "red_a.png") as red:
        red.resize((192, 128), Image.Resampling.BICUBIC).save(src / "red_copy.png")
    config = ConfigurationService()
    proj = ProjectService(config).create("demo")
    ImageProcessingService(config, proj).import_paths([src], jobs=1)
    tiny = register_tiny_clip(tmp_path / "tiny-clip")
    yield config, proj, tiny
    proj.close()


def ids_by_name(proj: Project) -> dict[str, int]:
    with proj.db.session() as s:
        return {name: int(i) for i, name in s.execute(select(ImageRecord.id, ImageRecord.file_name))}


def service(config: ConfigurationService, proj: Project) -> EmbeddingService:
    from lorairo.services.annotation_service import configure_annotator_library

    configure_annotator_library(config)
    return EmbeddingService(proj)


def embedded(config: ConfigurationService, proj: Project) -> EmbeddingService:
    svc = service(config, proj)
    summary = svc.embed("tiny-clip")
    assert summary.failed == 0
    return EmbeddingService(proj)  # a fresh service: reads what is on disk


def test_embeddings_are_stored_reloaded_and_incremental(
    project: tuple[ConfigurationService, Project, TinyClip], tmp_path: Path
) -> None:
    config, proj, tiny = project
    ids = ids_by_name(proj)
    svc = service(config, proj)
    first = svc.embed("tiny-clip")
    assert (first.embedded, first.already, first.failed, first.dim) == (8, 0, 0, 16)

    snap = EmbeddingStore.stores_of(proj.root, "tiny-clip")[0].snapshot()
    assert snap.vectors.dtype == np.float16 and isinstance(snap.vectors, np.memmap)
    row, _ = snap.rows_of(np.asarray([ids["green_a.png"]]))
    # The tiny tower's embedding is known in advance; a uniform image is close to it (the black corner aside).
    got = np.asarray(snap.vectors[row[0]], dtype=np.float32)
    assert float(got @ tiny.expected_image_embedding(COLOURS["green_a.png"])) > 0.99

    again = svc.embed("tiny-clip")
    assert (again.embedded, again.already) == (0, 8)

    new = tmp_path / "more"
    new.mkdir()
    make_image(new / "late_red.png", (220, 30, 30))
    ImageProcessingService(config, proj).import_paths([new], jobs=1)
    later = svc.embed("tiny-clip")
    assert (later.embedded, later.already) == (1, 8)


def test_find_similar_returns_the_resized_copy_first(project: tuple[ConfigurationService, Project, TinyClip]) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    ranked = embedded(config, proj).similar(ids["red_a.png"], top=3)
    assert ranked.results[0][0] == ids["red_copy.png"]
    assert ids["red_a.png"] not in [i for i, _ in ranked.results]
    assert ranked.results[1][0] == ids["red_b.png"]  # then the other red of its cluster


def test_text_search_ranks_the_planted_colour_first(project: tuple[ConfigurationService, Project, TinyClip]) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    svc = embedded(config, proj)
    top = svc.rank_by_text("a GREEN dress on a beach", top=2).results
    assert {i for i, _ in top} == {ids["green_a.png"], ids["green_b.png"]}
    # The filter parser's hook: only the candidates, ranked.
    candidates = [ids["white.png"], ids["blue_a.png"], ids["red_b.png"]]
    ranked = rank_by_text(proj, "red", candidates)
    assert ranked[0][0] == ids["red_b.png"] and len(ranked) == 3
    with pytest.raises(EmbeddingError, match="empty"):
        svc.rank_by_text("   ")


def test_resized_copy_is_a_semantic_near_duplicate_in_the_review(
    project: tuple[ConfigurationService, Project, TinyClip],
) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    svc = embedded(config, proj)
    _model, pairs, missing = svc.near_duplicate_pairs(threshold=0.999)
    assert {frozenset((a, b)) for a, b, _ in pairs} == {frozenset((ids["red_a.png"], ids["red_copy.png"]))}
    assert missing == []
    with proj.db.session(write=True) as s:  # the import may have linked them by pHash already: start clean
        s.execute(delete(NearDuplicateRecord))
    assert svc.link_near_duplicates(pairs) == 1
    assert svc.link_near_duplicates(pairs) == 0  # never twice
    groups = EditService(proj).near_duplicate_groups()
    assert [set(g.image_ids) for g in groups] == [{ids["red_a.png"], ids["red_copy.png"]}]
    with proj.db.session() as s:
        assert s.scalars(select(NearDuplicateRecord.kind)).all() == ["semantic"]


def test_planted_outlier_ranks_first(project: tuple[ConfigurationService, Project, TinyClip]) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    ranked = embedded(config, proj).outliers(top=3, k=2)
    assert ranked.results[0][0] == ids["white.png"]


def test_diverse_subset_takes_one_from_each_planted_cluster(
    project: tuple[ConfigurationService, Project, TinyClip],
) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    svc = embedded(config, proj)
    candidates = [ids[n] for n in CLUSTER]
    chosen, rest = svc.diverse(3, candidate_ids=candidates)
    names = {v: k for k, v in ids.items()}
    assert sorted(CLUSTER[names[i]] for i, _ in chosen.results) == ["blue", "green", "red"]
    assert len(rest) == len(candidates) - 3
    with pytest.raises(EmbeddingError, match="fewer than the 20"):
        svc.diverse(20, candidate_ids=candidates)


def test_diverse_over_every_image_reports_the_rest_and_the_unembedded(
    project: tuple[ConfigurationService, Project, TinyClip],
) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    done = sorted(ids[n] for n in ("red_a.png", "green_a.png", "blue_a.png", "white.png"))
    assert service(config, proj).embed("tiny-clip", done).embedded == 4
    chosen, rest = EmbeddingService(proj).diverse(2)  # no filter: every image of the project
    picked = [i for i, _ in chosen.results]
    assert rest == sorted(set(done) - set(picked))  # the other embedded images, ascending
    assert chosen.missing == sorted(set(ids.values()) - set(done))  # the images still without an embedding


def test_clusters_find_the_three_colours(project: tuple[ConfigurationService, Project, TinyClip]) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    names = {v: k for k, v in ids.items()}
    _model, groups, _ = embedded(config, proj).clusters(3, candidate_ids=[ids[n] for n in CLUSTER])
    assert sorted(size for size, _ in groups) == [2, 2, 3]
    for _size, reps in groups:
        assert len({CLUSTER[names[i]] for i in reps}) == 1


def test_truncated_store_is_detected_and_rebuilt_nothing_else_lost(
    project: tuple[ConfigurationService, Project, TinyClip], capsys: pytest.CaptureFixture[str]
) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    embedded(config, proj)
    vec_file = next((proj.root / "embeddings").glob("*.f16"))
    with vec_file.open("r+b") as fh:
        fh.truncate(vec_file.stat().st_size - 10)
    capsys.readouterr()
    assert main(["similar", "--project", "demo", "--id", str(ids["red_a.png"])]) == 1
    err = capsys.readouterr().err
    assert "damaged" in err and "lorairo embed --project demo --model tiny-clip" in err

    summary = service(config, proj).embed("tiny-clip")
    assert summary.rebuilt is not None and "truncated" in summary.rebuilt
    assert summary.embedded == 8
    assert len(ids_by_name(proj)) == 8  # the project itself is untouched
    assert EmbeddingService(proj).similar(ids["red_a.png"], top=1).results[0][0] == ids["red_copy.png"]


def test_interrupted_append_is_cut_back_to_the_last_complete_write(
    project: tuple[ConfigurationService, Project, TinyClip],
) -> None:
    config, proj, _ = project
    embedded(config, proj)
    vec_file = next((proj.root / "embeddings").glob("*.f16"))
    with vec_file.open("ab") as fh:
        fh.write(b"\x00" * 7)  # rows written, crash before the index was updated
    snap = EmbeddingStore.stores_of(proj.root, "tiny-clip")[0].snapshot()
    assert len(snap) == 8 and vec_file.stat().st_size == 8 * 16 * 2


def test_a_model_with_another_width_gets_a_new_store(
    project: tuple[ConfigurationService, Project, TinyClip], tmp_path: Path
) -> None:
    config, proj, _ = project
    embedded(config, proj)
    (config_dir() / "annotator_config.toml").unlink()
    register_tiny_clip(tmp_path / "wider", dim=24)
    summary = service(config, proj).embed("tiny-clip")
    assert (summary.embedded, summary.dim) == (8, 24)
    stores = EmbeddingStore.stores_of(proj.root, "tiny-clip")
    assert [s.dim for s in stores] == [24, 16]  # the newest is read; the 16-d one is never mixed in
    assert EmbeddingService(proj).snapshot("tiny-clip")[0].dim == 24


def test_deleted_images_are_left_out_and_dropped(project: tuple[ConfigurationService, Project, TinyClip]) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    embedded(config, proj)
    with proj.db.session(write=True) as s:
        s.execute(delete(ImageRecord).where(ImageRecord.id == ids["red_copy.png"]))
    ranked = EmbeddingService(proj).similar(ids["red_a.png"], top=10)
    assert ids["red_copy.png"] not in [i for i, _ in ranked.results]
    assert service(config, proj).embed("tiny-clip").removed == 1


def test_cancel_keeps_finished_chunks_and_a_rerun_does_the_rest(
    project: tuple[ConfigurationService, Project, TinyClip],
) -> None:
    config, proj, _ = project
    svc = service(config, proj)
    cancel = threading.Event()

    def progress(done: int, _total: int, _message: str) -> None:
        if done >= 2:  # after the first chunk of 2 is stored
            cancel.set()

    summary = svc.embed("tiny-clip", batch_size=2, progress=progress, cancel=cancel)
    assert summary.cancelled and summary.embedded == 2
    rest = svc.embed("tiny-clip")
    assert (rest.embedded, rest.already) == (6, 2)


def test_annotate_stores_embeddings_of_embedding_models_and_aesthetic_scorers(
    project: tuple[ConfigurationService, Project, TinyClip], tmp_path: Path
) -> None:
    config, proj, _ = project
    aesthetic = make_aesthetic_model(tmp_path / "aesthetic")
    with (config_dir() / "annotator_config.toml").open("a", encoding="utf-8") as fh:
        fh.write(
            '[models."tiny-aesthetic"]\nkind = "scorer"\nframework = "aesthetic-onnx"\nbatch_size = 4\n'
            f'[models."tiny-aesthetic".source]\nlocal_dir = "{aesthetic.folder.as_posix()}"\n'
            f'files = ["{aesthetic.tower_file}", "{aesthetic.head_file}"]\n'
            f'[models."tiny-aesthetic".options]\ntower_file = "{aesthetic.tower_file}"\n'
            f'head_file = "{aesthetic.head_file}"\nembedding_output = "image_embeds"\nscore_name = "aesthetic_v2"\n\n'
        )
    ids = list(ids_by_name(proj).values())
    summary = AnnotationService(config, proj).run(ids, ["tiny-clip", "tiny-aesthetic"])
    assert summary.annotated == {"tiny-clip": 8, "tiny-aesthetic": 8}
    stores = {m: EmbeddingStore.stores_of(proj.root, m)[0] for m in ("tiny-clip", "tiny-aesthetic")}
    assert {m: (s.dim, len(s.snapshot())) for m, s in stores.items()} == {
        "tiny-clip": (16, 8),
        "tiny-aesthetic": (768, 8),
    }
    # Embeddings from a scorer's single pass serve find-similar, and a diverse pick can favour the score.
    svc = EmbeddingService(proj)
    assert len(svc.similar(ids[0], top=3, model="tiny-aesthetic").results) == 3
    assert len(svc.diverse(3, model="tiny-aesthetic", weight_by="aesthetic_v2")[0].results) == 3
    # `embed` counts them as done.
    assert service(config, proj).embed("tiny-clip").already == 8


def test_cli_commands(
    project: tuple[ConfigurationService, Project, TinyClip], capsys: pytest.CaptureFixture[str]
) -> None:
    _config, proj, _ = project
    ids = ids_by_name(proj)
    assert main(["similar", "--project", "demo", "--id", str(ids["red_a.png"])]) == 1
    assert "lorairo embed --project demo" in capsys.readouterr().err

    assert main(["embed", "--project", "demo", "--model", "tiny-clip", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["embedded"] == 8

    assert main(["similar", "--project", "demo", "--id", str(ids["red_a.png"]), "--top", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["id"] == ids["red_copy.png"]

    assert main(["similar", "--project", "demo", "--text", "blue sky", "--top", "2", "--json"]) == 0
    top = {r["id"] for r in json.loads(capsys.readouterr().out)["results"]}
    assert top == {ids["blue_a.png"], ids["blue_b.png"]}

    assert main(["similar", "--project", "demo", "--text", " "]) == 1
    assert "empty" in capsys.readouterr().err

    assert main(["outliers", "--project", "demo", "--top", "1", "--k", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["id"] == ids["white.png"]

    assert main(["clusters", "--project", "demo", "--k", "4", "--json"]) == 0
    assert sum(c["size"] for c in json.loads(capsys.readouterr().out)["clusters"]) == 8

    assert main(["near-duplicates", "--project", "demo", "--threshold", "0.999", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["pairs"]) == 1

    assert main(["select", "--project", "demo", "--diverse", "30"]) == 1
    assert "fewer than the 30" in capsys.readouterr().err

    assert main(["select", "--project", "demo", "--diverse", "4", "--apply", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    with proj.db.session() as s:
        excluded = {int(i) for i in s.scalars(select(ImageRecord.id).where(ImageRecord.excluded.is_(True)))}
    assert excluded == set(out["others"]) and len(out["chosen"]) == 4
    assert ids["white.png"] in out["chosen"]  # the farthest image is always part of a diverse pick

    assert main(["select", "--project", "demo", "--undo"]) == 0
    with proj.db.session() as s:
        assert not s.scalars(select(ImageRecord.id).where(ImageRecord.excluded.is_(True))).all()
    capsys.readouterr()
    assert main(["select", "--project", "demo", "--undo"]) == 1
    assert "no diverse selection to undo" in capsys.readouterr().err


def _query(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    code = main(["query", "--project", "demo", "--json", *args])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else {}), captured.err


def test_similar_filter_term_through_the_cli(
    project: tuple[ConfigurationService, Project, TinyClip], capsys: pytest.CaptureFixture[str]
) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    # No embeddings yet: the error says how to compute them, and nothing is printed as a result.
    code, _, err = _query(["--filter", 'similar:"a red dress"'], capsys)
    assert code == 1 and "lorairo embed --project demo" in err

    embedded(config, proj)
    # Text search: the planted colour ranks first, scores best first, every embedded image kept (under 100).
    code, out, _ = _query(["--filter", 'similar:"a GREEN dress on a beach"'], capsys)
    assert code == 0 and out["count"] == 8
    got = [image["id"] for image in out["images"]]
    assert set(got[:2]) == {ids["green_a.png"], ids["green_b.png"]}
    similarities = [image["similarity"] for image in out["images"]]
    assert similarities == sorted(similarities, reverse=True)

    # Other terms narrow the candidates (SQL), then the ranking orders them; top:N keeps N.
    code, out, _ = _query(["--filter", 'name:blue, similar:"red"'], capsys)
    assert [image["id"] for image in out["images"]] != [] and all(
        image["file_name"].startswith("blue") for image in out["images"]
    )
    code, out, _ = _query(["--filter", 'similar:"blue sky" top:2'], capsys)
    assert {image["id"] for image in out["images"]} == {ids["blue_a.png"], ids["blue_b.png"]}

    # The image form (what the GUI's Find similar sets): the image itself first, then its resized copy.
    code, out, _ = _query(["--filter", f"similar:#{ids['red_a.png']} top:3"], capsys)
    assert [image["id"] for image in out["images"]][:2] == [ids["red_a.png"], ids["red_copy.png"]]
    # A threshold keeps only images at least that similar: the copy and the image itself.
    code, out, _ = _query(["--filter", f"similar:#{ids['red_a.png']} similar>=0.999"], capsys)
    assert {image["id"] for image in out["images"]} == {ids["red_a.png"], ids["red_copy.png"]}

    # --ids narrows as well; -q prints the ranked ids for other commands.
    assert main(["query", "-p", "demo", "-q", "--ids", f"{ids['white.png']},{ids['red_b.png']}", "--filter",
                 'similar:"red"']) == 0  # fmt: skip
    assert capsys.readouterr().out.split() == [str(ids["red_b.png"]), str(ids["white.png"])]

    # The same term in export --filter: the two blue images are exported.
    out = proj.root.parent.parent / "export-blue"
    assert main(["export", "-p", "demo", "--out", str(out), "--trigger", "sks", "--filter", 'similar:"blue" top:2',
                 "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["exported"] == 2
    assert sorted(path.stem for path in out.rglob("*.png")) == ["blue_a", "blue_b"]

    # Bad input: a clear error each, exit status 1.
    for text, message in (
        ('similar:"  "', "empty"),
        ("-similar:red", "cannot be negated"),
        ("similar:#99999", "no image with ID 99999"),
        ("similar:red similar_model:other-model", "no embeddings of other-model"),
        ("top:3", "belongs to a similar: term"),
    ):
        code, _, err = _query(["--filter", text], capsys)
        assert code == 1 and message in err, (text, err)


def test_similar_filter_leaves_out_and_reports_images_without_an_embedding(
    project: tuple[ConfigurationService, Project, TinyClip], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config, proj, _ = project
    ids = ids_by_name(proj)
    embedded(config, proj)
    late = tmp_path / "late"
    late.mkdir()
    make_image(late / "late_red.png", (225, 25, 25))
    ImageProcessingService(config, proj).import_paths([late], jobs=1)
    late_id = ids_by_name(proj)["late_red.png"]
    code, out, err = _query(["--filter", 'similar:"red"'], capsys)
    assert code == 0 and late_id not in [image["id"] for image in out["images"]]
    assert "1 of the selected images have no tiny-clip embedding" in err and "lorairo embed" in err
    # Find similar of an image without an embedding says so and how to compute it.
    code, _, err = _query(["--filter", f"similar:#{late_id}"], capsys)
    assert code == 1 and f"image {late_id} has no embedding of tiny-clip" in err
    # Only unembedded candidates: an error, not an empty result.
    code, _, err = _query(["--filter", 'name:late_, similar:"red"'], capsys)
    assert code == 1 and "none of the 1 images" in err
    assert ids["red_a.png"]  # the fixture's images are untouched


def test_duplicates_and_near_duplicates_say_which_is_hash_and_which_is_semantic(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command, says, points_to in (
        ("duplicates", "pHash", "near-duplicates"),
        ("near-duplicates", "SEMANTIC", "duplicates"),
    ):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert says in text and f"lorairo {points_to}" in text, text


def test_the_filter_ranker_follows_deletions_imports_and_new_embeddings(
    project: tuple[ConfigurationService, Project, TinyClip], tmp_path: Path
) -> None:
    """The GUI keeps one ranker per project (its index stays loaded while the user types): a deleted image must not
    come back, and an image imported and embedded later must be found, without reopening the project."""
    from lorairo.services.embeddings.search import FilterRanker
    from lorairo.services.filter_language import parse_filter
    from lorairo.services.image_query_service import ImageQueryService

    config, proj, _ = project
    ids = ids_by_name(proj)
    embedded(config, proj)
    query = ImageQueryService(proj.db, ranker=FilterRanker(proj, config))
    like_red = parse_filter(f"similar:#{ids['red_a.png']} top:3")
    assert query.query_ids(like_red)[:2] == [ids["red_a.png"], ids["red_copy.png"]]

    with proj.db.session(write=True) as s:
        s.execute(delete(ImageRecord).where(ImageRecord.id == ids["red_copy.png"]))
    assert ids["red_copy.png"] not in query.query_ids(like_red)

    late = tmp_path / "late"
    late.mkdir()
    make_image(late / "late_red.png", (231, 21, 20))
    ImageProcessingService(config, proj).import_paths([late], jobs=1)
    ranking = query.ranked(like_red)
    assert ranking.unembedded == 1 and ids_by_name(proj)["late_red.png"] not in ranking.ids
    service(config, proj).embed("tiny-clip")
    assert query.query_ids(like_red)[1] == ids_by_name(proj)["late_red.png"]

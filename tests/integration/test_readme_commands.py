"""Every command line in README.md's ```bash blocks runs, in README order, against a generated project.

The README cannot drift from the product: a renamed command, option or key makes this test fail. Each line
is run as a user would run it (a real process), with these documented substitutions:

* `uv run lorairo ARGS` -> `python -m lorairo ARGS` and `uv run tag-db ARGS` -> the `tag-db` entry point, with
  this interpreter (uv is not re-run inside the test);
* `uv run pytest` is not run: this test is part of it (listed in NOT_RUN with the reason);
* paths: `~/datasets/raw` -> a generated folder of small images with `.txt` sidecars (tags with mixed case and
  underscores), `~/train` (and any other `~/...`) -> an empty temporary folder,
  `../shared/data/tags/danbooru.csv` -> a copy of its first 3000 rows (or a generated tagcomplete list when
  ../shared is absent);
* configuration: a temporary LORAIRO_CONFIG_PATH / LORAIRO_DATABASE_DIR (tests/conftest.py), a temporary
  Hugging Face cache and tag database;
* network: commands that go online run against loopback servers instead (image_annotator_lib.testing):
  HF_ENDPOINT points at a fake Hub publishing a tiny WD-format `SmilingWolf/wd-vit-tagger-v3` and a tiny
  RMBG-format `briaai/RMBG-1.4` (`onnx/model.onnx`, the real input/output layout at 32x32), a tiny
  transformers.js-layout CLIP as `Xenova/clip-vit-base-patch32`, and
  `ai_providers.openai.base_url` at the fake OpenAI server (which accepts the test key for the Batch API);
* `uv run lorairo` (the desktop app) runs with no display and must say so in one line and exit 1 (EXPECTED);
* `project delete` asks for the name: the test types it, as the README says.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from image_annotator_lib.testing.fake_providers import FakeProviderServer, start_openai_server
from image_annotator_lib.testing.hub_server import FakeHub, serve_hub
from image_annotator_lib.testing.tiny_models import CLIP_FILES, make_clip_embedder, make_matte_model, make_wd_tagger

from lorairo.services.configuration_service import ConfigurationService
from tests.support import images as gen

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHARED_TAGS = (ROOT / ".." / "shared" / "data" / "tags" / "danbooru.csv").resolve()
TAG_DB_ENTRY = "from genai_tag_db_tools.cli import main; main()"
OPENAI_KEY = "sk-test-readme-0123456789"

RAW_IMAGES = 10  # the generated `~/datasets/raw` (see _raw_folder)
# Lines deliberately not run, with the reason (anything else in a bash block is run).
NOT_RUN = {"uv run pytest": "this test is part of the suite it would start"}
# Lines whose documented outcome is not exit 0: (exit code, text the one line of stderr must contain).
EXPECTED = {"uv run lorairo": (1, "no display found")}
# What a user types when a command asks (the README says `project delete` asks for the name).
STDIN = {"uv run lorairo project delete old-scratch": "old-scratch\n"}
# Commands whose output must not be empty (the README promises something there).
NON_EMPTY_JSON = {
    "uv run lorairo project list --json": lambda data: (
        [p["name"] for p in data] == ["demo"] and data[0]["image_count"] == RAW_IMAGES
    ),
}


@dataclass(frozen=True)
class Line:
    text: str  # the command as written, comment removed
    number: int  # line in README.md


def readme_commands() -> list[Line]:
    """Every non-empty line of every ```bash block, without its trailing `# comment`."""
    lines: list[Line] = []
    inside = False
    for number, raw in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            inside = stripped == "```bash" if not inside else False
            continue
        if inside and stripped and not stripped.startswith("#"):
            words = shlex.split(stripped, comments=True)
            lines.append(Line(shlex.join(words), number))
    return lines


def test_the_readme_has_the_commands_this_test_expects() -> None:
    commands = [line.text for line in readme_commands()]
    assert len(commands) >= 20
    for text in (*NOT_RUN, *EXPECTED, *STDIN, *NON_EMPTY_JSON):
        assert text in commands, f"README no longer has {text!r}: update this test's table"
    assert all(c.startswith("uv run ") for c in commands), "a README command that is not `uv run ...`"


# --- the generated world ------------------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    tiny = make_wd_tagger(tmp_path / "published-wd")
    with serve_hub() as server:
        server.add_repo(
            "SmilingWolf/wd-vit-tagger-v3",
            {name: (tiny.folder / name).read_bytes() for name in ("model.onnx", "selected_tags.csv")},
        )
        matte = make_matte_model(tmp_path / "published-rmbg", "rmbg", batch=1)
        server.add_repo("briaai/RMBG-1.4", {matte.model_file: (matte.folder / matte.model_file).read_bytes()})
        clip = make_clip_embedder(tmp_path / "published-clip")
        server.add_repo(
            "Xenova/clip-vit-base-patch32", {name: (clip.folder / name).read_bytes() for name in CLIP_FILES}
        )
        yield server


@pytest.fixture
def openai_server() -> Iterator[FakeProviderServer]:
    server = start_openai_server()
    yield server
    server.stop()


def _raw_folder(root: Path) -> Path:
    """A small dataset as a user has it: photos with sidecar tags, one in a sub-folder."""
    raw = root / "datasets" / "raw"
    (raw / "set2").mkdir(parents=True)
    gen.write_jpeg(raw / "portrait.jpg", 320, 240, seed=11)
    (raw / "portrait.txt").write_text("Long Hair, smile, 1girl\n", encoding="utf-8")
    gen.write_png(raw / "cat.png", 200, 200, seed=12, alpha=False)
    (raw / "cat.txt").write_text("cat, outdoors\n", encoding="utf-8")
    gen.write_webp(raw / "set2" / "dog.webp", 256, 192, seed=13)
    (raw / "set2" / "dog.txt").write_text("dog, long_hair\n", encoding="utf-8")
    gen.write_jpeg(raw / "set2" / "blurry.jpg", 240, 320, seed=14)
    (raw / "set2" / "blurry.txt").write_text("blurry, long hair\n", encoding="utf-8")
    # Untagged shots, so the curation examples (clusters --k 8, select --diverse 5) have enough images.
    for i in range(6):
        gen.write_jpeg(raw / "set3" / f"shot_{i}.jpg", 200 + 8 * i, 160, seed=21 + i)
    return raw


def _tag_list(root: Path) -> Path:
    target = root / "danbooru.csv"
    if SHARED_TAGS.is_file():
        with SHARED_TAGS.open(encoding="utf-8") as fh:
            target.write_text("".join(line for _, line in zip(range(3000), fh, strict=False)), encoding="utf-8")
    else:
        target.write_text('long_hair,0,4350743,"longhair"\nsmile,0,3000000,\n1girl,0,5000000,\n', encoding="utf-8")
    return target


@pytest.fixture
def world(tmp_path: Path, hub: FakeHub, openai_server: FakeProviderServer) -> dict[str, object]:
    home = tmp_path / "home"
    raw = _raw_folder(home)
    train = home / "train"
    config = ConfigurationService()  # the user's file (LORAIRO_CONFIG_PATH from conftest)
    config.update_setting("ai_providers", "openai.base_url", openai_server.openai_base_url)
    config.update_setting("directories", "batch_results_dir", str(tmp_path / "batch_results"))
    env = dict(os.environ)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "TYPER_USE_RICH", "HF_HUB_OFFLINE"):
        env.pop(var, None)
    env.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HOME=str(tmp_path / "hf"),
        HF_HUB_DISABLE_TELEMETRY="1",
        GENAI_TAG_DB_DIR=str(tmp_path / "tagdb"),
        OPENAI_API_KEY=OPENAI_KEY,
        COLUMNS="160",
    )
    paths = {
        "~/datasets/raw": str(raw),
        "~/train": str(train),
        "../shared/data/tags/danbooru.csv": str(_tag_list(tmp_path)),
        "~/": f"{home}/",  # any other path under the home folder: a fresh folder in the test's home
    }
    return {"env": env, "paths": paths, "train": train}


def _argv(text: str, paths: dict[str, str]) -> list[str]:
    def mapped(word: str) -> str:
        if word in paths:
            return paths[word]
        return paths["~/"] + word[2:] if word.startswith("~/") else word

    words = [mapped(word) for word in shlex.split(text)]
    assert words[:2] == ["uv", "run"], text
    program, args = words[2], words[3:]
    if program == "lorairo":
        return [sys.executable, "-m", "lorairo", *args]
    if program == "tag-db":
        return [sys.executable, "-c", TAG_DB_ENTRY, *args]
    raise AssertionError(f"README line runs {program!r}: add its mapping to this test")


def test_every_readme_command_runs(world: dict[str, object]) -> None:
    env = world["env"]
    paths = world["paths"]
    assert isinstance(env, dict) and isinstance(paths, dict)
    ran: list[str] = []
    for line in readme_commands():
        if line.text in NOT_RUN:
            continue
        result = subprocess.run(
            _argv(line.text, paths),
            cwd=ROOT,
            env=env,
            input=STDIN.get(line.text, ""),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        where = (
            f"README.md:{line.number}: {line.text}\nstdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-2000:]}"
        )
        code, fragment = EXPECTED.get(line.text, (0, ""))
        assert result.returncode == code, where
        if code:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and fragment in lines[0], where
        if "--json" in line.text.split():
            data = json.loads(result.stdout)
            check = NON_EMPTY_JSON.get(line.text)
            assert check is None or check(data), where
        ran.append(line.text)
    assert len(ran) == len(readme_commands()) - len(NOT_RUN)

    # What the commands promised, seen afterwards.
    def cli_json(*args: str) -> object:
        done = subprocess.run(
            [sys.executable, "-m", "lorairo", *args], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout)

    listing = cli_json("query", "--project", "demo", "--json")
    assert isinstance(listing, dict) and listing["count"] == RAW_IMAGES
    for image in listing["images"]:  # annotate ran both README models (the tagger came from the loopback Hub)
        assert "nsfw" in image["scores"], image
    assert any(image["tag_confidences"] for image in listing["images"])
    jobs = cli_json("batch", "status", "--project", "demo", "--no-refresh", "--json")
    assert isinstance(jobs, list) and [j["model_name"] for j in jobs] == ["gpt-4o-mini"]
    train = world["train"]
    assert isinstance(train, Path)
    captions = sorted(train.rglob("*.txt"))
    assert len(captions) == RAW_IMAGES and (train / "dataset_config.toml").is_file()
    assert all(c.read_text(encoding="utf-8").startswith("sks") for c in captions)


def test_a_readme_filter_example_finds_what_it_says(world: dict[str, object]) -> None:
    """The Ctrl+F example of the README (`long hair, cat|dog, -blurry`) on the generated project."""
    env = world["env"]
    paths = world["paths"]
    assert isinstance(env, dict) and isinstance(paths, dict)
    text = README.read_text(encoding="utf-8")
    example = re.search(r"\(`(long hair, cat\|dog, -blurry)`: AND, OR, NOT[;)]", text)
    assert example, "the README's filter example changed: update this test"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lorairo", *args], env=env, capture_output=True, text=True, check=False
        )

    assert run("project", "create", "demo").returncode == 0
    assert run("import", paths["~/datasets/raw"], "--project", "demo", "--json").returncode == 0
    result = run("query", "--project", "demo", "--filter", example.group(1), "--json")
    assert result.returncode == 0, result.stderr
    names = sorted(image["file_name"] for image in json.loads(result.stdout)["images"])
    assert names == ["dog.webp"]  # long hair (any spelling) AND (cat OR dog) AND NOT blurry

"""What is uploaded: the downscaled, re-encoded image and the filled prompt template."""

from __future__ import annotations

import base64
import io

import pytest
from image_annotator_lib.cloud.errors import CloudConfigError
from image_annotator_lib.cloud.imaging import encode_image
from image_annotator_lib.cloud.prompt import check_template, prompt_defaults, set_prompt_context
from PIL import Image

from .conftest import named_images


def test_encode_downscales_longest_side_and_flattens_alpha():
    rgba = Image.new("RGBA", (3000, 1500), (255, 0, 0, 0))
    encoded = encode_image(rgba, max_side=1024, fmt="jpeg")
    decoded = Image.open(io.BytesIO(encoded.data))
    assert decoded.format == "JPEG" and decoded.size == (1024, 512) == (encoded.width, encoded.height)
    assert decoded.getpixel((10, 10))[0] > 240  # transparent -> white background, not black


@pytest.mark.parametrize("mode", ["L", "LA", "P", "CMYK", "I;16", "1"])
def test_encode_handles_modes(mode):
    encoded = encode_image(Image.new(mode, (40, 30)), max_side=1024, fmt="webp")
    assert encoded.mime_type == "image/webp" and (encoded.width, encoded.height) == (40, 30)


def test_small_images_are_not_enlarged():
    encoded = encode_image(Image.new("RGB", (300, 200)), max_side=1024, fmt="png")
    assert (encoded.width, encoded.height) == (300, 200) and encoded.mime_type == "image/png"


def test_template_with_unknown_variable_fails_at_load():
    with pytest.raises(CloudConfigError, match=r"unknown variable.*character_name"):
        check_template("Tag {character_name}", "m")
    check_template("Literal {{braces}} and {trigger_word}", "m")


def test_prompt_and_image_as_uploaded(server, make_annotator):
    image = set_prompt_context(
        Image.new("RGB", (2048, 1024), (10, 200, 30)),
        existing_tags=["1girl", "outdoors"],
        file_name="scene_01.png",
    )
    annotator = make_annotator(
        "openai",
        image_max_side=512,
        prompt="File {file_name}; tags {existing_tags}; trigger {trigger_word}; max {max_tags}",
        max_tags=12,
    )
    with prompt_defaults(trigger_word="sks"):
        [result] = annotator.annotate_batch([image], ["p1"])
    assert result.ok
    body = server.requests[0].json()
    text_part, image_part = body["messages"][1]["content"]
    assert text_part["text"] == "File scene_01.png; tags 1girl, outdoors; trigger sks; max 12"
    assert body["response_format"]["json_schema"]["strict"] is True
    data_url = image_part["image_url"]["url"]
    assert data_url.startswith("data:image/jpeg;base64,")
    uploaded = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    assert uploaded.size == (512, 256)


def test_anthropic_and_google_request_shapes(server, make_annotator):
    make_annotator("anthropic").annotate_batch(named_images("a.png"), ["p1"])
    make_annotator("google").annotate_batch(named_images("b.png"), ["p2"])
    anthropic = next(r for r in server.requests if r.provider == "anthropic").json()
    assert anthropic["tool_choice"] == {"type": "tool", "name": "record_annotation"}
    assert anthropic["messages"][0]["content"][0]["source"]["media_type"] == "image/jpeg"
    google = next(r for r in server.requests if r.provider == "google")
    assert google.path.endswith("/models/google-vision-test:generateContent")
    config = google.json()["generationConfig"]
    assert config["responseMimeType"] == "application/json" and "responseSchema" in config

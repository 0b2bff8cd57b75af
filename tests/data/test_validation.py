"""The checks every reader shares: images, text encodings, numbers, enumerations, uniqueness."""

import numpy as np
import pytest
from PIL import Image

from mmdl_lib.data import validation
from mmdl_lib.data.validation import finite_numbers, in_range, one_of, open_image, read_text, unique
from mmdl_lib.errors import DataFormatError


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "frame.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path)
    return path


def test_a_whole_image_opens_and_its_size_is_checked(png):
    assert open_image(png, size=(60, 40)).size == (60, 40)
    with pytest.raises(DataFormatError, match=r"frame.png \[field 'file_name'\]: image is 60×40, the annotation says"):
        open_image(png, size=(64, 40), field="file_name")


def test_a_truncated_image_names_the_file(png):
    png.write_bytes(png.read_bytes()[:200])
    with pytest.raises(DataFormatError, match="frame.png: unreadable image"):
        open_image(png)


def test_a_file_that_is_no_image_and_a_missing_one(tmp_path):
    (tmp_path / "x.png").write_text("hello")
    with pytest.raises(DataFormatError, match="x.png: not an image"):
        open_image(tmp_path / "x.png")
    with pytest.raises(DataFormatError, match="y.png: image not found"):
        open_image(tmp_path / "y.png")


def test_a_decompression_bomb_is_refused_before_decoding(png, monkeypatch):
    monkeypatch.setattr(validation, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DataFormatError, match="frame.png: image of 60×40 pixels is larger than 1000"):
        open_image(png)


def test_text_numbers_choices_and_uniqueness(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\xff\xfe caf\xe9")
    with pytest.raises(DataFormatError, match="a.txt: not UTF-8 text"):
        read_text(tmp_path / "a.txt")
    assert finite_numbers([1, 2.5, np.float32(3)], "f", "box") == [1.0, 2.5, 3.0]
    for bad in ([1, float("nan")], [float("inf")], [True], ["3"], [None]):
        with pytest.raises(DataFormatError, match=r"f \[field 'box'\]: expected a"):
            finite_numbers(bad, "f", "box")
    assert in_range(0.5, 0, 1, "f", "t") == 0.5
    with pytest.raises(DataFormatError, match=r"\[field 't'\]: 1.7 is outside \[0, 1\]"):
        in_range(1.7, 0, 1, "f", "t")
    with pytest.raises(DataFormatError, match=r"'Boat' is not one of"):
        one_of("Boat", ("Car",), "f", "type")
    unique([1, 2, 3], "f", "id")
    with pytest.raises(DataFormatError, match=r"\[field 'command_token'\]: 'a' appears more than once"):
        unique(["a", "b", "a"], "f", "command_token")


def test_json_in_another_encoding_names_the_file(tmp_path):
    from mmdl_lib.io import read_json

    (tmp_path / "train_commands.json").write_bytes('{"commands": ["café"]}'.encode("utf-16"))
    with pytest.raises(DataFormatError, match="train_commands.json: not UTF-8 text"):
        read_json(tmp_path / "train_commands.json")
